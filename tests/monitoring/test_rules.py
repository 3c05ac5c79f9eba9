"""Alert rules: the expression language, its errors pointing at the problem, templates, hysteresis
and the YAML file."""

from __future__ import annotations

import math

import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring.rules import (
    DEFAULT_MIN_ROWS, Rule, RuleSyntaxError, default_rules, holds, load_rules, parse_expr, render, to_text, value_of,
)


def test_expressions_over_metrics_references_arithmetic_and_logic():
    values = {"drift_share": 0.4, "roc_auc": 0.81, "drift_score.x1": 0.2, "error_rate": 0.0, "class_share.1": 0.3}
    reference = {"roc_auc": 0.9}
    cases = {
        "drift_share >= 0.3": True,
        "drift_share >= 0.3 and error_rate > 0.01": False,
        "drift_share >= 0.5 or error_rate == 0": True,
        "not (drift_share > 0.3)": False,
        "roc_auc < reference.roc_auc - 0.05": True,
        "roc_auc < reference.roc_auc * 0.9 - 0.01": False,  # 0.81 < 0.80
        "abs(roc_auc - reference.roc_auc) > 0.05 and max(drift_score.x1, 0.1) == 0.2": True,
        "`class_share.1` != 0.3": False,
        "-drift_share < -0.35": True,
        "2 * (drift_share + 0.1) / 2 >= 0.5": True,
    }
    for text, expected in cases.items():
        assert holds(parse_expr(text), values, reference) is expected, text
    assert value_of(parse_expr("roc_auc < reference.roc_auc - 0.05").right, values, reference) == pytest.approx(0.85)


def test_a_missing_or_nan_value_makes_a_comparison_unknown_not_false():
    node = parse_expr("roc_auc < reference.roc_auc - 0.05")
    assert holds(node, {"roc_auc": 0.5}, {}) is None
    assert holds(node, {"roc_auc": math.nan}, {"roc_auc": 0.9}) is None
    assert holds(parse_expr("a > 1 and b > 1"), {"a": 0.0}, {}) is False  # false whatever b is
    assert holds(parse_expr("a > 1 or b > 1"), {"a": 2.0}, {}) is True
    assert holds(parse_expr("a > 1 or b > 1"), {"a": 0.0}, {}) is None
    assert holds(parse_expr("not (b > 1)"), {}, {}) is None
    assert holds(parse_expr("a / b > 1"), {"a": 1.0, "b": 0.0}, {}) is None  # no division by zero


@pytest.mark.parametrize("text, position, problem", [
    ("drift_share >", 13, "expected a metric"),
    ("drift_share = 0.3", 12, "write '=='"),
    ("drift_share > 0.3 > 0.1", 18, "do not chain"),
    ("drift_share", 0, "a number, not a condition"),
    ("drift_share > 0.3 and error_rate", 18, "joins conditions"),
    ("(drift_share > 0.3", 18, "expected ')'"),
    ("drift_share > 0.3 error_rate", 18, "expected an operator"),
    ("drift_share > 0.3 # comment", 18, "unexpected character '#'"),
    ("median(latency_p99_ms) > 1", 0, "unknown function 'median'"),
    ("abs(roc_auc, 1) > 1", 0, "abs() takes 1 argument"),
    ("reference > 1", 0, "reference takes a metric name"),
    ("(a > 1) + 1 > 2", 8, "takes numbers, not conditions"),
    ("", 0, "empty"),
])
def test_a_malformed_expression_is_refused_with_the_position_of_the_problem(text, position, problem):
    with pytest.raises(RuleSyntaxError) as caught:
        parse_expr(text)
    assert caught.value.position == position
    assert problem in str(caught.value)
    assert isinstance(caught.value, InvalidInput)
    lines = str(caught.value).splitlines()
    assert lines[1] == f"  {text}" and lines[2] == "  " + " " * position + "^"


def test_written_back_it_parses_to_the_same_tree():
    for text in ("drift_share >= 0.3 and not (a < 2 or b > 3)", "roc_auc < reference.roc_auc - 0.05 * 2",
                 "max(a, b, -c) != abs(d / 2)"):
        node = parse_expr(text)
        assert parse_expr(to_text(node)) == node


def test_templates_fill_value_threshold_and_labels_and_are_checked_when_loaded():
    context = {"value": 0.4567, "threshold": 0.3, "labels": {"model": "fraud", "version": "2"}, "rule": "drift"}
    assert render("{{ $labels.model }} v{{$labels.version}}: {{ $value }} over {{ $threshold }}", context) == \
        "fraud v2: 0.4567 over 0.3"
    assert render('{{ $value | humanizePercentage }} / {{ $value | printf "%.2f" }} / {{ $rule }}', context) == \
        "45.67% / 0.46 / drift"
    assert render("{{ $value | humanize }}", {"value": 12345.0}) == "12.35k"
    assert render("{{ $value | humanizeDuration }}", {"value": 5400.0}) == "1.5h"
    assert render("{{ $labels.missing }}!", context) == "!"
    with pytest.raises(RuleSyntaxError, match="unknown value '\\$valeu'") as caught:
        Rule.create("drift", "drift_share > 0.3", annotations={"summary": "at {{ $valeu }}"})
    assert caught.value.position == 6
    with pytest.raises(RuleSyntaxError, match="unknown function 'upper'"):
        Rule.create("drift", "drift_share > 0.3", annotations={"summary": "{{ $value | upper }}"})
    with pytest.raises(RuleSyntaxError, match="not closed"):
        Rule.create("drift", "drift_share > 0.3", labels={"team": "{{ $value"})


