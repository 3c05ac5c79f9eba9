"""Model kinds (flavors): how each is recognised, saved in its native form, loaded back, and
which libraries it needs. XGBoost and LightGBM models are saved in their own formats, so they
load without unpickling; scikit-learn and plain Python models are pickled."""

from __future__ import annotations

import importlib
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from modelcycle.exceptions import InvalidInput

# The distributions a flavor needs at load time, beyond numpy and pandas.
_PACKAGES = {
    "sklearn": ["scikit-learn", "cloudpickle"],
    "xgboost": ["xgboost", "scikit-learn"],
    "lightgbm": ["lightgbm", "scikit-learn"],
    "python": ["cloudpickle"],
}


def detect(model: Any) -> str:
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"A {type(model).__name__} has no predict method; log a fitted estimator, or wrap "
                           "your model in an object with predict(data).")
    module = type(model).__module__
    if module.startswith("xgboost.") and hasattr(model, "get_booster"):
        return "xgboost"
    if module.startswith("lightgbm.") and hasattr(model, "booster_"):
        return "lightgbm"
    try:
        from sklearn.base import BaseEstimator

        if isinstance(model, BaseEstimator):
            return "sklearn"
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        pass
    return "python"


def task_of(model: Any) -> tuple[str, list | None]:
    classes = getattr(model, "classes_", None)
    if classes is not None and callable(getattr(model, "predict_proba", None)):
        return "classification", [c.item() if isinstance(c, np.generic) else c for c in classes]
    from sklearn.base import BaseEstimator, is_regressor

    if isinstance(model, BaseEstimator) and is_regressor(model):
        return "regression", None
    return "other", None


def _installed_version(name: str) -> str | None:
    """The installed version of a distribution, or of its CPU-only build of the same module
    (xgboost-cpu installs xgboost)."""
    for distribution in (name, f"{name}-cpu"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def requirements(flavor: str, with_onnx: bool) -> dict[str, Any]:
    names = ["numpy", "pandas", *_PACKAGES[flavor]] + (["onnxruntime"] if with_onnx else [])
    packages = {name: version for name in names if (version := _installed_version(name)) is not None}
    return {"python": platform.python_version(), "packages": packages}


def mismatched_requirements(required: dict[str, str]) -> list[str]:
    """Libraries whose installed major.minor differs from the one the model was logged with."""
    problems = []
    for name, wanted in required.items():
        have = _installed_version(name)
        if have is None:
            problems.append(f"{name}=={wanted} is not installed")
        elif have.split(".")[:2] != str(wanted).split(".")[:2]:
            problems.append(f"{name} {have} is installed, the model was logged with {wanted}")
    return problems


def save_native(model: Any, flavor: str, directory: Path) -> dict[str, str]:
    """Write the model's native form into ``directory``; returns the manifest's native section."""
    if flavor == "xgboost":
        model.save_model(directory / "model.ubj")
        return {"file": "model.ubj", "format": "xgboost-ubj"}
    if flavor == "lightgbm":
        model.booster_.save_model(str(directory / "model.txt"))
        return {"file": "model.txt", "format": "lightgbm-text"}
    import cloudpickle

    with open(directory / "model.pkl", "wb") as f:
        cloudpickle.dump(model, f, protocol=5)
    return {"file": "model.pkl", "format": "pickle"}


def load_native(native: dict[str, str], source: Path | bytes, model_class: str, task: str,
                classes: list | None):
    """``source``: the checked bytes of a pickle, or the path of a file in another format."""
    fmt = native["format"]
    if fmt == "pickle":
        import cloudpickle  # noqa: F401  - models pickled by value need it present

        import pickle

        if not isinstance(source, bytes):
            raise InvalidInput("A pickled model loads from bytes checked against their digest, not from a path.")
        return pickle.loads(source)
    path = source
    if fmt == "xgboost-ubj":
        module, _, name = model_class.rpartition(".")
        if not module.startswith("xgboost"):
            raise InvalidInput(f"An XGBoost model's class must come from xgboost; got {model_class!r}.")
        model = getattr(importlib.import_module(module), name)()
        model.load_model(str(path))
        return model
    if fmt == "lightgbm-text":
        import lightgbm

        return _LightGBMNative(lightgbm.Booster(model_file=str(path)), task, classes)
    raise InvalidInput(f"Unknown native model format {fmt!r}; this modelcycle knows pickle, xgboost-ubj "
                       "and lightgbm-text.")


class _LightGBMNative:
    """A LightGBM booster answering like the scikit-learn estimator it was saved from."""

    def __init__(self, booster, task: str, classes: list | None):
        self.booster, self.task, self.classes_ = booster, task, np.asarray(classes) if classes else None

    def predict_proba(self, X):
        raw = np.asarray(self.booster.predict(X))
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, X):
        if self.task == "classification":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return np.asarray(self.booster.predict(X))
