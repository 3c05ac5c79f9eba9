"""The promotion gates' significance option: the candidate's ROC AUC must beat Production's in
the paired test that mc.evaluate(..., baseline=...) recorded on the same eval dataset."""

from __future__ import annotations

import json

import pytest
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.registry import PromotionPolicy, PromotionRefused

NAME = "cancer"
POLICY = PromotionPolicy(metric="roc_auc", significance=0.05)


def _version(model, cancer, evaluate=True, baseline="models:/cancer@production", data="cancer-eval@1") -> int:
    train, _, features = cancer
    model = clone(model).fit(train[features], train["target"])
    with mc.start_run(experiment="gates"):
        info = mc.log_model(model, "model", input_example=train[features].head(5), onnx=False)
        if evaluate:
            mc.evaluate(model, data, "target", baseline=baseline, plots=False, report=False)
    return mc.register_model(info, NAME).version


@pytest.fixture
def champion(tracking, cancer):
    """Version 1 in Production: a one-split tree, evaluated on cancer-eval@1."""
    _, test, _ = cancer
    mc.log_dataset(test, "cancer-eval", role="eval")  # stored; no run is active to link it to
    version = _version(DecisionTreeClassifier(max_depth=1, random_state=0), cancer, baseline=None)
    mc.promote(NAME, version)
    mc.set_promotion_policy(NAME, POLICY)
    return version


@pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)
def test_a_significantly_better_model_is_promoted_and_the_detail_gives_the_test(champion, cancer, logistic):
    version = _version(logistic, cancer)
    promotion = mc.promote(NAME, version)
    assert promotion.version.stage is mc.Stage.PRODUCTION
    gate = next(r for r in promotion.gates.results if r.rule == "significance")
    assert gate.passed and "one-sided DeLong p = " in gate.detail and "needs p < 0.05" in gate.detail
    assert "of version 1 on cancer-eval@1" in gate.detail


@pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)
def test_an_improvement_that_is_not_significant_is_refused_with_its_p_value(tracking, champion, cancer):
    version = _version(DecisionTreeClassifier(max_depth=1, random_state=0), cancer)  # the champion again
    with pytest.raises(PromotionRefused) as refused:
        mc.promote(NAME, version)
    report = refused.value.report
    assert [(r.rule, r.passed) for r in report.results] == [("metric", True), ("significance", False),
                                                           ("signature", True)]
    tag = json.loads(tracking.get_run(tracking.store.get_model_version(NAME, version).run_id).tags["mc.eval.baseline"])
    assert tag["test"]["p_value_improvement"] == 1.0
    assert "one-sided DeLong p = 1, needs p < 0.05" in str(refused.value)
    assert tracking.store.get_registered_model(NAME).production_version == champion


@pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)
def test_without_a_paired_test_against_production_the_gate_says_how_to_get_one(tracking, champion, cancer, logistic):
    unevaluated = _version(logistic, cancer, evaluate=False)
    with mc.start_run(experiment="gates") as run:  # an eval dataset and AUC, but no paired test
        mc.evaluate(logistic, "cancer-eval@1", "target", plots=False, report=False)
    with pytest.raises(PromotionRefused, match="recorded no paired test against version 1; evaluate it with "
                                               r"mc.evaluate\(model, data, target, baseline='models:/cancer/1'\)"):
        mc.promote(NAME, unevaluated)
    assert run.id  # (the evaluation above is in another run: the gate reads the version's own run)

    mc.promote(NAME, _version(logistic, cancer))  # now version 3 holds Production
    stale = _version(logistic, cancer, baseline="models:/cancer/1")  # compared with the old champion
    with pytest.raises(PromotionRefused, match="was compared with version 1 of 'cancer', not with version 3"):
        mc.promote(NAME, stale)


@pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)
def test_the_test_must_be_on_the_eval_dataset(tracking, champion, cancer, logistic):
    _, test, _ = cancer
    version = _version(logistic, cancer, data="cancer-eval@1")
    run_id = tracking.store.get_model_version(NAME, version).run_id
    with mc.start_run(run_id=run_id):  # evaluated again, on rows that are not stored
        mc.evaluate(logistic, test.head(150), "target", baseline="models:/cancer@production", plots=False,
                    report=False)
    with pytest.raises(PromotionRefused, match="was on data not stored as a dataset version, not on its 'eval' "
                                               "dataset"):
        mc.promote(NAME, version)


@pytest.mark.parametrize("value, message", [
    (1.5, "The 'significance' parameter of PromotionPolicy must be a float in the range (0, 1) or None. Got 1.5"),
    (True, "must be a float in the range (0, 1) or None. Got True"),
    ("0.05", "Got '0.05' instead"),
])
def test_the_level_is_validated(value, message):
    with pytest.raises(mc.InvalidInput) as caught:
        PromotionPolicy(metric="roc_auc", significance=value)
    assert message in str(caught.value)


def test_significance_needs_roc_auc():
    with pytest.raises(mc.InvalidInput, match="needs metric='roc_auc'.*Got metric='f1'"):
        PromotionPolicy(metric="f1", significance=0.05)
    with pytest.raises(mc.InvalidInput, match="Got metric=None"):
        PromotionPolicy(significance=0.05)


def test_the_policy_round_trips_and_older_policies_still_load():
    assert PromotionPolicy.from_json(POLICY.to_json()) == POLICY
    old = json.dumps({"metric": "roc_auc", "higher_is_better": True, "min_delta": 0.0, "eval_role": "eval",
                      "required_tags": [], "check_signature": True})
    assert PromotionPolicy.from_json(old).significance is None


def _cli(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    import sys

    from modelcycle.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["modelcycle", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_cli_sets_and_shows_the_level(cancer, logistic, capsys, monkeypatch):
    _, test, features = cancer
    with mc.start_run(experiment="gates"):
        mc.register_model(mc.log_model(logistic, "model", input_example=test[features].head(5), onnx=False), NAME)
    code, out = _cli(capsys, monkeypatch, "models", "policy", NAME, "--metric", "roc_auc", "--significance", "0.01")
    assert code == 0, out
    assert "the gain must be significant at 0.01 (paired DeLong test)" in out
    assert mc.registry.get_promotion_policy(NAME).significance == 0.01
    code, out = _cli(capsys, monkeypatch, "models", "policy", NAME, "--metric", "f1", "--significance", "0.01")
    assert code == 2 and "needs metric='roc_auc'" in out and "Traceback" not in out
