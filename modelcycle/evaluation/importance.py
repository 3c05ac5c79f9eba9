"""Which features the model leans on: scikit-learn's permutation importance on a sample of the
rows, SHAP values for tree models when ``shap`` is installed (``pip install
'modelcycle[explain]'``), and a learning curve. Each refits or re-predicts many times, so each
is asked for by name and works on a bounded sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from modelcycle.exceptions import InvalidInput

TREE_CLASSES = {
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "DecisionTreeClassifier", "DecisionTreeRegressor", "GradientBoostingClassifier", "GradientBoostingRegressor",
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor", "XGBClassifier", "XGBRegressor",
    "LGBMClassifier", "LGBMRegressor", "IsolationForest",
}


@dataclass(frozen=True)
class Importance:
    method: str  # "permutation" or "shap"
    scoring: str  # what a permutation lowers (roc_auc, r2, accuracy), or "mean |SHAP value|"
    rows: int  # evaluation rows it was computed on
    features: list[dict[str, Any]] = field(default_factory=list)  # feature, importance, std; largest first

    def to_dict(self) -> dict:
        return {"method": self.method, "scoring": self.scoring, "rows": self.rows, "features": self.features}


def sample(n: int, size: int, seed: int = 0) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def permutation(model: Any, X: pd.DataFrame, y: np.ndarray, scorer: Callable, scoring: str,
                repeats: int = 5, seed: int = 0) -> Importance:
    """``sklearn.inspection.permutation_importance`` with ``scorer(model, X, y)``: the drop
    in the score when one column's values are shuffled."""
    from sklearn.inspection import permutation_importance

    if not callable(getattr(model, "fit", None)):
        model = _Predicting(model)
    result = permutation_importance(model, X, y, scoring=scorer, n_repeats=repeats, random_state=seed)
    rows = [{"feature": str(name), "importance": float(mean), "std": float(std)}
            for name, mean, std in zip(X.columns, result.importances_mean, result.importances_std)]
    rows.sort(key=lambda r: -r["importance"])
    return Importance("permutation", scoring, len(X), rows)


class _Predicting:
    """A loaded model (no fit) as permutation_importance takes it: it checks for fit, then only
    predicts, through the scorer."""

    def __init__(self, model: Any):
        self.model = model

    def fit(self, *args, **kwargs):  # pragma: no cover - permutation importance never refits
        raise NotImplementedError("a loaded model is not refit")

    def predict(self, X):
        return self.model.predict(X)

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def shap_values(model: Any, X: pd.DataFrame, pos_index: int | None) -> Importance | str:
    """Mean absolute SHAP value per feature from shap's TreeExplainer, or why there are none."""
    try:
        import shap
    except ImportError:
        return "shap is not installed (pip install 'modelcycle[explain]')"
    if getattr(model, "steps", None) is not None or type(model).__name__ not in TREE_CLASSES:
        return f"SHAP values are computed for tree models; this is a {type(model).__name__}"
    try:
        values = shap.TreeExplainer(model).shap_values(X)
    except Exception as exc:  # shap refuses some models and versions; the rest of the evaluation stands
        return f"shap could not explain this {type(model).__name__}: {type(exc).__name__}: {exc}"
    if isinstance(values, list):  # older shap: one array per class
        values = values[pos_index if pos_index is not None else 0]
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes)
        values = values[:, :, pos_index if pos_index is not None else 0]
    mean = np.abs(values).mean(axis=0)
    rows = [{"feature": str(name), "importance": float(v)} for name, v in zip(X.columns, mean)]
    rows.sort(key=lambda r: -r["importance"])
    return Importance("shap", "mean |SHAP value|", len(X), rows)


def learning_curve(model: Any, X: pd.DataFrame, y: np.ndarray, scoring: str, classifier: bool,
                   folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Cross-validated score on growing shares of the rows (``sklearn.model_selection.learning_curve``)."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.model_selection import learning_curve as sk_learning_curve

    try:
        estimator = clone(model)
    except Exception as exc:
        raise InvalidInput(f"A learning curve refits the model, so it needs a scikit-learn estimator; "
                           f"{type(model).__name__} cannot be cloned ({exc}). Pass learning_curve=False.") from None
    cv = (StratifiedKFold if classifier else KFold)(folds, shuffle=True, random_state=seed)
    sizes, train, test = sk_learning_curve(estimator, X, y, train_sizes=np.linspace(0.2, 1.0, 5), cv=cv,
                                           scoring=scoring)
    return {"scoring": scoring, "train_sizes": sizes.tolist(), "train_score": train.mean(axis=1).tolist(),
            "test_score": test.mean(axis=1).tolist(), "test_std": test.std(axis=1).tolist()}
