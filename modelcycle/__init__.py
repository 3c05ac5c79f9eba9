"""modelcycle: carry a machine-learning model through its whole life."""

from modelcycle.exceptions import (
    AlreadyExists, Conflict, InvalidInput, ModelcycleError, NotFound, StoreUnavailable,
)
from modelcycle.store.entities import (
    ArtifactInfo, DatasetVersion, Experiment, Metric, ModelVersion, RegisteredModel, Run, RunStatus, Stage,
    ViewType,
)
from modelcycle.tracking.client import Client
from modelcycle.tracking.fluent import (
    ActiveRun, active_run, end_run, get_metric_history, log_artifact, log_artifacts, log_dict,
    log_figure, log_metric, log_metrics, log_param, log_params, log_text, search_runs,
    set_experiment, set_tag, set_tags, set_tracking_uri, start_run,
)

__version__ = "0.1.0"

# Imported on first use: the dataset API pulls in the statistics code, the model and registry
# APIs the converters.
_LAZY = {
    "modelcycle.data.datasets": ("get_dataset", "load_dataset", "log_dataset", "validate"),
    "modelcycle.models": ("LoadedModel", "ModelInfo", "Signature", "infer_signature", "load_model", "log_model"),
    "modelcycle.registry": (
        "PromotionPolicy", "PromotionRefused", "archive", "delete_alias", "delete_model_version",
        "get_model_version", "lineage", "model_history", "promote", "register_model", "rollback", "set_alias",
        "set_promotion_policy",
    ),
    "modelcycle.serving.feedback": ("log_feedback", "read_predictions"),
    "modelcycle.serving.batch": ("predict_batch",),
    "modelcycle.monitoring.monitor": ("monitor_results",),
    "modelcycle.evaluation.api": ("EvaluationResult", "evaluate"),
    "modelcycle.training.spec": ("TrainingSpec", "train"),
    "modelcycle.training.cv": ("cross_validate",),
    "modelcycle.training.tune": ("tune",),
}


def __getattr__(name: str):
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    if name == "training":  # mc.training.Float etc. without importing the package first
        return importlib.import_module("modelcycle.training")
    raise AttributeError(f"module 'modelcycle' has no attribute {name!r}")

__all__ = sorted([
    "ActiveRun", "AlreadyExists", "ArtifactInfo", "Client", "Conflict", "DatasetVersion", "Experiment",
    "InvalidInput", "Metric", "ModelVersion", "ModelcycleError", "NotFound", "RegisteredModel", "Run", "RunStatus",
    "Stage", "StoreUnavailable", "ViewType", "__version__", "active_run", "end_run", "get_metric_history",
    "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics",
    "log_param", "log_params", "log_text", "search_runs", "set_experiment", "set_tag", "set_tags",
    "set_tracking_uri", "start_run", *(name for names in _LAZY.values() for name in names),
])