def test_hysteresis_resolves_past_the_firing_threshold_only():
    rule = Rule.create("drift", "drift_share >= 0.3", resolve_threshold=0.2)
    assert holds(rule.resolve_condition, {"drift_share": 0.25}, {}) is False  # still firing
    assert holds(rule.resolve_condition, {"drift_share": 0.19}, {}) is True
    flipped = Rule.create("auc", "0.8 > roc_auc", resolve_threshold=0.85)
    assert holds(flipped.resolve_condition, {"roc_auc": 0.83}, {}) is False
    assert holds(flipped.resolve_condition, {"roc_auc": 0.86}, {}) is True
    with pytest.raises(InvalidInput, match="at or below its firing threshold 0.3"):
        Rule.create("drift", "drift_share >= 0.3", resolve_threshold=0.4)
    with pytest.raises(InvalidInput, match="Use resolve_when"):
        Rule.create("drift", "drift_share >= 0.3 and error_rate > 0", resolve_threshold=0.2)
    with pytest.raises(InvalidInput, match="both"):
        Rule.create("drift", "drift_share >= 0.3", resolve_threshold=0.2, resolve_when="drift_share < 0.1")
    when = Rule.create("drift", "drift_share >= 0.3 and error_rate > 0", resolve_when="drift_share < 0.1")
    assert holds(when.resolve_condition, {"drift_share": 0.15}, {}) is False


def test_rules_from_yaml_with_every_field(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""
min_rows: 500
rules:
  - name: error-rate
    expr: error_rate > 0.01
    for: 5m
    severity: critical
  - name: drift
    expr: drift_share >= 0.3
    resolve_threshold: 0.2
    for: 2h
    keep_firing_for: 1h
    labels: {team: risk}
    annotations: {summary: "{{ $value }}"}
    actions: [retrain, rollback]
    min_rows: 1000
""")
    rules = load_rules(path)
    assert rules.min_rows == 500 and [r.name for r in rules.rules] == ["error-rate", "drift"]
    error, drift = rules.rules
    assert error.for_s == 300 and error.severity == "critical" and rules.min_rows_of(error) == 500
    assert drift.for_s == 7200 and drift.keep_firing_for_s == 3600 and drift.resolve_threshold == 0.2
    assert drift.labels == {"team": "risk"} and drift.actions == ("retrain", "rollback")
    assert rules.min_rows_of(drift) == 1000
    assert load_rules(rules.to_dict()).rules == rules.rules  # round trip
    assert load_rules(str(path)).rules == rules.rules


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - name: a\n    expr: drift_share >\n", "rules[0] (line 2): Invalid expr of rule 'a' at position 13"),
    ("rules:\n  - name: a\n    expr: x > 1\n  - name: b\n    expr: y > 1\n    for: soon\n",
     "rules[1] (line 4): for of rule 'b' is a duration"),
    ("rules:\n  - name: a\n    expr: x > 1\n    sevrity: high\n", "unknown field 'sevrity'"),
    ("rules:\n  - name: a\n    expr: x > 1\n    severity: high\n", "severity of rule 'a' is one of"),
    ("rules:\n  - name: a\n    expr: x > 1\n    actions: [page]\n", "actions of rule 'a' are a list of"),
    ("rules:\n  - expr: x > 1\n", "has no name"),
    ("rules:\n  - name: a\n    expr: x > 1\n  - name: a\n    expr: y > 1\n", "'a' is used more than once"),
    ("rules: [\n", "not valid YAML at line 2"),
    ("rulez: []\n", "a 'rules' list"),
    ("rules: []\nextra: 1\n", "Unknown top-level field 'extra'"),
    ("rules:\n  - name: a\n    expr: x > 1\n    labels: {model: b}\n", "set by the monitor"),
])
def test_a_malformed_rules_file_names_the_rule_and_where(text, message):
    with pytest.raises(InvalidInput) as caught:
        load_rules(text)
    assert message in str(caught.value)


def test_the_default_rules():
    rules = default_rules()
    assert [r.name for r in rules.rules] == ["error-rate", "p99-latency", "drift", "auc-drop"]
    assert rules.min_rows == DEFAULT_MIN_ROWS
    assert rules.reference_metrics() == ["roc_auc"]
    by_name = {r.name: r for r in rules.rules}
    assert by_name["error-rate"].for_s == 300 and by_name["p99-latency"].for_s == 600
    assert by_name["drift"].resolve_threshold == 0.2
