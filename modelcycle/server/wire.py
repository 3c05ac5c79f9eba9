"""Request bodies of the REST API, the error body, and what the server accepts in each field.

Responses are the entities' to_dict forms. Integers and booleans are JSON's own, as JSON Schema
reads them: an integer is a number without a fractional part (1 or 1.0, not true nor "1"), a
boolean is true or false (not 1 nor "yes").

The constraints below are declared in the OpenAPI schema, for generated clients and fuzzers;
the store's checks (modelcycle.store.validation) enforce them, with their own messages. The two
are kept in step by the schemathesis test in tests/server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator

from modelcycle.exceptions import ERRORS_BY_CODE
from modelcycle.store.base import DEFAULT_COLUMN_LIMIT, MAX_RESULTS_LIMIT, MAX_SEARCH_EXPERIMENTS
from modelcycle.store.entities import RunStatus, Stage, ViewType
from modelcycle.store.search import MAX_COLUMNS, MAX_ORDER_BY_CLAUSES
from modelcycle.store.series import MAX_BUCKETS, MAX_SERIES_RUNS, X_AXES
from modelcycle.store.validation import (
    INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, MAX_ARTIFACT_PATH_LENGTH, MAX_COLUMN_LIMIT, MAX_KEY_LENGTH,
    MAX_NAME_LENGTH, MAX_TAG_VALUE_LENGTH, MAX_VIEW_QUERY_LENGTH, RESERVED_ALIASES, VIEW_ID_LENGTH, check_experiment_id,
    parse_version,
)

# ---------------------------------------------------------------------- what a field accepts
# Patterns read the same in Python's and ECMA-262's regular expressions: no inline flags,
# whitespace spelled out as the characters str.strip() removes, and the end of the text written
# as a lookahead, since Python's `$` also matches before a final newline.
_NO_NUL = r"[^\u0000]"
_END = r"(?![\s\S])"
_SPACE = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _one_of_any_case(words) -> str:
    return "^(?:" + "|".join(_any_case(w) for w in words) + ")" + _END


def _not_blank(limit: int, forbidden: str = "") -> dict[str, Any]:
    """Text with at least one character that is not whitespace."""
    other, visible = f"[^{forbidden}\\u0000]", f"[^{_SPACE}{forbidden}\\u0000]"
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": f"^{other}*{visible}{other}*{_END}"}


TEXT = {"type": "string", "pattern": f"^{_NO_NUL}*{_END}"}
LONG_TEXT = {**TEXT, "maxLength": MAX_TAG_VALUE_LENGTH}
NAME = _not_blank(MAX_NAME_LENGTH)
KEY = _not_blank(MAX_KEY_LENGTH)
DATASET_NAME = {**_not_blank(MAX_NAME_LENGTH, "@/"), "not": {"enum": [".", ".."]},
                "description": "Not '@' nor '/', not '.' nor '..'."}
MODEL_NAME = {
    "type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH,
    "pattern": f"^[^{_SPACE}@/:\\u0000](?:[^@/:\\u0000]*[^{_SPACE}@/:\\u0000])?{_END}",
    "not": {"enum": [".", ".."]},
    "description": "Not '@', '/' nor ':' (they separate versions and aliases in model URIs), no leading or "
                   "trailing whitespace, not '.' nor '..'.",
}
ALIAS = {
    "type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.\-]{0,249}" + _END,
    "not": {"pattern": _one_of_any_case(RESERVED_ALIASES)},
    "description": "Not a stage nor 'latest', in any case: " + ", ".join(RESERVED_ALIASES) + ".",
}
RUN_ID = {"type": "string", "minLength": 32, "maxLength": 32, "pattern": "^[0-9a-f]{32}" + _END,
          "description": "32 lowercase hex characters."}
ROLE = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,50}" + _END, "examples": ["train", "eval", "reference"]}
STAGE = {"type": "string", "pattern": _one_of_any_case(s.value for s in Stage),
         "description": "None, Staging, Production or Archived, in any case."}
STATUS = {"type": "string", "pattern": _one_of_any_case(s.value for s in RunStatus),
          "description": "RUNNING, FINISHED, FAILED or KILLED, in any case."}
VIEW = {"type": "string", "pattern": _one_of_any_case(v.value for v in ViewType),
        "description": "active, deleted or all, in any case."}
_SEPARATOR = r"[/\\]"
_DOTDOT = {"pattern": f"(?:^|{_SEPARATOR})\\.\\.(?:{_SEPARATOR}|{_END})"}
FOLDER = {**TEXT, "maxLength": MAX_ARTIFACT_PATH_LENGTH, "not": _DOTDOT,
          "description": "A folder inside the run ('' for its root), without '..'."}
ARTIFACT_PATH = {**FOLDER, "not": {"anyOf": [_DOTDOT, {"pattern": f"^{_SEPARATOR}*\\.?{_SEPARATOR}*{_END}"}]},
                 "description": "A file's path inside the run, without '..'."}
FILTER = {**TEXT, "format": "modelcycle-filter",
          "description": "A filter such as `metrics.auc > 0.9 and params.model = 'gbm'` (see the README)."}
ORDER_BY = {**TEXT, "format": "modelcycle-order-by", "examples": ["metrics.auc DESC", "start_time"]}
COLUMN = {**TEXT, "format": "modelcycle-column", "examples": ["params.lr", "metrics.`val loss`", "tags.team"],
          "description": "params.<key>, metrics.<key> or tags.<key>; a key with spaces in backticks, as in filters."}
PAGE_TOKEN = {"type": "string", "format": "modelcycle-page-token",
              "description": "The next_page_token of the previous page, unchanged ('' for the first page)."}
INT64 = {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
EXPERIMENT_ID = {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX}
VERSION = {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
NON_FINITE = ("NaN", "Infinity", "-Infinity")
METRIC_VALUE = {"anyOf": [{"type": "number"}, {"enum": list(NON_FINITE)}],
                "description": "A number, or 'NaN', 'Infinity' or '-Infinity' (JSON has none of them)."}
BUCKETS = {"type": "integer", "minimum": 1, "maximum": MAX_BUCKETS,
           "description": "Cut the range into this many buckets of equal width, each giving its last point, "
                          "least and greatest value; none: every point."}
X_AXIS = {"type": "string", "enum": list(X_AXES), "description": "What start, end and the buckets are along."}
X_BOUND = {"type": "number", "description": "A bound on the x axis (a step, or a time in ms), inclusive; "
                                            "start must not be after end."}
VIEW_ID = {"type": "string", "pattern": f"^[a-z2-7]{{{VIEW_ID_LENGTH}}}" + _END,
           "description": "The id POST /api/views gave."}


def _tags(values: dict[str, Any]) -> Any:
    return Field(default_factory=dict, json_schema_extra={"propertyNames": KEY, "additionalProperties": values})


def _declared(schema: dict[str, Any]) -> Any:
    return Field(json_schema_extra=schema)


def _not_bool_nor_text(value: object) -> object:
    if isinstance(value, (bool, str)):
        raise ValueError("must be an integer")
    return value


Integer = Annotated[int, BeforeValidator(_not_bool_nor_text)]
Text = Annotated[str, _declared(TEXT)]
LongText = Annotated[str, _declared(LONG_TEXT)]
Name = Annotated[str, _declared(NAME)]
Key = Annotated[str, _declared(KEY)]
ModelName = Annotated[str, _declared(MODEL_NAME)]
RunId = Annotated[str, _declared(RUN_ID)]
Int64 = Annotated[Integer, _declared(INT64)]
ExperimentId = Annotated[Integer, _declared(EXPERIMENT_ID)]
Version = Annotated[Integer, _declared(VERSION)]



def _read_by(parse) -> Any:
    """A number in a URL read by the store's own reader (ASCII digits), not by int(), which
    takes '+1', ' 1', '1_0' and '٣'."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


