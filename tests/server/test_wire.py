"""What the OpenAPI schema declares a field accepts is what the store's checks accept.

Each declared schema is compared with the check that enforces it, on generated text that leans
towards the edges: whitespace of every kind, NUL, the separators of URIs and paths, dots, case.
"""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.exceptions import InvalidInput
from modelcycle.server import wire
from modelcycle.store.entities import RunStatus, Stage, ViewType
from modelcycle.store.validation import (
    check_alias, check_artifact_path, check_audit, check_dataset_name, check_dataset_role, check_key, check_model_name,
    check_name, check_run_id, check_tag_value, check_text,
)

_edges = st.sampled_from([" ", "\t", "\n", "\x0b", "\x1c", "\x85", "\xa0", "\u2003", "\u3000", "\ufeff", "\x00",
                          "@", "/", "\\", ":", ".", "..", "a", "Z", "_", "-", "é", "ı", "0", "f"])
_texts = (st.lists(_edges | st.characters(exclude_categories=["Cs"]), max_size=8).map("".join)
          | st.sampled_from(["", ".", "..", "...", "a" * 250, "a" * 251, "x" * 1001, "0" * 32, "f" * 32]))
_words = st.sampled_from(["production", "PRODUCTION", "Production", "none", "NoNe", "staging", "archived",
                          "latest", "active", "ALL", "Deleted", "finished", "Killed", "running", "failed",
                          "champion", "fïnished", "ﬁnished", "prod", ""])


def _declared(schema: dict, value: object) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _accepted(check, value: object) -> bool:
    try:
        check(value)
    except InvalidInput:
        return False
    return True


def _artifact_path(value: str) -> str:
    return check_text("The artifact path", check_artifact_path(value))


CASES = {
    "name": (wire.NAME, lambda v: check_name("experiment", v)),
    "key": (wire.KEY, lambda v: check_key("tag", v)),
    "user": (wire.NAME, lambda v: check_audit(v, "")),
    "model name": (wire.MODEL_NAME, check_model_name),
    "dataset name": (wire.DATASET_NAME, check_dataset_name),
    "alias": (wire.ALIAS, check_alias),
    "run id": (wire.RUN_ID, check_run_id),
    "dataset role": (wire.ROLE, check_dataset_role),
    "tag value": (wire.LONG_TEXT, lambda v: check_tag_value("k", v)),
    "text": (wire.TEXT, lambda v: check_text("The text", v)),
    "artifact path": (wire.ARTIFACT_PATH, _artifact_path),
    "folder": (wire.FOLDER, lambda v: check_artifact_path(v, allow_root=True)),
    "stage": (wire.STAGE, Stage.parse),
    "view": (wire.VIEW, ViewType.parse),
    "status": (wire.STATUS, RunStatus.parse),
}


@pytest.mark.parametrize("what", CASES)
@settings(max_examples=300, deadline=None)
@given(value=_texts | _words | _words.map(lambda w: w + "\n"))
def test_the_declared_schema_is_what_the_store_checks(what, value):
    schema, check = CASES[what]
    assert _declared(schema, value) == _accepted(check, value), (what, value)


@pytest.mark.parametrize("value, valid", [
    ("a", True), (" a ", True), ("   ", False), ("", False), ("\u3000", False), ("a\x00", False),
    ("a" * 250, True), ("a" * 251, False),
])
def test_a_name_is_declared_as_non_blank_text_without_nul(value, valid):
    assert _declared(wire.NAME, value) is valid


def test_the_declared_numbers_are_the_stores_bounds():
    assert _declared(wire.VERSION, 1) and not _declared(wire.VERSION, 0) and not _declared(wire.VERSION, 2**31)
    assert _declared(wire.INT64, -(2**63)) and _declared(wire.INT64, 2**63 - 1)
    assert not _declared(wire.INT64, 2**63) and not _declared(wire.INT64, True)
    assert _declared(wire.EXPERIMENT_ID, -(2**31)) and not _declared(wire.EXPERIMENT_ID, 2**31)
    for value in (1.5, "NaN", "Infinity", "-Infinity", 0):
        assert _declared(wire.METRIC_VALUE, value)
    for value in ("nan", "1.5", None, True):
        assert not _declared(wire.METRIC_VALUE, value)
