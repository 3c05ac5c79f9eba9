"""modelcycle: carry a machine-learning model through its whole life."""

from modelcycle.exceptions import (
    AlreadyExists, Conflict, InvalidInput, ModelcycleError, NotFound, StoreUnavailable,
)
from modelcycle.store.entities import (
    ArtifactInfo, DatasetVersion, Experiment, Metric, Run, RunStatus, ViewType,
)
from modelcycle.tracking.client import Client
from modelcycle.tracking.fluent import (
    ActiveRun, active_run, end_run, get_metric_history, log_artifact, log_artifacts, log_dict,
    log_figure, log_metric, log_metrics, log_param, log_params, log_text, search_runs,
    set_experiment, set_tag, set_tags, set_tracking_uri, start_run,
)

__version__ = "0.1.0"

_DATASET_API = ("get_dataset", "load_dataset", "log_dataset", "validate")


def __getattr__(name: str):
    # The dataset API pulls in the statistics code: imported on first use only.
    if name in _DATASET_API:
        from modelcycle.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'modelcycle' has no attribute {name!r}")

__all__ = [
    "ActiveRun", "AlreadyExists", "ArtifactInfo", "Client", "Conflict", "DatasetVersion", "Experiment",
    "InvalidInput", "Metric", "ModelcycleError", "NotFound", "Run", "RunStatus",
    "StoreUnavailable", "ViewType", "__version__", "active_run", "end_run", "get_dataset", "get_metric_history",
    "load_dataset", "log_artifact", "log_artifacts", "log_dataset", "log_dict", "log_figure", "log_metric", "log_metrics",
    "log_param", "log_params", "log_text", "search_runs", "set_experiment", "set_tag", "set_tags",
    "set_tracking_uri", "start_run", "validate",
]
