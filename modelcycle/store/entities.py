"""Value types the store hands out. Plain, immutable, and convertible to and from JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple


class RunStatus(str, Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def parse(cls, value: str | RunStatus) -> RunStatus:
        from modelcycle.exceptions import InvalidInput

        text = str(value.value if isinstance(value, RunStatus) else value)
        try:
            if not text.isascii():  # 'ﬁnished'.upper() is 'FINISHED'
                raise ValueError
            return cls(text.upper())
        except ValueError:
            raise InvalidInput(
                f"Unknown run status {value!r}; use one of {', '.join(s.value for s in cls)}."
            ) from None


class ViewType(str, Enum):
    ACTIVE = "active"
    DELETED = "deleted"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | ViewType) -> ViewType:
        from modelcycle.exceptions import InvalidInput

        try:
            return cls(str(value.value if isinstance(value, ViewType) else value).lower())
        except ValueError:
            raise InvalidInput(f"Unknown view {value!r}; use active, deleted or all.") from None


def float_to_wire(value: float) -> float | str:
    """JSON has no NaN or infinities; send them as strings so they survive the trip.
    Anything that is not a number goes as it is, for the receiver to refuse."""
    if not isinstance(value, (int, float)) or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def float_from_wire(value: float | str | None) -> float:
    if value is None:
        return math.nan
    return float(value)


class Metric(NamedTuple):
    """One point of a metric. A named tuple: runs log hundreds of thousands of them."""

    key: str
    value: float
    step: int = 0
    timestamp: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": float_to_wire(self.value), "step": self.step,
                "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        return cls(d["key"], float_from_wire(d["value"]), int(d.get("step", 0)),
                   int(d.get("timestamp", 0)))


class MetricSummary(NamedTuple):
    """Of a metric's whole history: its least and greatest value (NaN left out, as it compares
    with nothing; NaN when every value is NaN) and its number of points."""

    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class Experiment:
    """``run_count`` (runs not deleted) and ``last_activity`` (the latest start or end of a run,
    or change of the experiment) are given by listings, None elsewhere; they are not part of
    the experiment's identity, so they take no part in comparisons."""

    id: int
    name: str
    created_at: int
    updated_at: int
    deleted: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    run_count: int | None = field(default=None, compare=False)
    last_activity: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at,
                "updated_at": self.updated_at, "deleted": self.deleted, "tags": dict(self.tags),
                "run_count": self.run_count, "last_activity": self.last_activity}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        return cls(int(d["id"]), d["name"], d["created_at"], d["updated_at"], d["deleted"],
                   dict(d.get("tags") or {}), d.get("run_count"), d.get("last_activity"))


@dataclass(frozen=True, slots=True)
class ExperimentPage:
    experiments: list[Experiment]
    next_page_token: str | None = None


