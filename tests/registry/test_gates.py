"""Promotion gates on real runs: models trained on the breast cancer data, scored by ROC AUC on
a logged eval dataset, registered, and promoted (or refused) by mc.promote. Also lineage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.registry import GateResult, PromotionPolicy, PromotionRefused, get_promotion_policy

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)

NAME = "cancer"
AUC = PromotionPolicy(metric="roc_auc", min_delta=0.001)


@pytest.fixture(scope="module")
def split():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _stump():
    return DecisionTreeClassifier(max_depth=1, random_state=0)


def _logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _candidate(split, model, *, columns=None, eval_rows=None, log_auc=True, log_eval=True,
               extra_column=False, tags=None) -> tuple[int, float]:
    """Train, score on the eval set, log all of it in one run and register the model: (version, AUC)."""
    X_train, X_test, y_train, y_test = split
    columns = list(columns or X_train.columns)
    if extra_column:
        X_train, X_test = (X.assign(noise=np.linspace(0, 1, len(X))) for X in (X_train, X_test))
        columns.append("noise")
    if eval_rows is not None:
        X_test, y_test = X_test.iloc[:eval_rows], y_test.iloc[:eval_rows]
    with mc.start_run(experiment="gates", tags=tags) as run:
        if log_eval:
            mc.log_dataset(X_test.assign(target=y_test.to_numpy()), "cancer-eval", role="eval")
        model.fit(X_train[columns], y_train)
        auc = roc_auc_score(y_test, model.predict_proba(X_test[columns])[:, 1])
        if log_auc:
            mc.log_metric("roc_auc", auc)
        info = mc.log_model(model, "model", input_example=X_test[columns].head(10), onnx=False)
    return mc.register_model(info, NAME).version, auc


def _stages(client) -> dict[int, str]:
    return {v.version: v.stage.value for v in client.store.list_model_versions(NAME)}


def _refused(version: int, policy: PromotionPolicy | None, client) -> PromotionRefused:
    before = client.store.model_history(NAME)
    with pytest.raises(PromotionRefused) as caught:
        mc.promote(NAME, version, policy=policy)
    assert isinstance(caught.value, mc.Conflict)
    assert client.store.model_history(NAME) == before  # a refusal writes nothing
    return caught.value


def test_the_first_promotion_has_nothing_to_compare_against(tracking, split):
    version, _ = _candidate(split, _stump())
    promotion = mc.promote(NAME, version, policy=AUC)
    assert promotion.version.stage is mc.Stage.PRODUCTION and not promotion.forced
    assert (promotion.gates.champion, promotion.gates.results, promotion.gates.ok) == (None, [], True)


def test_a_better_candidate_passes_and_one_not_better_enough_is_refused(tracking, split):
    champion, old = _candidate(split, _stump())
    mc.promote(NAME, champion)
    candidate, new = _candidate(split, _logistic())
    delta = new - old
    assert delta > 0.02  # the logistic regression is the better model on this split

    strict = PromotionPolicy(metric="roc_auc", min_delta=round(delta + 0.01, 4))
    refusal = _refused(candidate, strict, tracking)
    assert f"needs {strict.min_delta:+.6g} or more" in str(refusal)
    assert _stages(tracking) == {1: "Production", 2: "None"}

    promotion = mc.promote(NAME, candidate, policy=PromotionPolicy(metric="roc_auc", min_delta=round(delta / 2, 4)))
    assert promotion.version.stage is mc.Stage.PRODUCTION and not promotion.forced
    report = promotion.gates
    assert (report.name, report.candidate, report.champion, report.ok) == (NAME, 2, 1, True)
    assert [(r.rule, r.passed) for r in report.results] == [("metric", True), ("signature", True)]
    assert report.results[0].detail == (
        f"roc_auc {new:.6g} vs {old:.6g} of version 1 on cancer-eval@1: {delta:+.6g} (higher is better), "
        f"needs {round(delta / 2, 4):+.6g} or more")
    assert _stages(tracking) == {1: "Archived", 2: "Production"}


def test_a_worse_candidate_is_refused_naming_the_rule_and_both_numbers(tracking, split):
    champion, old = _candidate(split, _logistic())
    mc.promote(NAME, champion)
    candidate, new = _candidate(split, _stump())
    delta = new - old
    assert delta < 0

    refusal = _refused(candidate, AUC, tracking)
    message = str(refusal)
    assert message.startswith(f"Version 2 of '{NAME}' was not promoted to Production: metric: roc_auc ")
    for part in (f"{new:.6g}", f"{old:.6g}", f"{delta:+.6g}", "needs +0.001 or more", "force=True"):
        assert part in message, part
    report = refusal.report
    assert (report.candidate, report.champion, report.ok) == (2, 1, False)
    assert [(r.rule, r.passed) for r in report.failures] == [("metric", False)]
    assert [r.rule for r in report.results] == ["metric", "signature"]
    assert _stages(tracking) == {1: "Production", 2: "None"}

    # A negative min_delta lets a candidate be that much worse; lower-is-better turns the sign.
    allowed = PromotionPolicy(metric="roc_auc", min_delta=round(delta - 0.001, 4))
    assert mc.promote(NAME, candidate, policy=allowed).gates.ok
    mc.rollback(NAME)
    assert mc.promote(NAME, candidate, policy=PromotionPolicy(metric="roc_auc", higher_is_better=False)).gates.ok


def test_different_eval_datasets_are_refused(tracking, split):
    champion, _ = _candidate(split, _stump())
    mc.promote(NAME, champion)
    candidate, _ = _candidate(split, _logistic(), eval_rows=100)  # another eval set: cancer-eval@2
    refusal = _refused(candidate, AUC, tracking)
    (failure,) = refusal.report.failures
    assert failure.rule == "metric"
    assert failure.detail == ("version 2 was evaluated on cancer-eval@2 and version 1 on cancer-eval@1; "
                              "compare them on the same data")

    unlabelled, _ = _candidate(split, _logistic(), log_eval=False)
    (failure,) = _refused(unlabelled, AUC, tracking).report.failures
    assert "run of version 3 recorded no dataset with role 'eval'" in failure.detail
    assert "mc.log_dataset(data, name, role='eval')" in failure.detail


def test_a_missing_metric_is_refused(tracking, split):
    champion, _ = _candidate(split, _stump())
    mc.promote(NAME, champion)
    candidate, _ = _candidate(split, _logistic(), log_auc=False)
    refusal = _refused(candidate, AUC, tracking)
    assert refusal.report.failures == [GateResult("metric", False, "the run of version 2 has no value for 'roc_auc'")]
    assert "the run of version 2 has no value for 'roc_auc'" in str(refusal)


def test_a_candidate_that_needs_a_column_the_champion_does_not_take_is_refused(tracking, split):
    champion, _ = _candidate(split, _logistic())
    mc.promote(NAME, champion)
    wider, _ = _candidate(split, _logistic(), extra_column=True)
    refusal = _refused(wider, PromotionPolicy(), tracking)  # the signature gate alone
    assert [(r.rule, r.detail) for r in refusal.report.failures] == [
        ("signature", "the candidate needs column 'noise', which the current version does not take")]
    assert "signature: the candidate needs column 'noise'" in str(refusal)

    # Taking fewer columns is fine: callers of the champion send more, and extras are dropped.
    X_train = split[0]
    narrower, _ = _candidate(split, _logistic(), columns=list(X_train.columns[:10]))
    promotion = mc.promote(NAME, narrower, policy=PromotionPolicy())
    assert [(r.rule, r.passed) for r in promotion.gates.results] == [("signature", True)]
    assert mc.promote(NAME, wider, policy=PromotionPolicy(check_signature=False)).gates.ok


def test_required_tags(tracking, split):
    policy = PromotionPolicy(required_tags=["validated", "reviewed"])
    assert policy.required_tags == ("validated", "reviewed")
    version, _ = _candidate(split, _stump())
    (failure,) = _refused(version, policy, tracking).report.failures
    assert (failure.rule, failure.detail) == ("tags", "missing tags validated, reviewed")
    tracking.store.set_model_version_tag(NAME, version, "validated", "2024-05-01")
    (failure,) = _refused(version, policy, tracking).report.failures
    assert failure.detail == "missing tag reviewed"
    tracking.store.set_model_version_tag(NAME, version, "reviewed", "ana")
    promotion = mc.promote(NAME, version, policy=policy)
    assert promotion.gates.results == [GateResult("tags", True, "has validated, reviewed")]
    assert promotion.version.stage is mc.Stage.PRODUCTION


def test_a_gated_promotion_records_the_numbers_it_passed_with(tracking, split):
    champion, _ = _candidate(split, _stump())
    mc.promote(NAME, champion)
    candidate, _ = _candidate(split, _logistic())
    promotion = mc.promote(NAME, candidate, policy=AUC, reason="weekly retrain")
    assert promotion.gates.ok and not promotion.forced
    entry = tracking.store.model_history(NAME)[-1]
    assert (entry.version, entry.to_value, entry.forced) == (candidate, "Production", False)
    passed = "; ".join(f"{r.rule}: {r.detail}" for r in promotion.gates.results)
    assert entry.reason == f"weekly retrain [gates passed: {passed}]"
    assert "metric: roc_auc" in entry.reason


def test_force_promotes_past_the_gates_and_the_audit_log_says_what_it_overrode(tracking, split):
    champion, _ = _candidate(split, _logistic())
    mc.promote(NAME, champion)
    candidate, _ = _candidate(split, _stump())
    refusal = _refused(candidate, AUC, tracking)

    promotion = mc.promote(NAME, candidate, policy=AUC, force=True, reason="hotfix for ticket 7")
    assert promotion.forced and not promotion.gates.ok
    assert promotion.version.stage is mc.Stage.PRODUCTION
    assert _stages(tracking) == {1: "Archived", 2: "Production"}
    *_, demotion, entry = tracking.store.model_history(NAME)
    assert (entry.action, entry.version, entry.from_value, entry.to_value) == ("stage", 2, "None", "Production")
    assert entry.forced is True
    assert entry.reason == f"hotfix for ticket 7 [forced past {refusal.report.summary()}]"
    assert "metric: roc_auc" in entry.reason and "needs +0.001 or more" in entry.reason
    assert (demotion.version, demotion.forced) == (1, False)

    # Forcing a promotion that passes is not recorded as forced.
    assert not mc.promote(NAME, champion, policy=PromotionPolicy(), force=True).forced


def test_the_stored_policy_is_used_by_promote(tracking, split):
    champion, old = _candidate(split, _stump())
    assert get_promotion_policy(NAME) == PromotionPolicy()  # none stored: no gates
    mc.promote(NAME, champion)
    candidate, new = _candidate(split, _logistic())
    assert new - old < 0.5

    stored = mc.set_promotion_policy(NAME, metric="roc_auc", min_delta=0.5, required_tags=["validated"])
    assert stored == PromotionPolicy(metric="roc_auc", min_delta=0.5, required_tags=("validated",))
    assert get_promotion_policy(NAME) == stored
    raw = json.loads(tracking.store.get_registered_model(NAME).tags["mc.promotion_policy"])
    assert raw["metric"] == "roc_auc" and raw["min_delta"] == 0.5 and raw["required_tags"] == ["validated"]

    refusal = _refused(candidate, None, tracking)
    assert [r.rule for r in refusal.report.failures] == ["tags", "metric"]
    assert "needs +0.5 or more" in str(refusal) and "missing tag validated" in str(refusal)

    mc.set_promotion_policy(NAME, PromotionPolicy(metric="roc_auc", min_delta=0.01))
    assert mc.promote(NAME, candidate).gates.ok
    assert _stages(tracking) == {1: "Archived", 2: "Production"}


def test_malformed_policies_are_refused(tracking):
    for rules in ({"metric": ""}, {"metric": 3}, {"min_delta": float("nan")}, {"min_delta": "0.1"},
                  {"min_delta": True}, {"required_tags": "validated"}, {"required_tags": [1]}):
        with pytest.raises(mc.InvalidInput):
            PromotionPolicy(**rules)
    with pytest.raises(mc.InvalidInput, match="stored promotion policy is malformed"):
        PromotionPolicy.from_json('{"metric": "roc_auc", "threshold": 1}')


POLICY_ERRORS = {  # rules: the message, as scikit-learn words its parameter errors
    "truthy-text": ({"higher_is_better": "false"},
                    "The 'higher_is_better' parameter of PromotionPolicy must be an instance of 'bool'. "
                    "Got 'false' instead."),
    "int-for-bool": ({"check_signature": 1},
                     "The 'check_signature' parameter of PromotionPolicy must be an instance of 'bool'. Got 1 instead."),
    "empty-role": ({"eval_role": ""},
                   "The 'eval_role' parameter of PromotionPolicy must be a dataset role (1 to 50 letters, digits, "
                   "'_', '.' or '-'), such as 'eval'. Got '' instead."),
    "role-with-space": ({"eval_role": "hold out"}, "The 'eval_role' parameter of PromotionPolicy must be a dataset "
                                                   "role"),
    "empty-metric": ({"metric": ""},
                     "The 'metric' parameter of PromotionPolicy must be a metric key (a non-empty str) or None. "
                     "Got '' instead."),
    "nan-delta": ({"min_delta": float("nan")},
                  "The 'min_delta' parameter of PromotionPolicy must be a finite real number. Got nan instead."),
    "text-delta": ({"min_delta": "0.1"}, "The 'min_delta' parameter of PromotionPolicy must be a finite real "
                                         "number. Got '0.1' instead."),
    "one-tag-as-text": ({"required_tags": "validated"},
                        "The 'required_tags' parameter of PromotionPolicy must be a list of tag keys (non-empty "
                        "str). Got 'validated' instead."),
    "blank-tag": ({"required_tags": ["validated", " "]}, "The 'required_tags' parameter of PromotionPolicy must be "
                                                          "a list of tag keys"),
    "unknown-keyword": ({"threshold": 0.9},
                        "PromotionPolicy has no parameter 'threshold'. Its parameters are metric, higher_is_better, "
                        "min_delta, eval_role, required_tags, check_signature and significance."),
}


@pytest.mark.parametrize("case", POLICY_ERRORS)
def test_policy_parameters_are_validated_like_scikit_learn_does(tracking, case):
    rules, message = POLICY_ERRORS[case]
    with pytest.raises(mc.InvalidInput) as caught:
        PromotionPolicy(**rules)
    assert str(caught.value).startswith(message)
    with pytest.raises(mc.InvalidInput) as caught:
        mc.set_promotion_policy(NAME, **rules)
    assert str(caught.value).startswith(message)
    with pytest.raises(mc.NotFound):
        tracking.store.get_registered_model(NAME)  # nothing stored


def test_valid_policy_parameters_are_normalised(tracking):
    policy = PromotionPolicy("roc_auc", np.bool_(False), np.float32(0.5), "hold-out.v2", ["validated"], True)
    assert policy == PromotionPolicy(metric="roc_auc", higher_is_better=False, min_delta=0.5,
                                     eval_role="hold-out.v2", required_tags=("validated",))
    assert type(policy.higher_is_better) is bool and type(policy.min_delta) is float
    assert PromotionPolicy.from_json(policy.to_json()) == policy
    with pytest.raises(mc.InvalidInput, match="either a PromotionPolicy or rules"):
        mc.set_promotion_policy(NAME, policy, metric="accuracy")
    with pytest.raises(mc.InvalidInput, match="The 'policy' parameter of set_promotion_policy must be a "
                                              "PromotionPolicy or None. Got {'metric': 'auc'} instead."):
        mc.set_promotion_policy(NAME, {"metric": "auc"})


def test_lineage_goes_from_version_to_run_datasets_and_commit(tracking, split):
    X_train, X_test, y_train, y_test = split
    commit = "3f786850e387550fdab836ed7e6dc881de23001b"
    git = {"mc.source.git.commit": commit, "mc.source.git.dirty": "false", "mc.source.git.branch": "main",
           "mc.source.git.repo": "/src/cancer", "mc.source.entry_point": "/src/cancer/train.py"}
    model = _logistic().fit(X_train, y_train)
    with mc.start_run(experiment="lineage", name="train-lr", tags=git) as run:
        mc.log_dataset(X_train, "cancer-train", role="train")
        mc.log_dataset(X_test, "cancer-eval", role="eval")
        mc.log_params({"C": 1.0, "scaler": "standard"})
        mc.log_metric("roc_auc", 0.99)
        mc.log_model(model, "model", input_example=X_test.head(5), onnx=False, registered_model_name=NAME)
    mc.set_alias(NAME, "champion", 1)
    got = mc.lineage(f"{NAME}@champion")
    assert {k: v for k, v in got.items() if k not in ("run", "datasets")} == {
        "model": NAME, "version": 1, "stage": "None", "aliases": ["champion"],
        "source": f"runs:/{run.id}/model",
        "code": {"commit": commit, "dirty": "false", "repo": "/src/cancer", "branch": "main",
                 "entry_point": "/src/cancer/train.py"}}
    assert got["run"] == {"id": run.id, "name": "train-lr", "experiment": "lineage", "status": "FINISHED",
                          "parent_id": None, "params": {"C": "1.0", "scaler": "standard"},
                          "metrics": {"roc_auc": 0.99}}
    assert sorted(got["datasets"], key=lambda d: d["role"]) == [
        {"dataset": "cancer-eval@1", "role": "eval"}, {"dataset": "cancer-train@1", "role": "train"}]
    assert mc.lineage(f"models:/{NAME}/1") == got
    json.dumps(got)  # plain data

    # A child run of a sweep that logged no data of its own: the parent's datasets.
    with mc.start_run(experiment="lineage", name="sweep") as parent:
        mc.log_dataset(X_train, "cancer-train", role="train")
        with mc.start_run(name="trial-1", nested=True) as child:
            mc.log_model(model, "model", input_example=X_test.head(5), onnx=False, registered_model_name=NAME)
    child_lineage = mc.lineage(f"{NAME}@2")
    assert child_lineage["run"]["id"] == child.id and child_lineage["run"]["parent_id"] == parent.id
    assert child_lineage["datasets"] == [{"dataset": "cancer-train@1", "role": "train"}]
    with pytest.raises(mc.NotFound):
        mc.lineage(f"{NAME}@production")