# Path and query parameters: their text is checked by the store.
RunIdPath = Annotated[str, Path(json_schema_extra=RUN_ID)]
ExperimentIdPath = Annotated[int, _read_by(check_experiment_id), Path(json_schema_extra=EXPERIMENT_ID)]
ModelNamePath = Annotated[str, Path(json_schema_extra=MODEL_NAME)]
ModelVersionPath = Annotated[int, _read_by(lambda text: parse_version("model", text)), Path(json_schema_extra=VERSION)]
DatasetVersionPath = Annotated[int, _read_by(lambda text: parse_version("dataset", text)),
                               Path(json_schema_extra=VERSION)]
AliasPath = Annotated[str, Path(json_schema_extra=ALIAS)]
DatasetNamePath = Annotated[str, Path(json_schema_extra=NAME)]
NewDatasetNamePath = Annotated[str, Path(json_schema_extra=DATASET_NAME)]
VersionOrLatestPath = Annotated[str, WithJsonSchema({"anyOf": [VERSION, {"type": "string", "enum": ["latest"]}]}),
                                Path()]
ArtifactPathPath = Annotated[str, Path(json_schema_extra=ARTIFACT_PATH)]
KeyQuery = Annotated[str, Query(json_schema_extra=KEY)]
NameQuery = Annotated[str, Query(json_schema_extra=NAME)]
ViewQuery = Annotated[str, Query(json_schema_extra=VIEW)]
FolderQuery = Annotated[str, Query(json_schema_extra=FOLDER)]
RunIdQuery = Annotated[RunId | None, Query()]
DatasetNameQuery = Annotated[Name | None, Query()]
VersionQuery = Annotated[Annotated[int, _read_by(lambda text: parse_version("dataset", text)), _declared(VERSION)]
                         | None, Query()]
