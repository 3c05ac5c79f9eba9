"""The filter parser on its own: trees, quoting, and errors that point at the position."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle import InvalidInput
from modelcycle.store.search import BoolOp, Comparison, Field, Not, parse_filter, parse_order_by


def test_precedence_and_grouping():
    tree = parse_filter("metrics.a > 1 or metrics.b < 2 and not params.c = 'x'")
    assert tree == BoolOp("or", (
        Comparison(Field("metric", "a"), ">", 1.0),
        BoolOp("and", (Comparison(Field("metric", "b"), "<", 2.0),
                       Not(Comparison(Field("param", "c"), "=", "x")))),
    ))
    grouped = parse_filter("(metrics.a > 1 or metrics.b < 2) and tags.t != 'y'")
    assert isinstance(grouped, BoolOp) and grouped.op == "and"


@pytest.mark.parametrize("text, field", [
    ("metrics.`val loss` > 1", Field("metric", "val loss")),
    ('metrics."val.loss" > 1', Field("metric", "val.loss")),
    ("metrics.val.loss > 1", Field("metric", "val.loss")),
    ("attributes.status = 'RUNNING'", Field("attribute", "status")),
    ("run_name = 'x'", Field("attribute", "name")),
])
def test_fields_and_quoting(text, field):
    assert parse_filter(text).field == field


def test_values_and_operators():
    assert parse_filter("params.m in ('a', \"b\", 3)").value == ("a", "b", "3")
    assert parse_filter("params.m not like 'x%'").op == "not like"
    assert parse_filter("tags.t is not null").op == "is not null"
    assert parse_filter("status = 'finished'").value == "FINISHED"
    assert parse_filter("metrics.m = -1.5e-3").value == -0.0015
    assert math.isnan(parse_filter("metrics.m = nan").value)
    assert parse_filter("name = 'it''s'").value == "it's"
    assert parse_filter("start_time > '1970-01-01T00:00:01'").value == 1000.0
    assert parse_filter("") is None and parse_filter("   ") is None


@pytest.mark.parametrize("text, position, words", [
    ("metrics.auc >", 13, "expected a value"),
    ("metrics.auc > 0.9 and", 21, "expected a field"),
    ("(metrics.a > 1", 14, "')'"),
    ("metrics.a > 1)", 13, "expected 'and', 'or'"),
    ("name = 'open", 7, "unterminated string"),
    ("bogus = 1", 0, "unknown attribute"),
    ("metrics.a like 'x'", 10, "metrics are numbers"),
    ("params.a > 3", 9, "params are text"),
    ("metrics.a = 'x'", 10, "compare it with a number"),
    ("nope.x = 1", 0, "unknown field kind"),
    ("start_time > 'yesterday'", 11, "ISO dates"),
])
def test_errors_point_at_the_problem(text, position, words):
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    message = str(caught.value)
    assert f"position {position}:" in message and words in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") - 2 == position  # the caret sits under the problem


def test_order_by():
    keys = parse_order_by(["metrics.auc DESC", "params.model", "start_time asc"])
    assert [(k.field.key, k.ascending) for k in keys] == [("auc", False), ("model", True), ("start_time", True)]
    with pytest.raises(InvalidInput):
        parse_order_by(["metrics.auc sideways"])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("metrics.params.tags.auc=<>!()'\"` andornotinlikeisnull0123456789,-_%")),
               max_size=60))
def test_arbitrary_text_only_ever_raises_invalid_input(text):
    try:
        parse_filter(text)
    except InvalidInput:
        pass
