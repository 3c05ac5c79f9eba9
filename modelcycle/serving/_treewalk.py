"""The compiled walks of modelcycle.serving.trees (imported only where numba is installed). At
module level, so that numba caches their machine code between processes."""

import numba
import numpy as np

WIDTH = 8  # rows walked together: as many as the registers hold (modelcycle.serving.trees.WIDTH)


@numba.njit(parallel=True, nogil=True, boundscheck=False, cache=True)
def walk(X, feature, threshold, missing_left, children, value, roots, depths, out):  # pragma: no cover - compiled
    n_trees = roots.shape[0]
    n_out = value.shape[1]
    for b in numba.prange(X.shape[0] // WIDTH):
        start = b * WIDTH
        total = np.zeros((WIDTH, n_out))
        nodes = np.empty(WIDTH, np.int64)
        for t in range(n_trees):
            for k in range(WIDTH):
                nodes[k] = roots[t]
            for _ in range(depths[t]):
                for k in range(WIDTH):
                    nd = nodes[k]
                    nodes[k] = children[2 * nd + (X[start + k, feature[nd]] > threshold[nd])]
            for k in range(WIDTH):
                for j in range(n_out):
                    total[k, j] += value[nodes[k], j]
        for k in range(WIDTH):
            for j in range(n_out):
                out[start + k, j] = total[k, j]

@numba.njit(parallel=True, nogil=True, boundscheck=False, cache=True)
def walk_missing(X, feature, threshold, missing_left, children, value, roots, depths, out):  # pragma: no cover - compiled
    n_trees = roots.shape[0]
    n_out = value.shape[1]
    for b in numba.prange(X.shape[0] // WIDTH):
        start = b * WIDTH
        total = np.zeros((WIDTH, n_out))
        nodes = np.empty(WIDTH, np.int64)
        for t in range(n_trees):
            for k in range(WIDTH):
                nodes[k] = roots[t]
            for _ in range(depths[t]):
                for k in range(WIDTH):
                    node = nodes[k]
                    x = X[start + k, feature[node]]
                    left = (x <= threshold[node]) | ((x != x) & missing_left[node])
                    nodes[k] = children[2 * node + 1 - left]
            for k in range(WIDTH):
                for j in range(n_out):
                    total[k, j] += value[nodes[k], j]
        for k in range(WIDTH):
            for j in range(n_out):
                out[start + k, j] = total[k, j]
