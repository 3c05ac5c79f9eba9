"""Wrong values given to the strategies through the Python API are refused with InvalidInput
naming what was wrong, before anything is written; the CLI raises the same (its exit code 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from modelcycle.exceptions import InvalidInput
from modelcycle.rollout import strategies
from modelcycle.rollout.strategies import Checks

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("steps", ["nan", "5,nan", [True, 100], [], [100, 50], ["5", None], "1e999"])
def test_bad_steps_are_refused(steps):
    with pytest.raises(InvalidInput, match="[Ss]teps"):
        strategies.parse_steps(steps)


@pytest.mark.parametrize("checks", [{"max_error_rate": NAN}, {"max_error_rate": 2}, {"max_p99_increase": INF},
                                    {"min_requests": 2.5}, {"min_labels": True}, {"max_auc_drop": 1.5},
                                    {"min_p99_increase_ms": "5"}])
def test_bad_checks_are_refused(checks):
    with pytest.raises(InvalidInput, match=repr(next(iter(checks)))):
        Checks.from_dict(checks)


@pytest.mark.parametrize("text", ["checks: 5", "checks: [1, 2]", "- 1", "7"])
def test_a_checks_file_of_no_mapping_is_refused(tmp_path, text):
    path = tmp_path / "checks.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match="mapping"):
        Checks.from_yaml(path)


def test_every_strategy_refuses_wrong_values_and_writes_nothing(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    calls = {
        "canary without steps": lambda: strategies.canary(store, "fraud-web", "fraud@challenger", [], "ana"),
        "canary of falling steps": lambda: strategies.canary(store, "fraud-web", "fraud@challenger", [50, 5], "ana"),
        "canary of a NaN check": lambda: strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana",
                                                           checks=Checks(max_error_rate=NAN)),
        "shadow share as text": lambda: strategies.shadow(store, "fraud-web", "fraud@challenger", "50", "ana"),
        "shadow of the stable version": lambda: strategies.shadow(store, "fraud-web", "fraud@production", 50, "ana"),
        "blue-green to the stable version": lambda: strategies.bluegreen(store, "fraud-web", "fraud@production",
                                                                         "ana"),
        "blue-green of a negative grace": lambda: strategies.bluegreen(store, "fraud-web", "fraud@challenger", "ana",
                                                                       grace_s=-5),
        "blue-green of a NaN grace": lambda: strategies.bluegreen(store, "fraud-web", "fraud@challenger", "ana",
                                                                  grace_s=NAN),
        "weights as text": lambda: strategies.ab(store, "fraud-web", [("fraud@production", "1"),
                                                                      ("fraud@challenger", 1)], "ana"),
        "an infinite weight": lambda: strategies.ab(store, "fraud-web", [("fraud@production", INF),
                                                                         ("fraud@challenger", 1)], "ana"),
        "a NaN weight": lambda: strategies.ab(store, "fraud-web", [("fraud@production", NAN),
                                                                   ("fraud@challenger", 1)], "ana"),
        "an empty sticky key": lambda: strategies.ab(store, "fraud-web", [("fraud@production", 1),
                                                                          ("fraud@challenger", 1)], "ana", ""),
        "a sticky key of a number": lambda: strategies.ab(store, "fraud-web", [("fraud@production", 1),
                                                                               ("fraud@challenger", 1)], "ana", 5),
        "a sticky key with NUL": lambda: strategies.ab(store, "fraud-web", [("fraud@production", 1),
                                                                            ("fraud@challenger", 1)], "ana", "a\x00"),
    }
    for what, call in calls.items():
        with pytest.raises(InvalidInput) as caught:
            call()
        assert "Traceback" not in caught.value.message, what
    assert [e.kind for e in store.deployment_events("fraud-web")] == ["create"]


def test_the_cli_says_what_was_wrong(fraud_store, tmp_path):
    from modelcycle.cli import app

    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    (tmp_path / "checks.yaml").write_text("checks: 5\n")
    for args, says in ((["--steps", "nan"], "Steps"), (["--checks", str(tmp_path / "checks.yaml")], "mapping")):
        done = CliRunner().invoke(app, ["deploy", "canary", "fraud-web", "--candidate", "fraud@challenger", *args])
        assert isinstance(done.exception, InvalidInput) and says in done.exception.message, done.output
    done = CliRunner().invoke(app, ["deploy", "ab", "fraud-web", "--arms", "fraud@production=inf,fraud@challenger=1"])
    assert isinstance(done.exception, InvalidInput) and "weight" in done.exception.message, done.output
