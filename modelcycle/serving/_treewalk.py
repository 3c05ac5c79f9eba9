"""The compiled walk of modelcycle.serving.trees (imported only where numba is installed). At
module level, so that numba caches its machine code between processes.

The 16 rows of a block are written out one by one: numba keeps each row's node in a register
only as a scalar of its own; kept in an array, every step goes through memory and the walk takes
twice as long."""

import numba
import numpy as np

WIDTH = 16  # rows walked together


@numba.njit(inline="always")
def _right(x, node, missing):  # pragma: no cover - compiled
    """Whether x goes to the node's right child: above the threshold, or missing where the node
    sends missing values right."""
    return (x > node.threshold) | (missing & (x != x) & (node.missing_left == 0))


@numba.njit(parallel=True, nogil=True, boundscheck=False, cache=True)
def walk(X, nodes, value, roots, depths, out):  # pragma: no cover - compiled
    """Each block of WIDTH rows of X (no NaN) down every tree, summing their leaves'
    values into ``out``."""
    for b in numba.prange(X.shape[0] // WIDTH):
        _block(X, b * WIDTH, nodes, value, roots, depths, False, out)


@numba.njit(parallel=True, nogil=True, boundscheck=False, cache=True)
def walk_missing(X, nodes, value, roots, depths, out):  # pragma: no cover - compiled
    """As walk, for X with NaN: each goes where its node's missing_left says (half again as slow)."""
    for b in numba.prange(X.shape[0] // WIDTH):
        _block(X, b * WIDTH, nodes, value, roots, depths, True, out)


@numba.njit(inline="always")
def _block(X, s, nodes, value, roots, depths, missing, out):  # pragma: no cover - compiled
    """The rows s to s + WIDTH down every tree for the tree's full depth, side by side. A node's
    children are nodes[n].left and nodes[n].left + 1; a leaf is its own left child with an infinite
    threshold. Inlined into each walk with ``missing`` a constant, so that the walk for data
    without NaN carries no test for it."""
    n_trees = roots.shape[0]
    n_out = value.shape[1]
    total = np.zeros((WIDTH, n_out))
    for t in range(n_trees):
        n0 = n1 = n2 = n3 = n4 = n5 = n6 = n7 = n8 = n9 = n10 = n11 = n12 = n13 = n14 = n15 = roots[t]
        for _ in range(depths[t]):
            n0 = nodes[n0].left + _right(X[s + 0, nodes[n0].feature], nodes[n0], missing)
            n1 = nodes[n1].left + _right(X[s + 1, nodes[n1].feature], nodes[n1], missing)
            n2 = nodes[n2].left + _right(X[s + 2, nodes[n2].feature], nodes[n2], missing)
            n3 = nodes[n3].left + _right(X[s + 3, nodes[n3].feature], nodes[n3], missing)
            n4 = nodes[n4].left + _right(X[s + 4, nodes[n4].feature], nodes[n4], missing)
            n5 = nodes[n5].left + _right(X[s + 5, nodes[n5].feature], nodes[n5], missing)
            n6 = nodes[n6].left + _right(X[s + 6, nodes[n6].feature], nodes[n6], missing)
            n7 = nodes[n7].left + _right(X[s + 7, nodes[n7].feature], nodes[n7], missing)
            n8 = nodes[n8].left + _right(X[s + 8, nodes[n8].feature], nodes[n8], missing)
            n9 = nodes[n9].left + _right(X[s + 9, nodes[n9].feature], nodes[n9], missing)
            n10 = nodes[n10].left + _right(X[s + 10, nodes[n10].feature], nodes[n10], missing)
            n11 = nodes[n11].left + _right(X[s + 11, nodes[n11].feature], nodes[n11], missing)
            n12 = nodes[n12].left + _right(X[s + 12, nodes[n12].feature], nodes[n12], missing)
            n13 = nodes[n13].left + _right(X[s + 13, nodes[n13].feature], nodes[n13], missing)
            n14 = nodes[n14].left + _right(X[s + 14, nodes[n14].feature], nodes[n14], missing)
            n15 = nodes[n15].left + _right(X[s + 15, nodes[n15].feature], nodes[n15], missing)
        for j in range(n_out):
            total[0, j] += value[n0, j]
            total[1, j] += value[n1, j]
            total[2, j] += value[n2, j]
            total[3, j] += value[n3, j]
            total[4, j] += value[n4, j]
            total[5, j] += value[n5, j]
            total[6, j] += value[n6, j]
            total[7, j] += value[n7, j]
            total[8, j] += value[n8, j]
            total[9, j] += value[n9, j]
            total[10, j] += value[n10, j]
            total[11, j] += value[n11, j]
            total[12, j] += value[n12, j]
            total[13, j] += value[n13, j]
            total[14, j] += value[n14, j]
            total[15, j] += value[n15, j]
    out[s:s + WIDTH] = total
