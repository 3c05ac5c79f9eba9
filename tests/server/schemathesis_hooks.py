"""Schemathesis hooks for the tracking server's OpenAPI (loaded through SCHEMATHESIS_HOOKS).

The schema marks four strings with formats of their own, whose valid values a JSON Schema
cannot describe: a run filter, an order-by clause, a column of a run table and a page token.
Here are their generators. And three kinds of reported failure are not the server's, each
dropped by a narrow rule below.
"""

from __future__ import annotations

import json

import schemathesis
from hypothesis import strategies as st

# ---------------------------------------------------------------------- the formats
_keys = st.text(st.characters(exclude_characters="`\x00", exclude_categories=["Cs"]), min_size=1, max_size=12)
_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
_quoted = _text.map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "''") + "'")
_numbers = (st.integers(-10**6, 10**6).map(str)
            | st.floats(-1e12, 1e12, allow_nan=False).map(repr)
            | st.sampled_from(["nan", "inf", "-2.5e3"]))
_timestamps = _numbers | st.sampled_from(["'2026-01-31'", "'2026-01-31T12:00'", "'2026-01-31T12:00:00+02:00'"])


def _list(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=3).map(lambda items: "(" + ", ".join(items) + ")")


def _comparisons(field: st.SearchStrategy[str], ops: list[str], values: st.SearchStrategy[str],
                 sets: bool = True) -> st.SearchStrategy[str]:
    compared = st.tuples(field, st.sampled_from(ops), values).map(" ".join)
    listed = st.tuples(field, st.sampled_from(["in", "not in"]), _list(values)).map(" ".join)
    null = st.tuples(field, st.sampled_from(["is null", "is not null"])).map(" ".join)
    return compared | listed | null if sets else compared | null


_key_of = lambda kind: _keys.map(lambda key: f"{kind}.`{key}`")  # noqa: E731
_comparison = (
    _comparisons(_key_of("metrics"), ["=", "!=", "<", "<=", ">", ">="], _numbers)
    | _comparisons(_key_of("params") | _key_of("tags"), ["=", "!=", "like", "not like", "ilike"], _quoted)
    | _comparisons(st.sampled_from(["start_time", "end_time"]), ["=", "<", ">="], _timestamps)
    | _comparisons(st.just("experiment_id"), ["=", "!="], _numbers)
    | _comparisons(st.sampled_from(["name", "status", "run_id", "parent_id"]), ["=", "!=", "like"], _quoted)
)
_filters = st.recursive(
    _comparison,
    lambda inner: st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join)
    | inner.map(lambda f: f"not {f}") | inner.map(lambda f: f"({f})"),
    max_leaves=4,
)
_orders = st.tuples(
    _key_of("metrics") | _key_of("params") | _key_of("tags")
    | st.sampled_from(["start_time", "end_time", "name", "status", "run_id", "experiment_id"]),
    st.sampled_from(["", " ASC", " desc"]),
).map("".join)

_columns = (_key_of("metrics") | _key_of("params") | _key_of("tags")
            | st.sampled_from(["params.lr", "metrics.val.loss", "tags.mc.user"]))

schemathesis.openapi.format("modelcycle-filter", _filters | st.just(""))
schemathesis.openapi.format("modelcycle-column", _columns)
schemathesis.openapi.format("modelcycle-order-by", _orders)
# Only the server makes page tokens; '' asks for the first page.
schemathesis.openapi.format("modelcycle-page-token", st.just(""))


# ---------------------------------------------------------------------- failures that are not the server's
def _names_a_body_value(case, response) -> bool:
    """A 404 about something the body names (the run a model version is registered from), not
    about the resource of the path, which the earlier call created."""
    try:
        message = json.loads(response.content)["message"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(case.body, dict) and any(  # named as they are, or as their repr()
        isinstance(v, str) and v and (v in message or repr(v) in message) for v in case.body.values())


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    kind = type(failure).__name__
    if kind == "RejectedPositiveData" and case.operation.label == "POST /api/datasets/{name}/versions":
        # An upload is valid only when meta.digest is the digest of the Parquet file in `data`,
        # which no schema can say; the dataset tests upload real ones.
        return False
    if kind == "EnsureResourceAvailability" and response.status_code == 404 and _names_a_body_value(case, response):
        return False
    if kind == "RejectedPositiveData" and case.operation.label in _X_RANGES and _start_after_end(case):
        # start must not be after end, which no schema can say of two fields.
        return False
    return True


_X_RANGES = {"GET /api/runs/{run_id}/metrics/history", "POST /api/metrics/history"}


def _start_after_end(case) -> bool:
    values = case.query if case.operation.label.startswith("GET") else case.body
    if not isinstance(values, dict):
        return False
    try:
        return float(values["start"]) > float(values["end"])
    except (KeyError, TypeError, ValueError):
        return False
