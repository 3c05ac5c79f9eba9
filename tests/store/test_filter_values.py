"""What the literals of a filter compare with: numbers keep their text when compared with params
and tags, integers compare exactly with integer attributes, infinities parse with a sign, and a
NaN metric follows one rule wherever the comparison stands. On every backend."""

from __future__ import annotations

import math

import pytest

from modelcycle import Metric

BIG = 2**53 + 1  # the first integer a float cannot hold


@pytest.fixture
def runs(store):
    exp = store.create_experiment("values").id
    made = {}
    for name, params, m, start in [
        ("one-point-zero", {"alpha": "1.0", "big": "12345678901234567891"}, 1.0, BIG),
        ("one", {"alpha": "1", "big": "12345678901234567890"}, -math.inf, BIG - 1),
        ("exp", {"alpha": "1e3"}, math.inf, BIG + 1),
        ("nan", {"alpha": "+7"}, math.nan, 1),
        ("none", {}, None, 2),
    ]:
        run = store.create_run(exp, name=name, start_time=start, tags=params)
        store.log_batch(run.id, [Metric("m", m, 0, 1)] if m is not None else [], params)
        made[name] = run.id
    return made


def _names(store, text: str) -> list[str]:
    return sorted(r.name for r in store.search_runs(None, text).runs)


@pytest.mark.parametrize("text, expected", [
    ("params.alpha = 1.0", ["one-point-zero"]),
    ("params.alpha = 1", ["one"]),
    ("params.alpha = 1e3", ["exp"]),
    ("params.alpha = +7", ["nan"]),
    ("params.alpha in (1.0, 1e3)", ["exp", "one-point-zero"]),
    ("params.alpha != 1.0", ["exp", "nan", "one"]),
    ("params.big = 12345678901234567891", ["one-point-zero"]),
    ("params.big = 12345678901234567890", ["one"]),
    ("tags.alpha = 1.0", ["one-point-zero"]),
    ("tags.big in (12345678901234567891)", ["one-point-zero"]),
    ("name = 'one' or params.alpha = 1.0", ["one", "one-point-zero"]),  # inside an `or` too
])
def test_a_number_compared_with_text_keeps_its_text(store, runs, text, expected):
    assert _names(store, text) == expected


@pytest.mark.parametrize("text, expected", [
    (f"start_time = {BIG}", ["one-point-zero"]),
    (f"start_time > {BIG - 1}", ["exp", "one-point-zero"]),
    (f"start_time in ({BIG - 1}, {BIG + 1})", ["exp", "one"]),
    (f"start_time >= {BIG} and start_time < {BIG + 1}", ["one-point-zero"]),
    (f"start_time < {2**64}", ["exp", "nan", "none", "one", "one-point-zero"]),  # past 64 bits
])
def test_integers_compare_exactly_with_integer_attributes(store, runs, text, expected):
    assert _names(store, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("metrics.m = -inf", ["one"]),
    ("metrics.m = -Infinity", ["one"]),
    ("metrics.m = +inf", ["exp"]),
    ("metrics.m = inf", ["exp"]),
    ("metrics.m > -inf", ["exp", "one-point-zero"]),
    ("metrics.m in (-inf, inf)", ["exp", "one"]),
    ("metrics.m < +infinity and metrics.m > -infinity", ["one-point-zero"]),
    ("metrics.m = -nan", ["nan"]),
])
def test_signed_infinities_and_nan_parse(store, runs, text, expected):
    assert _names(store, text) == expected


NAN_RULE = [
    # A NaN metric equals nan and nothing else, and is neither less nor greater than any number:
    # `!=` and `not in` are true wherever `=` and `in` are false, for a run that has the key.
    ("metrics.m != 1", ["exp", "nan", "one"]),
    ("metrics.m not in (1)", ["exp", "nan", "one"]),
    ("not metrics.m = 1", ["exp", "nan", "none", "one"]),  # `not` also takes in runs without it
    ("not metrics.m in (1)", ["exp", "nan", "none", "one"]),
    ("metrics.m != nan", ["exp", "one", "one-point-zero"]),
    ("metrics.m not in (nan)", ["exp", "one", "one-point-zero"]),
    ("metrics.m not in (nan, 1)", ["exp", "one"]),
    ("not metrics.m not in (nan, 1)", ["nan", "none", "one-point-zero"]),
    ("not metrics.m in (nan, 1)", ["exp", "none", "one"]),
    ("not metrics.m != nan", ["nan", "none"]),
    ("metrics.m = nan", ["nan"]),
    ("metrics.m in (nan, 1)", ["nan", "one-point-zero"]),
    ("metrics.m < inf or metrics.m >= inf", ["exp", "one", "one-point-zero"]),
    ("not metrics.m < 2", ["exp", "nan", "none"]),
    ("metrics.m != inf", ["nan", "one", "one-point-zero"]),
]


@pytest.mark.parametrize("text, expected", NAN_RULE)
def test_nan_follows_one_rule(store, runs, text, expected):
    assert _names(store, text) == expected


@pytest.mark.parametrize("text, expected", NAN_RULE)
def test_nan_follows_the_same_rule_inside_or_and_not(store, runs, text, expected):
    """Top-level comparisons become joins and nested ones subqueries: both give one answer."""
    assert _names(store, f"({text}) or metrics.never = 1") == expected
    everyone = ["exp", "nan", "none", "one", "one-point-zero"]
    assert _names(store, f"not not ({text})") == expected
    assert _names(store, f"not ({text})") == [n for n in everyone if n not in expected]
