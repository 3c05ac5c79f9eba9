"""The explicit client: the same calls against a local database or a tracking server."""

from __future__ import annotations

import json
import numbers
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.store import Store, open_store
from modelcycle.store.base import DEFAULT_MAX_RESULTS
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import (
    ArtifactInfo, Experiment, Metric, Run, RunPage, RunStatus, ViewType,
)
from modelcycle.store.validation import check_artifact_path
from modelcycle.tracking.context import run_context_tags

DEFAULT_EXPERIMENT = "Default"


class Client:
    """``Client()`` uses MODELCYCLE_TRACKING_URI (a database URL or http://host:port) and
    MODELCYCLE_ARTIFACT_URI; both can be passed instead."""

    def __init__(self, tracking_uri: str | None = None, artifact_uri: str | None = None,
                 store: Store | None = None):
        self.store = store or open_store(tracking_uri, artifact_uri)

    # ------------------------------------------------------------------ experiments
    def create_experiment(self, name: str, tags: dict[str, Any] | None = None) -> Experiment:
        return self.store.create_experiment(name, _str_dict(tags))

    def get_experiment(self, experiment: int | str) -> Experiment:
        """By id (an int, numpy's too) or by name (a str, even one of digits: "2024" is a name)."""
        if isinstance(experiment, numbers.Integral) and not isinstance(experiment, bool):
            return self.store.get_experiment(int(experiment))
        if isinstance(experiment, str):
            return self.store.get_experiment_by_name(experiment)
        raise InvalidInput(f"An experiment is given by its id (an int) or its name (a str); got {experiment!r}.")

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            return self.store.get_experiment_by_name(name)
        except NotFound:
            from modelcycle.exceptions import AlreadyExists

            try:
                return self.store.create_experiment(name)
            except AlreadyExists:  # another process created it meanwhile
                return self.store.get_experiment_by_name(name)

    def list_experiments(self, view: ViewType | str = ViewType.ACTIVE) -> list[Experiment]:
        return self.store.list_experiments(ViewType.parse(view))

    def rename_experiment(self, experiment: int | str, new_name: str) -> Experiment:
        return self.store.rename_experiment(self.get_experiment(experiment).id, new_name)

    def delete_experiment(self, experiment: int | str) -> None:
        self.store.delete_experiment(self.get_experiment(experiment).id)

    def restore_experiment(self, experiment: int | str) -> None:
        self.store.restore_experiment(self.get_experiment(experiment).id)

    def set_experiment_tag(self, experiment: int | str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(self.get_experiment(experiment).id, key, str(value))

    # ------------------------------------------------------------------ runs
    def create_run(self, experiment: int | str | None = None, name: str | None = None,
                   tags: dict[str, Any] | None = None, parent_id: str | None = None,
                   capture_context: bool = True) -> Run:
        """Start a run (status RUNNING) in ``experiment``: an id (int), or a name (str), created
        if new."""
        if experiment is None:
            experiment_id = self.get_or_create_experiment(DEFAULT_EXPERIMENT).id
        elif isinstance(experiment, str):
            experiment_id = self.get_or_create_experiment(experiment).id
        else:
            experiment_id = self.get_experiment(experiment).id
        all_tags = run_context_tags() if capture_context else {}
        all_tags.update(_str_dict(tags))
        return self.store.create_run(experiment_id, name, all_tags, parent_id)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> None:
        self.store.update_run(run_id, status=RunStatus.parse(status), end_time=now_ms())

    def rename_run(self, run_id: str, name: str) -> None:
        self.store.update_run(run_id, name=name)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.store.log_batch(run_id, params={key: str(value)})

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.store.log_batch(run_id, params={k: str(v) for k, v in params.items()})

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> None:
        self.store.log_batch(run_id, [Metric(key, value, step, timestamp or now_ms())])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0,
                    timestamp: int | None = None) -> None:
        stamp = timestamp or now_ms()
        self.store.log_batch(run_id, [Metric(k, v, step, stamp) for k, v in metrics.items()])

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None) -> None:
        """Metrics, params and tags in one transaction: all are stored or none."""
        self.store.log_batch(
            run_id, metrics,
            {k: str(v) for k, v in (params or {}).items()} or None, _str_dict(tags) or None,
        )

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.store.log_batch(run_id, tags={key: str(value)})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.store.log_batch(run_id, tags=_str_dict(tags))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(run_id, key)

    def search_runs(self, experiments: Iterable[int | str] | int | str | None = None,
                    filter: str | None = None, order_by: Sequence[str] | str | None = None,
                    max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None,
                    view: ViewType | str = ViewType.ACTIVE) -> RunPage:
        """Runs matching ``filter`` (see ``modelcycle.store.search``) in ``experiments``
        (ids as ints, names as strs; all experiments when None)."""
        return self.store.search_runs(self._experiment_ids(experiments), filter,
                                      [order_by] if isinstance(order_by, str) else order_by,
                                      max_results, page_token, ViewType.parse(view))

    def search_all_runs(self, experiments=None, filter: str | None = None,
                        order_by: Sequence[str] | str | None = None,
                        view: ViewType | str = ViewType.ACTIVE) -> list[Run]:
        runs, token = [], None
        while True:
            page = self.search_runs(experiments, filter, order_by, 5000, token, view)
            runs.extend(page.runs)
            token = page.next_page_token
            if token is None:
                return runs

    def _experiment_ids(self, experiments) -> list[int] | None:
        if experiments is None:
            return None
        if isinstance(experiments, (numbers.Integral, str)):
            experiments = [experiments]
        return [self.get_experiment(e).id for e in experiments]

    # ------------------------------------------------------------------ artifacts
    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None
                     ) -> ArtifactInfo:
        """Store one file as ``<artifact_path>/<file name>`` (at the run's root by default)."""
        local_path = Path(local_path)
        if local_path.is_dir():
            raise InvalidInput(f"{str(local_path)!r} is a folder; use log_artifacts for folders.")
        if not local_path.exists():
            raise NotFound(f"No file at {str(local_path)!r}.")
        target = _join(artifact_path, local_path.name)
        return self.store.log_artifact(run_id, local_path, target)

    def log_artifacts(self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
                      ) -> list[ArtifactInfo]:
        """Store every file below ``local_dir``, keeping its layout, under ``artifact_path``."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotFound(f"No folder at {str(local_dir)!r}.")
        return [
            self.store.log_artifact(run_id, file, _join(artifact_path, file.relative_to(local_dir).as_posix()))
            for file in sorted(local_dir.rglob("*")) if file.is_file()
        ]

    def log_text(self, run_id: str, text: str, artifact_file: str) -> ArtifactInfo:
        return self._log_bytes(run_id, text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> ArtifactInfo:
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dictionary, sort_keys=False).encode()
        else:
            data = json.dumps(dictionary, indent=2, default=str, allow_nan=True).encode()
        return self._log_bytes(run_id, data, artifact_file)

    def log_figure(self, run_id: str, figure, artifact_file: str) -> ArtifactInfo:
        """A matplotlib figure, saved in the format its file name ends with (png, svg, pdf)."""
        suffix = Path(artifact_file).suffix or ".png"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"figure{suffix}"
            figure.savefig(path, bbox_inches="tight")
            return self.store.log_artifact(run_id, path, check_artifact_path(artifact_file))

    def _log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> ArtifactInfo:
        artifact_file = check_artifact_path(artifact_file)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "artifact"
            path.write_bytes(data)
            return self.store.log_artifact(run_id, path, artifact_file)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        return self.store.list_artifacts(run_id, path)

    def download_artifacts(self, run_id: str, path: str = "", dst_dir: str | Path | None = None) -> Path:
        """Copy a file or a folder of the run to ``dst_dir`` (a new temporary folder by default);
        returns the local path of what was asked for."""
        path = check_artifact_path(path, allow_root=True)
        dst_dir = Path(dst_dir) if dst_dir is not None else Path(tempfile.mkdtemp(prefix="modelcycle-"))
        files = list(self.store.list_artifact_files(run_id, path))
        if not files:
            raise NotFound(f"The run {run_id} has no artifact at {path or 'its root'!r}.")
        for info in files:
            target = dst_dir / info.path
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.part")
            with open(part, "wb") as out:
                self.store.download_artifact(run_id, info.path, out)
            part.replace(target)
        return dst_dir / path if path else dst_dir

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return b"".join(self.store.open_artifact(run_id, path))


def _join(prefix: str | None, name: str) -> str:
    return check_artifact_path(f"{prefix.strip('/')}/{name}" if prefix and prefix.strip("/") else name)


def _str_dict(values: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (values or {}).items()}