# Not frozen, unlike the other entities: a frozen dataclass sets each field through
# object.__setattr__: 2.5 us a run, a tenth of a search returning hundreds of runs.
@dataclass(slots=True)
class Run:
    id: str
    experiment_id: int
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_id: str | None = None
    deleted: bool = False
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)  # latest value per key
    tags: dict[str, str] = field(default_factory=dict)
    metric_summaries: dict[str, MetricSummary] = field(default_factory=dict)  # per key of metrics

    def to_dict(self) -> dict[str, Any]:
        metrics = []
        for m in self.metrics.values():
            entry = m.to_dict()
            summary = self.metric_summaries.get(m.key)
            if summary is not None:
                entry.update(min=float_to_wire(summary.min), max=float_to_wire(summary.max), count=summary.count)
            metrics.append(entry)
        return {
            "id": self.id, "experiment_id": self.experiment_id, "name": self.name,
            "status": self.status.value, "start_time": self.start_time, "end_time": self.end_time,
            "parent_id": self.parent_id, "deleted": self.deleted, "params": dict(self.params),
            "metrics": metrics, "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        entries = d.get("metrics") or []
        metrics = [Metric.from_dict(m) for m in entries]
        summaries = {m["key"]: MetricSummary(float_from_wire(m["min"]), float_from_wire(m["max"]), int(m["count"]))
                     for m in entries if "count" in m}
        return cls(
            d["id"], int(d["experiment_id"]), d["name"], RunStatus(d["status"]), d["start_time"],
            d.get("end_time"), d.get("parent_id"), d.get("deleted", False),
            dict(d.get("params") or {}), {m.key: m for m in metrics}, dict(d.get("tags") or {}), summaries,
        )


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """A metric's history in one run as columns, ordered along its x axis (step or timestamp).

    Downsampled (``downsampled``), each point is the last one of an x bucket (the highest step,
    then timestamp) and ``min``/``max`` the bucket's least and greatest value (NaN left out; NaN
    when all of it is NaN); otherwise the points are as logged and min = max = value. ``total``
    counts the points in the asked range, ``count_all`` all points of the key."""

    run_id: str
    key: str
    total: int
    count_all: int
    downsampled: bool
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    min: list[float]
    max: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "key": self.key, "total": self.total, "count_all": self.count_all,
                "downsampled": self.downsampled, "steps": self.steps, "timestamps": self.timestamps,
                "values": floats_to_wire(self.values), "min": floats_to_wire(self.min),
                "max": floats_to_wire(self.max)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricSeries:
        return cls(d["run_id"], d["key"], int(d["total"]), int(d["count_all"]), bool(d["downsampled"]),
                   list(d["steps"]), list(d["timestamps"]), floats_from_wire(d["values"]),
                   floats_from_wire(d["min"]), floats_from_wire(d["max"]))


def floats_to_wire(values: list[float]) -> list[float | str]:
    """A column of floats for JSON: as it is when every value is finite (the common case, checked
    without a Python call per value), else with NaN and infinities as strings."""
    if all(map(math.isfinite, values)):
        return values
    return [float_to_wire(v) for v in values]


def floats_from_wire(values: list[float | str | None]) -> list[float]:
    return [v if type(v) is float else float_from_wire(v) for v in values]


@dataclass(frozen=True, slots=True)
class SavedView:
    """A view of the web UI (its URL's query string) kept under a short id made from it."""

    id: str
    query: str
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "query": self.query, "created_at": self.created_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SavedView:
        return cls(d["id"], d["query"], int(d["created_at"]))


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    path: str
    is_dir: bool
    size: int | None = None
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "is_dir": self.is_dir, "size": self.size, "digest": self.digest}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactInfo:
        return cls(d["path"], d["is_dir"], d.get("size"), d.get("digest"))


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_page_token: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One version of a named dataset. ``schema`` is YAML text, ``profile`` JSON text: the data
    package reads them; the store only keeps them."""

    id: int
    name: str
    version: int
    digest: str
    source: str
    num_rows: int
    num_columns: int
    size: int
    created_at: int
    schema: str = ""
    profile: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "digest": self.digest,
                "source": self.source, "num_rows": self.num_rows, "num_columns": self.num_columns,
                "size": self.size, "created_at": self.created_at, "schema": self.schema,
                "profile": self.profile}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetVersion:
        return cls(**{k: d[k] for k in ("id", "name", "version", "digest", "source", "num_rows",
                                        "num_columns", "size", "created_at", "schema", "profile")})


@dataclass(frozen=True, slots=True)
class DatasetUse:
    """A run's use of a dataset version, in a role (train, eval, reference, ...)."""

    run_id: str
    dataset: str  # name@version
    role: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "dataset": self.dataset, "role": self.role}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetUse:
        return cls(d["run_id"], d["dataset"], d["role"])


