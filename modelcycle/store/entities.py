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


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    created_at: int
    updated_at: int
    deleted: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at,
                "updated_at": self.updated_at, "deleted": self.deleted, "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        return cls(int(d["id"]), d["name"], d["created_at"], d["updated_at"], d["deleted"],
                   dict(d.get("tags") or {}))


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "experiment_id": self.experiment_id, "name": self.name,
            "status": self.status.value, "start_time": self.start_time, "end_time": self.end_time,
            "parent_id": self.parent_id, "deleted": self.deleted, "params": dict(self.params),
            "metrics": [m.to_dict() for m in self.metrics.values()], "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        metrics = [Metric.from_dict(m) for m in d.get("metrics") or []]
        return cls(
            d["id"], int(d["experiment_id"]), d["name"], RunStatus(d["status"]), d["start_time"],
            d.get("end_time"), d.get("parent_id"), d.get("deleted", False),
            dict(d.get("params") or {}), {m.key: m for m in metrics}, dict(d.get("tags") or {}),
        )


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
