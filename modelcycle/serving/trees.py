"""scikit-learn tree ensembles compiled with numba, for batch scoring.

A forest is walked row by row and tree by tree in scikit-learn (and in onnxruntime): each step
is a branch the processor mispredicts about half the time. Here sixteen rows go down each tree
together, without branches, so their steps overlap; a row block of every core does the same. A
node's feature, threshold and left child lie side by side in one 16-byte record.
The answers are scikit-learn's, bit for bit: the same float32 inputs against the same float64
thresholds, the same missing-value rule, per-tree probabilities summed in the same order.

Used when numba is installed (``pip install 'modelcycle[batch]'``) and the model is a random
forest, extra-trees or decision tree with one output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SUPPORTED = {
    "RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier",
    "RandomForestRegressor", "ExtraTreesRegressor", "DecisionTreeRegressor", "ExtraTreeRegressor",
}


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def supports(model_class: str) -> bool:
    """Whether a model of this class (``module.Class``) compiles, judged from its name alone."""
    module, _, name = model_class.rpartition(".")
    return module.startswith("sklearn.") and name in SUPPORTED


def _breadth_first(children_left: np.ndarray, children_right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nodes of one tree in breadth-first order (``order[new] = old``), children of a node
    numbered side by side, and each node's left child in the new numbering (a leaf: itself)."""
    n = len(children_left)
    order = np.empty(n, dtype=np.int64)
    left = np.empty(n, dtype=np.int64)
    order[0], filled = 0, 1
    for new in range(n):
        old = order[new]
        if children_left[old] < 0:
            left[new] = new
        else:
            left[new] = filled
            order[filled], order[filled + 1] = children_left[old], children_right[old]
            filled += 2
    return order, left


class CompiledForest:
    """A fitted scikit-learn tree model as flat arrays, each tree's nodes numbered breadth first
    so that a node's children are side by side (the walk adds the comparison to the left
    child's index instead of reading the child); leaves are their own left child, so every row
    walks each tree for that tree's full depth."""

    def __init__(self, estimator: Any):
        trees = list(getattr(estimator, "estimators_", None) or [estimator])
        self.classifier = hasattr(estimator, "classes_")
        self.classes = np.asarray(estimator.classes_) if self.classifier else None
        self.n_features = int(estimator.n_features_in_)
        self.feature_names = [str(c) for c in getattr(estimator, "feature_names_in_", [])] or None
        features, thresholds, missing, lefts, values, roots, depths = [], [], [], [], [], [], []
        offset = 0
        for tree in trees:
            t = tree.tree_
            order, left = _breadth_first(t.children_left, t.children_right)
            leaf = t.children_left[order] < 0
            features.append(np.where(leaf, 0, t.feature[order]))
            thresholds.append(np.where(leaf, np.inf, t.threshold[order]))  # x > inf: never, so a leaf stays
            go_left = getattr(t, "missing_go_to_left", None)
            # a leaf sends NaN "left" too: to itself
            missing.append(leaf if go_left is None else go_left[order].astype(bool) | leaf)
            lefts.append(left + offset)
            value = t.value[order, 0, :].astype(np.float64)
            if self.classifier:  # each tree votes with its leaf's class shares, as predict_proba does
                sums = value.sum(axis=1, keepdims=True)
                value = value / np.where(sums == 0, 1.0, sums)
            values.append(value)
            roots.append(offset)
            depths.append(t.max_depth)
            offset += len(order)
        # float32 thresholds rounded down: for a float32 x, x <= t32 exactly when x <= t (float64)
        thresholds64 = np.concatenate(thresholds).astype(np.float64)
        with np.errstate(over="ignore"):
            t32 = thresholds64.astype(np.float32)
        above = t32.astype(np.float64) > thresholds64
        t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
        missing_left = np.concatenate(missing)
        self.sends_missing_left = bool((missing_left & np.isfinite(t32)).any())  # at any split
        # int32 fields: the walk runs a third faster than with int64
        self.nodes = np.empty(len(t32), dtype=[("feature", np.int32), ("threshold", np.float32),
                                               ("left", np.int32), ("missing_left", np.int32)])
        self.nodes["feature"] = np.concatenate(features)
        self.nodes["threshold"] = t32
        self.nodes["left"] = np.concatenate(lefts)
        self.nodes["missing_left"] = missing_left
        self.value = np.ascontiguousarray(np.concatenate(values))
        self.roots = np.asarray(roots, dtype=np.int32)
        self.depths = np.asarray(depths, dtype=np.int64)
        self.n_trees = len(trees)

    @classmethod
    def of(cls, estimator: Any) -> CompiledForest | None:
        """The compiled form of ``estimator``, or None when it is not a one-output tree model."""
        if type(estimator).__name__ not in SUPPORTED or not type(estimator).__module__.startswith("sklearn."):
            return None
        trees = getattr(estimator, "estimators_", None) or [estimator]
        if any(getattr(t, "n_outputs_", 1) != 1 for t in trees) or getattr(estimator, "n_outputs_", 1) != 1:
            return None
        return cls(estimator)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The sum over trees of each row's leaf values: (n, classes) or (n, 1)."""
        # scikit-learn predicts on float32. Column-major: as tables hold their columns (the walk
        # itself is a few percent faster on row-major rows, which cost more to lay out)
        X = np.asfortranarray(X, dtype=np.float32)
        n = X.shape[0]
        out = np.empty((n, self.value.shape[1]), dtype=np.float64)
        missing = bool(np.isnan(X).any())
        if missing and not self.sends_missing_left:  # NaN goes right at every split: as +inf does
            X, missing = np.asfortranarray(np.where(np.isnan(X), np.float32(np.inf), X)), False
        from modelcycle.serving._treewalk import WIDTH, walk, walk_missing

        walk = walk_missing if missing else walk  # looking for missing values costs half again as much
        arrays = (self.nodes, self.value, self.roots, self.depths)
        full = n - n % WIDTH
        if full:
            walk(X, *arrays, out)
        if full < n:  # the last rows, padded to a block
            tail = np.zeros((WIDTH, X.shape[1]), dtype=np.float32, order="F")
            tail[:n - full] = X[full:]
            tail_out = np.empty((WIDTH, out.shape[1]))
            walk(tail, *arrays, tail_out)
            out[full:] = tail_out[:n - full]
        return out

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs as ServedModel.predict gives them: "predict", and "predict_proba" for classifiers."""
        total = self.raw(X)
        if not self.classifier:
            return {"predict": total[:, 0] / self.n_trees}
        proba = total / self.n_trees
        return {"predict": self.classes.take(np.argmax(proba, axis=1)), "predict_proba": proba}
