"""Evaluation: metrics, slices and fairness gaps, explanations, champion/challenger comparison
and the HTML report. ``mc.evaluate`` is the entry point."""

# Imported on first use, like the other capability packages.
_LAZY = {
    "modelcycle.evaluation.api": ("EvaluationResult", "evaluate"),
    "modelcycle.evaluation.compare": ("Comparison", "PairedTest", "delong", "paired_bootstrap"),
    "modelcycle.evaluation.slices": ("FairnessReport", "SliceSpec", "SliceTable"),
    "modelcycle.evaluation.importance": ("Importance",),
}


def __getattr__(name: str):
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'modelcycle.evaluation' has no attribute {name!r}")


__all__ = sorted(name for names in _LAZY.values() for name in names)