class Stage(str, Enum):
    """A model version's stage. At most one version of a model is in PRODUCTION."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: str | Stage) -> Stage:
        from modelcycle.exceptions import InvalidInput

        if isinstance(value, Stage):
            return value
        for stage in cls:
            if isinstance(value, str) and value.lower() == stage.value.lower():
                return stage
        raise InvalidInput(f"Unknown stage {value!r}; use one of {', '.join(s.value for s in cls)}.")


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    id: int
    name: str
    description: str
    created_at: int
    updated_at: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
    latest_version: int | None = None
    production_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "created_at": self.created_at, "updated_at": self.updated_at, "tags": dict(self.tags),
                "aliases": dict(self.aliases), "latest_version": self.latest_version,
                "production_version": self.production_version}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegisteredModel:
        return cls(int(d["id"]), d["name"], d["description"], d["created_at"], d["updated_at"],
                   dict(d.get("tags") or {}), {k: int(v) for k, v in (d.get("aliases") or {}).items()},
                   d.get("latest_version"), d.get("production_version"))


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    artifact_path: str
    stage: Stage
    description: str
    created_at: int
    updated_at: int
    created_by: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    deleted: bool = False
    # path below artifact_path -> SHA-256, pinned at registration: the version is these bytes
    files: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"

    @property
    def status(self) -> str:
        """READY: registration is one transaction, after the model folder was checked; there is
        no pending state to wait for."""
        return "DELETED" if self.deleted else "READY"

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "run_id": self.run_id,
                "artifact_path": self.artifact_path, "stage": self.stage.value,
                "description": self.description, "created_at": self.created_at,
                "updated_at": self.updated_at, "created_by": self.created_by, "tags": dict(self.tags),
                "aliases": list(self.aliases), "deleted": self.deleted, "status": self.status,
                "files": dict(self.files)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelVersion:
        return cls(d["name"], int(d["version"]), d["run_id"], d["artifact_path"], Stage(d["stage"]),
                   d["description"], d["created_at"], d["updated_at"], d["created_by"],
                   dict(d.get("tags") or {}), tuple(d.get("aliases") or ()), d.get("deleted", False),
                   dict(d.get("files") or {}))


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of a model's audit log: who moved what, when, from where to where, and why.

    ``action`` is register, stage, alias, unalias, rollback or delete; for stage and rollback,
    ``from_value``/``to_value`` are stages, for alias and unalias the version numbers the
    ``alias`` pointed at before and after."""

    id: int
    name: str
    version: int | None
    action: str
    alias: str | None
    from_value: str | None
    to_value: str | None
    user: str
    reason: str
    forced: bool
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "action": self.action,
                "alias": self.alias, "from_value": self.from_value, "to_value": self.to_value, "user": self.user,
                "reason": self.reason, "forced": self.forced, "created_at": self.created_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transition:
        return cls(int(d["id"]), d["name"], d.get("version"), d["action"], d.get("alias"), d.get("from_value"),
                   d.get("to_value"), d["user"], d["reason"], bool(d["forced"]), d["created_at"])


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the lease ``name`` until ``expires_at`` (ms since the epoch); ``epoch`` counts
    its holders."""

    name: str
    owner: str
    epoch: int
    expires_at: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "owner": self.owner, "epoch": self.epoch, "expires_at": self.expires_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Lease:
        return cls(d["name"], d["owner"], int(d["epoch"]), int(d["expires_at"]))


# Upper bounds (ms) of the latency buckets of deployment stats: 0.05 ms to ~33 s, 25% apart, and
# one more bucket for anything slower. Fixed, so counts from every worker add up bucket by bucket.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(0.05 * 1.25 ** i for i in range(61))


@dataclass(frozen=True, slots=True)
class Deployment:
    """A named deployment of a model: which version each arm serves, the arms' traffic shares
    (percent), and where its strategy stands. ``revision`` grows with every change; a change
    names the revision it was computed from."""

    name: str
    model_name: str
    strategy: str  # single | canary | ab | shadow | bluegreen
    state: str  # active | paused | promoting | promoted | rolled_back
    stable_version: int | None
    candidate_version: int | None
    arms: dict[str, int]
    shares: dict[str, float]
    steps: tuple[float, ...]
    step_index: int
    step_started_at: int
    failures: int
    config: dict[str, Any]
    epoch: int
    revision: int
    created_at: int
    updated_at: int
    updated_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_name": self.model_name, "strategy": self.strategy, "state": self.state,
                "stable_version": self.stable_version, "candidate_version": self.candidate_version,
                "arms": dict(self.arms), "shares": dict(self.shares), "steps": list(self.steps),
                "step_index": self.step_index, "step_started_at": self.step_started_at, "failures": self.failures,
                "config": dict(self.config), "epoch": self.epoch, "revision": self.revision,
                "created_at": self.created_at, "updated_at": self.updated_at, "updated_by": self.updated_by}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deployment:
        return cls(d["name"], d["model_name"], d["strategy"], d["state"], d.get("stable_version"),
                   d.get("candidate_version"), {k: int(v) for k, v in d["arms"].items()},
                   {k: float(v) for k, v in d["shares"].items()}, tuple(float(s) for s in d["steps"]),
                   int(d["step_index"]), int(d["step_started_at"]), int(d["failures"]), dict(d["config"]),
                   int(d["epoch"]), int(d["revision"]), int(d["created_at"]), int(d["updated_at"]), d["updated_by"])


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    """One entry of a deployment's history: a change of shares, a pause, an analysis and its
    numbers, a promotion or a rollback."""

    seq: int
    time_ms: int
    kind: str
    from_shares: dict[str, float] | None
    to_shares: dict[str, float] | None
    numbers: dict[str, Any]
    reason: str
    actor: str
    epoch: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time_ms": self.time_ms, "kind": self.kind, "from_shares": self.from_shares,
                "to_shares": self.to_shares, "numbers": self.numbers, "reason": self.reason, "actor": self.actor,
                "epoch": self.epoch}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeploymentEvent:
        return cls(int(d["seq"]), int(d["time_ms"]), d["kind"], d.get("from_shares"), d.get("to_shares"),
                   dict(d.get("numbers") or {}), d["reason"], d["actor"], d.get("epoch"))


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Requests, errors and latency counts per bucket (``LATENCY_BOUNDS_MS``) of one arm, from
    one worker's interval or summed over many."""

    arm: str
    version: int | None
    requests: int
    errors: int
    latency: tuple[int, ...]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def latency_quantile_ms(self, q: float) -> float | None:
        """The ``q`` quantile of the latency, as the upper bound of the bucket it falls in."""
        total = sum(self.latency)
        if not total:
            return None
        rank, seen = q * total, 0
        for i, count in enumerate(self.latency):
            seen += count
            if seen >= rank and count:
                return LATENCY_BOUNDS_MS[min(i, len(LATENCY_BOUNDS_MS) - 1)]
        return LATENCY_BOUNDS_MS[-1]

    def __add__(self, other: ArmStats) -> ArmStats:
        width = max(len(self.latency), len(other.latency))
        a = self.latency + (0,) * (width - len(self.latency))
        b = other.latency + (0,) * (width - len(other.latency))
        return ArmStats(self.arm, other.version if other.version is not None else self.version,
                        self.requests + other.requests, self.errors + other.errors,
                        tuple(x + y for x, y in zip(a, b)))

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "version": self.version, "requests": self.requests, "errors": self.errors,
                "latency": list(self.latency)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArmStats:
        return cls(d["arm"], d.get("version"), int(d["requests"]), int(d["errors"]),
                   tuple(int(c) for c in d.get("latency") or ()))


