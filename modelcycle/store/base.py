"""The store interface. The SQL store and the HTTP client implement it; one contract test
suite runs against both, so they cannot drift apart."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from modelcycle.store.entities import (
    AlertState, ArmStats, ArtifactInfo, DatasetUse, DatasetVersion, Deployment, DeploymentEvent, Experiment,
    ExperimentPage, Lease, Metric, MetricSeries, ModelVersion, MonitorEvent, MonitorPoint, RegisteredModel, Run, RunPage,
    RunStatus, SavedView, Stage, Transition, ViewType,
)

DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS_LIMIT = 50_000
MAX_SEARCH_EXPERIMENTS = 10_000  # ids in one search: each is a parameter of the query
DEFAULT_COLUMN_LIMIT = 200
# Loaded for every run of a search with columns: the run table shows them.
ALWAYS_LOADED_TAGS = ("mc.user", "mc.source.git.commit")


class Store(abc.ABC):
    """Experiments, runs, their params, metrics, tags and artifacts.

    Raises ``NotFound`` for an unknown id or name, ``AlreadyExists`` for a taken name,
    ``Conflict`` for a write that contradicts stored state, ``InvalidInput`` for malformed
    arguments.
    """

    # experiments
    @abc.abstractmethod
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment(self, experiment_id: int) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment: ...

    @abc.abstractmethod
    def list_experiments(self, view: ViewType = ViewType.ACTIVE) -> list[Experiment]:
        """Every experiment of the view by id, with its run count and last activity."""

    @abc.abstractmethod
    def search_experiments(self, q: str | None = None, view: ViewType = ViewType.ACTIVE,
                           max_results: int | None = None, page_token: str | None = None) -> ExperimentPage:
        """Experiments whose name contains ``q`` (in any case), by id, with their run count and
        last activity; ``max_results`` at a time (None: all), the next ones after ``page_token``."""

    @abc.abstractmethod
    def experiment_columns(self, experiment_id: int, q: str | None = None,
                           limit: int = DEFAULT_COLUMN_LIMIT) -> dict[str, list[str]]:
        """The keys of the params, metrics and tags ever logged in the experiment's runs that
        contain ``q`` in any case: {"params": [...], "metrics": [...], "tags": [...]}, each
        sorted, at most ``limit`` of each."""

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: int, new_name: str) -> Experiment: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: int) -> None: ...

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: int) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: int, key: str, value: str) -> None: ...

    # runs
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: int,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        parent_id: str | None = None,
        start_time: int | None = None,
    ) -> Run: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> None:
        """Change status (a final status sets end_time: now unless given), end time or name."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Write all or nothing, committed when it returns."""

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    @abc.abstractmethod
    def get_metric_series(self, run_ids: Sequence[str], key: str, buckets: int | None = None, x: str = "step",
                          start: float | None = None, end: float | None = None) -> list[MetricSeries]:
        """The history of ``key`` in each run (once per id, in the order given; at most 500 runs),
        as columns along ``x`` ("step" or "timestamp"), cut to [start, end] on it. With ``buckets``
        (1 to 10,000) and more points than that in the range, the range the points span is cut
        into that many buckets of equal width, each giving its last point, least and greatest
        value (see store/series.py). NotFound for an unknown run."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[int] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        view: ViewType = ViewType.ACTIVE,
        columns: Sequence[str] | None = None,
    ) -> RunPage:
        """``experiment_ids`` None searches every experiment. ``page_token``: the
        ``next_page_token`` of the previous page of the same search; it marks a place in the
        order, so runs created in between neither repeat nor push runs out of the pages.
        ``columns`` ("params.lr", "metrics.`val loss`", "tags.team"): only these params, metrics
        and tags are loaded, and the tags ALWAYS_LOADED_TAGS; None loads them all."""

    # artifacts
    @abc.abstractmethod
    def log_artifact(self, run_id: str, local_file: str | Path, artifact_path: str) -> ArtifactInfo:
        """Store one file under ``artifact_path`` (its full path inside the run)."""

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        """The direct children of ``path``: files and folders."""

    @abc.abstractmethod
    def open_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        """The file's bytes as chunks; nothing is held whole in memory."""

    # datasets
    @abc.abstractmethod
    def log_dataset(self, name: str, digest: str, data_file: str | Path, source: str,
                    num_rows: int, num_columns: int, schema: str, profile: str) -> DatasetVersion:
        """Store a version of ``name`` from a Parquet file. The same ``digest`` under the same
        name gives back the existing version; new content gets the next version number."""

    @abc.abstractmethod
    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        """A version, or the latest one when ``version`` is None."""

    @abc.abstractmethod
    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        """Every version of ``name``, or the latest version of every dataset. Without the
        schema and profile texts."""

    @abc.abstractmethod
    def open_dataset(self, name: str, version: int) -> Iterator[bytes]:
        """The version's Parquet bytes as chunks."""

    @abc.abstractmethod
    def link_dataset(self, run_id: str, name: str, version: int, role: str) -> None:
        """Record that the run used the dataset version as ``role`` (idempotent)."""

    @abc.abstractmethod
    def dataset_uses(self, run_id: str | None = None, name: str | None = None,
                     version: int | None = None) -> list[DatasetUse]:
        """The inputs of a run, or the runs that used a dataset (version)."""

    # model registry
    @abc.abstractmethod
    def create_registered_model(self, name: str, description: str = "",
                                tags: dict[str, str] | None = None) -> RegisteredModel: ...

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def list_registered_models(self) -> list[RegisteredModel]: ...

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Set a tag, or delete it when ``value`` is None."""

    @abc.abstractmethod
    def create_model_version(self, name: str, run_id: str, artifact_path: str, user: str,
                             description: str = "", tags: dict[str, str] | None = None) -> ModelVersion:
        """The next version of ``name`` (created if new), in stage None, with its audit entry:
        all in one transaction."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abc.abstractmethod
    def list_model_versions(self, name: str | None = None, run_ids: Sequence[str] | None = None,
                            include_deleted: bool = False) -> list[ModelVersion]:
        """Versions of one model, or of every model; only those made from ``run_ids`` if given."""

    @abc.abstractmethod
    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion: ...

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        """Set a tag, or delete it when ``value`` is None."""

    @abc.abstractmethod
    def transition_model_version_stage(
        self, name: str, version: int, stage: Stage, user: str, reason: str = "",
        forced: bool = False, expected_production: int | None = None,
        check_production: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; moving one to Production archives the one that held it.
        With ``check_production``, refuse with ``Conflict`` unless the Production version is
        still ``expected_production`` (None: no version), the one the caller's gates compared
        against."""

    @abc.abstractmethod
    def set_model_alias(self, name: str, alias: str, version: int, user: str, reason: str = "") -> None: ...

    @abc.abstractmethod
    def delete_model_alias(self, name: str, alias: str, user: str, reason: str = "") -> None: ...

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int, user: str, reason: str = "") -> None:
        """Soft-delete: the number is never reused, and the audit log keeps its history."""

    @abc.abstractmethod
    def rollback_model(self, name: str, user: str, reason: str = "") -> ModelVersion:
        """Give Production back to the version that held it before the current one."""

    @abc.abstractmethod
    def model_history(self, name: str) -> list[Transition]:
        """The audit log of a model, oldest first."""

    # leases
    @abc.abstractmethod
    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> Lease | None:
        """Take the lease ``name`` for ``ttl_s`` seconds, or renew it if ``owner`` holds it; None
        while another owner holds it. The epoch grows each time the lease changes hands."""

    @abc.abstractmethod
    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up at once if ``owner`` holds it (nothing otherwise)."""

    @abc.abstractmethod
    def get_lease(self, name: str) -> Lease | None:
        """The lease ``name`` while it is held, else None."""

    # deployments
    @abc.abstractmethod
    def create_deployment(self, name: str, model_name: str, stable_version: int, user: str,
                          config: dict | None = None, reason: str = "") -> Deployment:
        """A deployment serving ``stable_version`` of ``model_name`` to all traffic (strategy single);
        AlreadyExists for a taken name, NotFound for an unknown model or version."""

    @abc.abstractmethod
    def get_deployment(self, name: str) -> Deployment: ...

    @abc.abstractmethod
    def list_deployments(self) -> list[Deployment]: ...

    @abc.abstractmethod
    def update_deployment(self, name: str, revision: int, user: str, kind: str, reason: str = "",
                          numbers: dict | None = None, epoch: int | None = None, **changes) -> Deployment:
        """Set the fields ``changes`` (see validation.DEPLOYMENT_FIELDS) if the deployment is still at
        ``revision``, else Conflict; with ``epoch`` (a lease epoch), Conflict too if a later epoch
        wrote. Records the event ``kind`` with its numbers and, unless it is a hold or a failed
        analysis, an entry in the model's audit log, in the same transaction."""

    @abc.abstractmethod
    def deployment_events(self, name: str, after_seq: int = 0) -> list[DeploymentEvent]:
        """The history of a deployment after event ``after_seq``, oldest first."""

    @abc.abstractmethod
    def record_deployment_stats(self, name: str, worker: str, start_ms: int, end_ms: int,
                                stats: list[ArmStats]) -> None:
        """What ``worker`` saw of each arm from ``start_ms`` to ``end_ms``; sent again, it replaces
        the first copy."""

    @abc.abstractmethod
    def deployment_stats(self, name: str, since_ms: int, until_ms: int | None = None) -> dict[str, ArmStats]:
        """Per arm, the sum of the stats of every worker whose interval ended after ``since_ms``
        (and at or before ``until_ms``)."""

    # monitoring
    @abc.abstractmethod
    def record_monitor_results(self, model: str, points: Sequence[MonitorPoint]) -> None:
        """Write the points all or nothing; a point of a (version, window_start, metric) already
        stored replaces it."""

    @abc.abstractmethod
    def monitor_results(self, model: str, version: int | None = None, start_ms: int | None = None,
                        end_ms: int | None = None, metrics: Sequence[str] | None = None) -> list[MonitorPoint]:
        """Points of windows starting in [start_ms, end_ms), oldest window first."""

    @abc.abstractmethod
    def monitor_windows(self, model: str) -> dict[int, int]:
        """Per version, the end of its last finished window (marked by its "rows" metric)."""

    @abc.abstractmethod
    def save_alert_states(self, model: str, states: Sequence[AlertState]) -> None:
        """Insert or replace the states (by fingerprint), all in one transaction."""

    @abc.abstractmethod
    def alert_states(self, model: str | None = None) -> list[AlertState]: ...

    @abc.abstractmethod
    def delete_alert_states(self, model: str, fingerprints: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def add_monitor_event(self, model: str, kind: str, data: dict) -> MonitorEvent:
        """Append to the model's monitoring log (notifications, actions, silences)."""

    @abc.abstractmethod
    def monitor_events(self, model: str, kind: str | None = None, after_seq: int = 0,
                       limit: int = 1000) -> list[MonitorEvent]:
        """Entries after ``after_seq``, oldest first."""

    # saved views of the web UI
    @abc.abstractmethod
    def save_view(self, query: str) -> SavedView:
        """Keep ``query`` under an id made from it (10 characters): saved again, by any process,
        it gets the same id and changes nothing."""

    @abc.abstractmethod
    def get_view(self, view_id: str) -> SavedView: ...

    def list_artifact_files(self, run_id: str, path: str = "") -> Iterable[ArtifactInfo]:
        """Every file below ``path``, recursively."""
        for info in self.list_artifacts(run_id, path):
            if info.is_dir:
                yield from self.list_artifact_files(run_id, info.path)
            else:
                yield info

    def download_artifact(self, run_id: str, path: str, dst: BinaryIO) -> None:
        for chunk in self.open_artifact(run_id, path):
            dst.write(chunk)

    def close(self) -> None:
        """Release connections."""
