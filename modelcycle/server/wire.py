"""Request bodies of the REST API. Responses are the entities' to_dict forms.

Integers the store refuses as booleans are StrictInt: lax parsing would turn `true` into 1.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperiment(_Body):
    name: str
    tags: dict[str, str] = Field(default_factory=dict)


class RenameExperiment(_Body):
    name: str


class SetTag(_Body):
    key: str
    value: str


class CreateRun(_Body):
    experiment_id: StrictInt
    name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    parent_id: str | None = None
    start_time: StrictInt | None = None


class UpdateRun(_Body):
    status: str | None = None
    end_time: StrictInt | None = None
    name: str | None = None


class MetricIn(_Body):
    key: str
    value: float  # also "NaN", "Infinity", "-Infinity"
    step: StrictInt = 0
    timestamp: StrictInt = 0


class LogBatch(_Body):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class DatasetMeta(_Body):
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str
    num_rows: int = Field(ge=0, le=2**63 - 1)
    num_columns: int = Field(ge=0, le=2**63 - 1)
    schema_text: str = Field(alias="schema")
    profile: str


class LinkDataset(_Body):
    name: str
    version: StrictInt
    role: str


class SearchRuns(_Body):
    experiment_ids: list[StrictInt] | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: StrictInt = 1000
    page_token: str | None = None
    view: str = "active"


class CreateRegisteredModel(_Body):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateDescription(_Body):
    description: str


class SetOptionalTag(_Body):
    key: str
    value: str | None  # None deletes the tag


class CreateModelVersion(_Body):
    run_id: str
    artifact_path: str
    user: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class Audited(_Body):
    user: str
    reason: str = ""


class TransitionStage(Audited):
    stage: str
    forced: bool = False
    expected_production: StrictInt | None = None
    check_production: bool = False


class SetAlias(Audited):
    version: StrictInt


class Promote(Audited):
    to: str = "production"
    force: bool = False


class SearchModelVersions(_Body):
    name: str | None = None
    run_ids: list[str] | None = None
    include_deleted: bool = False