@dataclass(frozen=True, slots=True)
class MonitorPoint:
    """One value of a monitor metric for one window of one model version's predictions.
    ``version`` 0 stands for predictions logged without a version; ``value`` may be NaN (not
    computable in that window); ``labels`` carry what the number alone does not say (method,
    threshold, binned shares for display; never raw rows)."""

    model: str
    version: int
    window_start: int
    window_end: int
    metric: str
    value: float
    labels: dict[str, Any] = field(default_factory=dict)
    computed_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        value = None if math.isnan(self.value) else self.value
        return {"model": self.model, "version": self.version, "window_start": self.window_start,
                "window_end": self.window_end, "metric": self.metric, "value": value, "labels": self.labels,
                "computed_at": self.computed_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorPoint:
        return cls(d["model"], int(d["version"]), int(d["window_start"]), int(d["window_end"]), d["metric"],
                   float_from_wire(d.get("value")), dict(d.get("labels") or {}), int(d.get("computed_at", 0)))


@dataclass(frozen=True, slots=True)
class AlertState:
    """Where one alert (a rule for one model version) stands: inactive, pending, firing or
    resolved, since when, and what the evaluator needs to carry on (``data``)."""

    model: str
    fingerprint: str
    rule: str
    state: str
    active_at: int | None
    fired_at: int | None
    resolved_at: int | None
    updated_at: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "fingerprint": self.fingerprint, "rule": self.rule, "state": self.state,
                "active_at": self.active_at, "fired_at": self.fired_at, "resolved_at": self.resolved_at,
                "updated_at": self.updated_at, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertState:
        return cls(d["model"], d["fingerprint"], d["rule"], d["state"], d.get("active_at"), d.get("fired_at"),
                   d.get("resolved_at"), int(d["updated_at"]), dict(d.get("data") or {}))


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """One entry of a model's monitoring log: a notification attempt, an action, a silence."""

    seq: int
    model: str
    time_ms: int
    kind: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "model": self.model, "time_ms": self.time_ms, "kind": self.kind, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorEvent:
        return cls(int(d["seq"]), d["model"], int(d["time_ms"]), d["kind"], dict(d.get("data") or {}))
