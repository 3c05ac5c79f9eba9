"""Checks of what cross_validate and tune are given, before anything is logged: an error here
names what to fix and leaves no run behind."""

from __future__ import annotations

import hashlib
import inspect
import numbers

import numpy as np

from modelcycle.exceptions import InvalidInput


def check_estimator(estimator: object) -> None:
    if isinstance(estimator, type):
        raise InvalidInput(f"{estimator.__name__} is a class; pass an instance, e.g. {estimator.__name__}().")
    if not callable(getattr(estimator, "fit", None)):
        raise InvalidInput(
            f"{type(estimator).__name__} has no fit method, so it cannot be trained. Pass a scikit-learn "
            "estimator, or the scikit-learn interface of XGBoost or LightGBM (XGBClassifier, LGBMRegressor, ...).")
    if not callable(getattr(estimator, "get_params", None)):
        raise InvalidInput(
            f"{type(estimator).__name__} has fit but no get_params, so it cannot be cloned for each fold or trial. "
            "Make it a scikit-learn estimator (subclass sklearn.base.BaseEstimator).")


def split_target(X, y, estimator: object):
    """``X`` and ``y`` checked; ``y`` may be the name of a column of a DataFrame ``X``."""
    import pandas as pd

    if X is None:
        raise InvalidInput("X is missing: pass the features (a DataFrame or an array).")
    if isinstance(y, str):
        if not isinstance(X, pd.DataFrame):
            raise InvalidInput(f"y is the column name {y!r}, but X is not a DataFrame; pass y as an array.")
        if y not in X.columns:
            raise InvalidInput(f"X has no column {y!r} to take as the target; its columns are "
                               f"{', '.join(map(str, X.columns[:20]))}{', ...' if len(X.columns) > 20 else ''}.")
        X, y = X.drop(columns=[y]), X[y]
    if y is None:
        raise InvalidInput("The target y is missing: pass the labels (an array or Series), or the name of a "
                           "column of X.")
    n = _length(X, "X")
    m = _length(y, "y")
    if n != m:
        raise InvalidInput(f"X has {n} rows but y has {m} values; they must be the same length.")
    if n < 2:
        raise InvalidInput(f"X has {n} row(s); cross-validation needs at least 2.")
    values = pd.Series(np.asarray(y).ravel() if not isinstance(y, pd.Series) else y.to_numpy())
    missing = int(values.isna().sum())
    if missing:
        raise InvalidInput(f"The target has {missing} missing value(s) of {n}; drop those rows or fill them in.")
    distinct = values.nunique()
    if distinct < 2:
        raise InvalidInput(f"The target is constant ({values.iloc[0]!r} in all {n} rows): there is nothing to "
                           "learn. Check that the right column was given as y.")
    return X, y


def check_groups(groups, n: int):
    if groups is None:
        return None
    if _length(groups, "groups") != n:
        raise InvalidInput(f"groups has {_length(groups, 'groups')} values but X has {n} rows; give one group "
                           "per row.")
    return groups


def _length(values, what: str) -> int:
    try:
        return len(values)
    except TypeError:
        raise InvalidInput(f"{what} must be an array, a list, a Series or a DataFrame; got "
                           f"{type(values).__name__}.") from None


def is_classifier(estimator: object) -> bool:
    from sklearn.base import is_classifier as sk_is_classifier

    try:
        return bool(sk_is_classifier(estimator))
    except Exception:  # an estimator without sklearn's tags
        return getattr(estimator, "_estimator_type", None) == "classifier"


def indices_digest(indices) -> str:
    """sha256 of the row positions as little-endian int64: the same rows, the same digest."""
    return hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes()).hexdigest()


def changed_params(estimator: object) -> dict[str, str]:
    """The estimator's parameters that differ from their defaults (what the user chose), as text;
    a nested estimator by its class name."""
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return {}
    try:
        defaults = {name: p.default for name, p in inspect.signature(type(estimator).__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    except (TypeError, ValueError):
        defaults = {}
    chosen = {}
    for name, value in params.items():
        if name in defaults and _same(defaults[name], value):
            continue
        if hasattr(value, "get_params"):
            value = type(value).__name__
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, tuple) for v in value):
            value = [(v[0], type(v[1]).__name__) if len(v) > 1 else v for v in value]  # pipeline steps
        chosen[name] = str(value)
    return chosen


def _same(default, value) -> bool:
    if default is value:
        return True
    if isinstance(default, numbers.Number) and isinstance(value, numbers.Number) and not isinstance(value, bool):
        return default == value and type(default) is type(value)
    try:
        return bool(default == value) and type(default) is type(value)
    except Exception:
        return False
