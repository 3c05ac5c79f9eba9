"""The compiled walk of modelcycle.serving.trees (imported only where numba is installed). At
module level, so that numba caches its machine code between processes."""

import numba
import numpy as np

WIDTH = 8  # rows walked together: as many as the registers hold (modelcycle.serving.trees.WIDTH)


@numba.njit(parallel=True, nogil=True, boundscheck=False, cache=True)
def walk(X, feature, threshold, missing_left, left, value, roots, depths, missing, out):  # pragma: no cover - compiled
    """Each block of WIDTH rows down every tree for the tree's full depth, the rows side by side
    (a node's children are left[node] and left[node] + 1; a leaf is its own left child). With
    ``missing``, a NaN goes where its node's missing_left says; without, X has no NaN."""
    n_trees = roots.shape[0]
    n_out = value.shape[1]
    for b in numba.prange(X.shape[0] // WIDTH):
        start = b * WIDTH
        total = np.zeros((WIDTH, n_out))
        nodes = np.empty(WIDTH, np.int32)
        for t in range(n_trees):
            for k in range(WIDTH):
                nodes[k] = roots[t]
            for _ in range(depths[t]):
                for k in range(WIDTH):
                    node = nodes[k]
                    x = X[start + k, feature[node]]
                    if missing:
                        go_left = (x <= threshold[node]) | ((x != x) & missing_left[node])
                        nodes[k] = left[node] + 1 - go_left
                    else:
                        nodes[k] = left[node] + (x > threshold[node])
            for k in range(WIDTH):
                for j in range(n_out):
                    total[k, j] += value[nodes[k], j]
        for k in range(WIDTH):
            for j in range(n_out):
                out[start + k, j] = total[k, j]