def _count_in(name: str, low: int, high: int):
    """A count in a URL: ASCII digits, read by the same rule as the store's (see _read_by)."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > 10 or not low <= int(text) <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}]")
        return int(text)

    return parse


def _number(text: str) -> int | float:
    """A bound on the x axis in a URL: an integer read exactly, else a decimal number."""
    try:
        return int(text) if text.lstrip("-").isascii() and text.lstrip("-").isdigit() else float(text)
    except ValueError:
        raise ValueError("must be a number") from None


BucketsQuery = Annotated[Annotated[int, _read_by(_count_in("buckets", 1, MAX_BUCKETS)), _declared(BUCKETS)] | None,
                         Query()]
XQuery = Annotated[str, Query(json_schema_extra=X_AXIS)]
XBoundQuery = Annotated[Annotated[int | float, _read_by(_number), WithJsonSchema(X_BOUND)] | None, Query()]
ExperimentQuery = Annotated[str | None, Query(json_schema_extra={**TEXT, "maxLength": MAX_NAME_LENGTH,
                                                                  "description": "Text the name contains, in any case."})]
KeyTextQuery = Annotated[str | None, Query(json_schema_extra={**TEXT, "maxLength": MAX_KEY_LENGTH,
                                                               "description": "Text the key contains, in any case."})]
ColumnLimitQuery = Annotated[int, _read_by(_count_in("limit", 1, MAX_COLUMN_LIMIT)),
                             Query(json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_COLUMN_LIMIT})]
MaxResultsQuery = Annotated[Annotated[int, _read_by(_count_in("max_results", 1, MAX_RESULTS_LIMIT)),
                                      _declared({"minimum": 1, "maximum": MAX_RESULTS_LIMIT})] | None, Query()]
PageTokenQuery = Annotated[str | None, Query(json_schema_extra=PAGE_TOKEN)]
ViewIdPath = Annotated[str, Path(json_schema_extra=VIEW_ID)]


# ---------------------------------------------------------------------- errors
ERROR_CODES = sorted({*ERRORS_BY_CODE, "HTTP_ERROR"})


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: a code the client maps back to its exception, and a message
    that names what was wrong and what to do."""

    error: str = Field(json_schema_extra={"enum": ERROR_CODES}, examples=["NOT_FOUND"])
    message: str = Field(examples=["No run with id 0123456789abcdef0123456789abcdef."])


_ERROR_MEANINGS = {
    400: "Invalid input: malformed JSON, a wrong type, or a value the server refuses (INVALID_INPUT)",
    404: "What the request names does not exist (NOT_FOUND)",
    409: "The request contradicts stored state (ALREADY_EXISTS, CONFLICT)",
    503: "The database is unreachable or refused the transaction (STORE_UNAVAILABLE)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that answers these error statuses, besides 400 (declared for
    every route that takes input) and 503 (for every route that reaches the store)."""
    return {status: {"model": ErrorBody, "description": _ERROR_MEANINGS[status]}
            for status in (*statuses, 503)}


def links(status: int, parameters: dict[str, str], *operations: str, **bodies: dict[str, str]) -> dict[str, Any]:
    """The `openapi_extra` of a route whose answer names a resource that other operations take:
    `parameters` maps theirs to fields of the answer ("$response.body#/id"), and `bodies` maps
    fields of an operation's request body."""
    links = {op: {"operationId": op, "parameters": parameters} for op in operations}
    links.update({op: {"operationId": op, "requestBody": body} for op, body in bodies.items()})
    return {"responses": {str(status): {"links": links}}}


