"""Training: cross-validation and hyperparameter search, every fold and trial a run.

Imported on first use, so that ``import modelcycle`` does not import Optuna or scikit-learn's
model selection."""

from __future__ import annotations

_LAZY = {
    "modelcycle.training.cv": ("CVResult", "Summary", "cross_validate", "summarize"),
    "modelcycle.training.space": ("Choice", "Float", "Int"),
    "modelcycle.training.tune": ("TuneResult", "tune"),
    "modelcycle.training.storage": ("RunStorage",),
    "modelcycle.training.boosting": ("fit_boosting", "log_boosting_curve"),
}

__all__ = sorted(name for names in _LAZY.values() for name in names)


def __getattr__(name: str):
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'modelcycle.training' has no attribute {name!r}")