def error_response(status: int) -> dict[str, Any]:
    """The OpenAPI response object of an error status, for the schema's own post-processing."""
    return {"description": _ERROR_MEANINGS[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


# ---------------------------------------------------------------------- request bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperiment(_Body):
    name: Name
    tags: dict[str, str] = _tags(LONG_TEXT)


class RenameExperiment(_Body):
    name: Name


class SetTag(_Body):
    key: Key
    value: LongText


class CreateRun(_Body):
    experiment_id: ExperimentId
    name: Name | None = None
    tags: dict[str, str] = _tags(LONG_TEXT)
    parent_id: RunId | None = None
    start_time: Int64 | None = None


class UpdateRun(_Body):
    status: Annotated[str, _declared(STATUS)] | None = None
    end_time: Int64 | None = None
    name: Name | None = None


class MetricIn(_Body):
    key: Key
    value: Annotated[float, WithJsonSchema(METRIC_VALUE)]
    step: Int64 = 0
    timestamp: Int64 = 0

    @field_validator("value", mode="before")
    @classmethod
    def _number_or_non_finite(cls, value: object) -> object:
        # Not the lax float parsing, which reads true as 1.0 and "1e3" as a number.
        if isinstance(value, bool) or (isinstance(value, str) and value not in NON_FINITE):
            raise ValueError("must be a number, or 'NaN', 'Infinity' or '-Infinity'")
        return value


class LogBatch(_Body):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: dict[str, str] = _tags(TEXT)
    tags: dict[str, str] = _tags(LONG_TEXT)


class DatasetMeta(_Body):
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: Text
    num_rows: int = Field(ge=0, le=INT64_MAX)
    num_columns: int = Field(ge=0, le=INT64_MAX)
    schema_text: Text = Field(alias="schema")
    profile: Text


DATASET_UPLOAD = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["meta", "data"], "additionalProperties": False, "properties": {
        "meta": DatasetMeta.model_json_schema(),
        "data": {"type": "string", "format": "binary",
                 "description": "The Parquet file, whose digest is meta.digest."}}},
    "encoding": {"meta": {"contentType": "application/json"}}}}}}


class LinkDataset(_Body):
    name: Name
    version: Version
    role: Annotated[str, _declared(ROLE)]


class SearchRuns(_Body):
    experiment_ids: Annotated[list[ExperimentId], Field(json_schema_extra={"maxItems": MAX_SEARCH_EXPERIMENTS})] \
        | None = None
    filter: Annotated[str, _declared(FILTER)] | None = None
    order_by: list[Annotated[str, _declared(ORDER_BY)]] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_ORDER_BY_CLAUSES})
    max_results: Annotated[Integer, _declared({"minimum": 1, "maximum": MAX_RESULTS_LIMIT})] = 1000
    page_token: Annotated[str, _declared(PAGE_TOKEN)] | None = None
    view: Annotated[str, _declared(VIEW)] = "active"
    columns: Annotated[list[Annotated[str, _declared(COLUMN)]], Field(json_schema_extra={"maxItems": MAX_COLUMNS})] \
        | None = None


class MetricHistories(_Body):
    run_ids: Annotated[list[RunId], Field(max_length=MAX_SERIES_RUNS)]
    key: Key
    buckets: Annotated[Integer, _declared(BUCKETS)] | None = None
    x: Annotated[str, _declared(X_AXIS)] = "step"
    start: Annotated[float | Integer, _declared(X_BOUND)] | None = None
    end: Annotated[float | Integer, _declared(X_BOUND)] | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, (bool, str)):
            raise ValueError("must be a number")
        return value


class SaveView(_Body):
    query: Annotated[str, _declared({**TEXT, "minLength": 1, "maxLength": MAX_VIEW_QUERY_LENGTH,
                                     "description": "The view's URL query string."})]


class CreateRegisteredModel(_Body):
    name: ModelName
    description: LongText = ""
    tags: dict[str, str] = _tags(LONG_TEXT)


class UpdateDescription(_Body):
    description: LongText


class SetOptionalTag(_Body):
    key: Key
    value: LongText | None  # None deletes the tag


class CreateModelVersion(_Body):
    run_id: RunId
    artifact_path: Annotated[str, _declared(ARTIFACT_PATH)]
    user: Name
    description: LongText = ""
    tags: dict[str, str] = _tags(LONG_TEXT)


class Audited(_Body):
    user: Name
    reason: LongText = ""


class TransitionStage(Audited):
    stage: Annotated[str, _declared(STAGE)]
    forced: StrictBool = False
    expected_production: Integer | None = None
    check_production: StrictBool = False


class SetAlias(Audited):
    version: Version


class Promote(Audited):
    to: Annotated[str, _declared(STAGE)] = "production"
    force: StrictBool = False


class SearchModelVersions(_Body):
    name: ModelName | None = None
    run_ids: list[RunId] | None = None
    include_deleted: StrictBool = False
