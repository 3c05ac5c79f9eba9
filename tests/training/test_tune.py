"""mc.tune and the Optuna storage on the modelcycle store: trials as nested runs, pruning,
failures, resuming, the scikit-learn shortcut, samplers, and bad input."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import optuna
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import cross_validate as sk_cross_validate
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.training import Choice, Float, Int, RunStorage


def quadratic(trial):
    x = trial.suggest_float("x", -5, 5)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 1) ** 2 + (kind == "b")


def _trials(result):
    client = mc.Client()
    runs = client.search_all_runs(None, f"parent_id = '{result.run_id}'")
    return sorted(runs, key=lambda r: int(r.tags["mc.trial.number"]))


def _experiment_runs(name):
    try:
        return mc.Client().search_all_runs([name])
    except mc.NotFound:
        return []


def test_each_trial_is_a_child_run_with_params_value_and_state():
    result = mc.tune(quadratic, n_trials=12, experiment="tune", study_name="quad", seed=1)
    trials = _trials(result)
    assert [int(r.tags["mc.trial.number"]) for r in trials] == list(range(12))
    assert [r.name for r in trials] == [f"trial-{i}" for i in range(12)]
    study_run = mc.Client().get_run(result.run_id)
    assert study_run.name == "quad" and study_run.status is mc.RunStatus.FINISHED
    assert study_run.params["sampler"] == "tpe" and study_run.params["direction"] == "minimize"
    for run, trial in zip(trials, result.study.trials):
        assert run.status is mc.RunStatus.FINISHED and run.tags["mc.trial.state"] == "COMPLETE"
        assert run.params == {"x": repr(trial.params["x"]), "kind": trial.params["kind"]}
        assert run.metrics["value"].value == trial.value
    best = min(result.study.trials, key=lambda t: t.value)
    assert result.best_value == best.value and result.best_params == best.params
    assert mc.Client().get_run(result.best_run_id).tags["mc.trial.best"] == "true"
    assert sum(r.tags.get("mc.trial.best") == "true" for r in trials) == 1
    assert study_run.tags["mc.study.best_trial"] == result.best_run_id
    # the study run's best_value is the best so far, its history one point per improvement; the
    # metric's own name is left to what the study's model is evaluated on
    history = mc.Client().get_metric_history(result.run_id, "best_value")
    assert history[-1].value == best.value and history[-1].step == best.number
    assert all(b.value < a.value for a, b in zip(history, history[1:]))
    assert study_run.metrics["trials_complete"].value == 12 and "value" not in study_run.metrics


def test_the_trial_run_is_active_inside_the_objective():
    seen = []

    def objective(trial):
        mc.log_metric("inside", trial.number)
        seen.append(mc.active_run().id)
        return trial.suggest_float("x", 0, 1)

    result = mc.tune(objective, n_trials=3, experiment="tune")
    trials = _trials(result)
    assert seen == [r.id for r in trials]
    assert [r.metrics["inside"].value for r in trials] == [0, 1, 2]
    assert mc.active_run() is None


def test_intermediate_values_are_metric_history_and_pruned_trials_are_marked():
    def objective(trial):
        slope = trial.suggest_float("slope", 0.0, 1.0)
        for step in range(8):
            trial.report(slope * (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return slope * 8

    result = mc.tune(objective, n_trials=20, pruner="median", sampler="random", seed=3, experiment="tune")
    trials = _trials(result)
    pruned = [r for r in trials if r.tags["mc.trial.state"] == "PRUNED"]
    assert pruned and result.trials["PRUNED"] == len(pruned)
    assert all(r.status is mc.RunStatus.KILLED for r in pruned)
    frozen = {t.number: t for t in result.study.trials}
    for run in trials:
        history = mc.Client().get_metric_history(run.id, "intermediate_value")
        assert {p.step: p.value for p in history} == frozen[int(run.tags["mc.trial.number"])].intermediate_values


def test_failed_trials_are_marked_with_the_reason():
    def objective(trial):
        x = trial.suggest_int("x", 0, 9)
        if x % 2:
            raise ValueError(f"odd x={x}")
        return x

    result = mc.tune(objective, n_trials=10, sampler="random", seed=0, catch=(ValueError,), experiment="tune")
    failed = [r for r in _trials(result) if r.tags["mc.trial.state"] == "FAIL"]
    assert failed and all(r.status is mc.RunStatus.FAILED for r in failed)
    assert all(r.tags["mc.trial.error"].startswith("ValueError: odd x=") for r in failed)


def test_an_uncaught_error_fails_the_study_run_and_is_raised():
    def objective(trial):
        if trial.number == 2:
            raise RuntimeError("disk full")
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(RuntimeError, match="disk full"):
        mc.tune(objective, n_trials=5, experiment="tune-fail", study_name="s")
    runs = {r.name: r for r in _experiment_runs("tune-fail")}
    assert runs["s"].status is mc.RunStatus.FAILED and "disk full" in runs["s"].tags["mc.error"]
    assert runs["trial-2"].status is mc.RunStatus.FAILED and runs["trial-2"].tags["mc.trial.error"]
    assert "trial-3" not in runs


def test_an_objective_returning_nothing_fails_its_trial_saying_so():
    calls = []

    def objective(trial):
        calls.append(trial.suggest_float("x", 0, 1))
        return None if len(calls) == 1 else calls[-1]

    result = mc.tune(objective, n_trials=3, experiment="tune")
    first = _trials(result)[0]
    assert first.tags["mc.trial.state"] == "FAIL" and "returned None" in first.tags["mc.trial.error"]


def test_no_trial_completing_is_an_error_and_the_study_run_failed():
    def objective(trial):
        raise optuna.TrialPruned()

    with pytest.raises(ModelcycleError, match="No trial of the study 'none' completed"):
        mc.tune(objective, n_trials=2, experiment="tune-none", study_name="none")
    study = next(r for r in _experiment_runs("tune-none") if r.name == "none")
    assert study.status is mc.RunStatus.FAILED


def test_the_same_study_name_resumes_keeping_finished_trials():
    first = mc.tune(quadratic, n_trials=5, experiment="tune", study_name="resume", seed=0)
    before = {r.id: r for r in _trials(first)}
    second = mc.tune(quadratic, n_trials=8, experiment="tune", study_name="resume", seed=0)
    assert second.resumed and not first.resumed and second.run_id == first.run_id
    after = _trials(second)
    assert [int(r.tags["mc.trial.number"]) for r in after] == list(range(8))
    assert all(before[r.id].params == r.params for r in after[:5])
    assert len([r for r in _experiment_runs("tune") if r.tags.get("mc.study.name") == "resume"]) == 1
    again = mc.tune(quadratic, n_trials=8, experiment="tune", study_name="resume")
    assert len(_trials(again)) == 8  # nothing left to do


def test_a_resumed_seeded_study_goes_on_instead_of_drawing_its_first_points_again():
    def objective(trial):
        return trial.suggest_float("x", -1, 1) ** 2

    first = mc.tune(objective, n_trials=4, sampler="random", seed=0, experiment="tune", study_name="seeded")
    first_points = [t.params["x"] for t in first.study.trials]
    resumed = mc.tune(objective, n_trials=8, sampler="random", seed=0, experiment="tune", study_name="seeded")
    points = [t.params["x"] for t in resumed.study.trials]
    assert points[:4] == first_points and len(set(points)) == 8
    again = mc.tune(objective, n_trials=4, sampler="random", seed=0, experiment="tune", study_name="seeded-2")
    assert [t.params["x"] for t in again.study.trials] == first_points  # a new study: the seed's own points


def test_resuming_with_another_direction_is_refused():
    mc.tune(quadratic, n_trials=2, experiment="tune", study_name="dir")
    with pytest.raises(InvalidInput, match="exists with direction minimize"):
        mc.tune(quadratic, n_trials=4, experiment="tune", study_name="dir", direction="maximize")


@pytest.mark.slow
def test_a_crashed_study_resumes_and_the_interrupted_trial_is_failed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mc.db'}"
    script = textwrap.dedent(f"""
        import os, modelcycle as mc
        mc.set_tracking_uri({uri!r}, {str(tmp_path / 'art')!r})
        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            if trial.number == 3:
                os._exit(9)  # the process dies in the middle of a trial
            return x
        mc.tune(objective, n_trials=6, experiment="crash", study_name="c")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    mc.set_tracking_uri(uri, str(tmp_path / "art"))
    result = mc.tune(lambda t: t.suggest_float("x", 0, 1), n_trials=6, experiment="crash", study_name="c")
    trials = _trials(result)
    states = [r.tags["mc.trial.state"] for r in trials]
    assert states == ["COMPLETE"] * 3 + ["FAIL"] + ["COMPLETE"] * 3
    assert trials[3].tags["mc.trial.interrupted"] == "true" and trials[3].status is mc.RunStatus.FAILED
    assert result.trials == {"COMPLETE": 6, "FAIL": 1}


# ---------------------------------------------------------------------- scikit-learn shortcut
@pytest.fixture
def data():
    return make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def cancer_split():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X.assign(target=y), test_size=0.4, random_state=0, stratify=y)


def test_estimator_search_logs_cv_scores_and_refits_the_best(data):
    X, y = data
    space = {"C": Float(1e-3, 10.0, log=True), "fit_intercept": [True, False], "max_iter": 300}
    result = mc.tune(LogisticRegression(), space, X, y, cv=3, scoring=["roc_auc", "accuracy"], n_trials=6,
                     seed=0, experiment="sk", log_model={"onnx": False})
    best = result.best_params
    theirs = sk_cross_validate(LogisticRegression(max_iter=300, **best), X, y, cv=StratifiedKFold(3),
                               scoring=["roc_auc", "accuracy"])
    assert result.best_value == pytest.approx(theirs["test_roc_auc"].mean(), rel=1e-12)
    best_run = mc.Client().get_run(result.best_run_id)
    assert best_run.metrics["accuracy"].value == pytest.approx(theirs["test_accuracy"].mean(), rel=1e-12)
    history = mc.Client().get_metric_history(result.best_run_id, "intermediate_value")
    np.testing.assert_allclose([p.value for p in history], theirs["test_roc_auc"], rtol=1e-12)
    study_run = mc.Client().get_run(result.run_id)
    assert study_run.params["max_iter"] == "300" and study_run.metrics["best_roc_auc"].value == result.best_value
    assert "roc_auc" not in study_run.metrics
    assert result.model.C == best["C"] and result.model.max_iter == 300
    loaded = mc.load_model(f"runs:/{result.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), result.model.predict(X))


def test_the_gates_read_the_evaluation_of_a_tuned_model_not_its_search(cancer_split):
    """A tuned model is logged in its study's run, and mc.evaluate of its URI logs there too:
    the registry's metric gate must compare what the evaluation measured, not the best
    cross-validated score of the search."""
    train, test = cancer_split
    mc.log_dataset(test, "cancer-eval")
    evaluations = []
    for depth in ((1, 1), (3, 6)):
        found = mc.tune(DecisionTreeClassifier(random_state=0), {"max_depth": depth}, train, "target", cv=3,
                        scoring="roc_auc", n_trials=3, seed=0, experiment="gated", log_model={"onnx": False})
        evaluations.append(mc.evaluate(found.model_info.uri, "cancer-eval", "target"))
        assert mc.Client().get_run(found.run_id).metrics["roc_auc"].value == evaluations[-1].metrics["roc_auc"]
        version = mc.register_model(found.model_info, "tuned")
        mc.set_promotion_policy("tuned", metric="roc_auc", min_delta=-1.0)
        promotion = mc.promote("tuned", version.version)
    detail = promotion.gates.results[0].detail
    new, old = (e.metrics["roc_auc"] for e in evaluations[::-1])
    assert detail.startswith(f"roc_auc {new:.6g} vs {old:.6g} of version 1 on cancer-eval@1")


def test_estimator_search_prunes_after_poor_folds(data):
    X, y = data
    result = mc.tune(DecisionTreeClassifier(random_state=0), {"max_depth": Int(1, 8), "min_samples_leaf": (1, 40)},
                     X, y, cv=4, n_trials=14, pruner="median", sampler="random", seed=2, refit=False,
                     experiment="sk")
    assert result.model is None and result.model_info is None
    assert set(result.trials) <= {"COMPLETE", "PRUNED"}


def test_grid_sampler_visits_each_point_once(data):
    X, y = data
    space = {"max_depth": [2, 4], "criterion": Choice(["gini", "entropy"])}
    result = mc.tune(DecisionTreeClassifier(random_state=0), space, X, y, sampler="grid", cv=2, log_model=False,
                     experiment="sk")
    points = sorted((t.params["max_depth"], t.params["criterion"]) for t in result.study.trials)
    assert points == sorted((d, c) for d in (2, 4) for c in ("gini", "entropy"))


@pytest.mark.parametrize("sampler", ["random", "cmaes", "tpe"])
def test_samplers_by_name(sampler):
    pytest.importorskip("cmaes") if sampler == "cmaes" else None

    def objective(trial):
        return (trial.suggest_float("x", -2, 2) - 0.5) ** 2 + trial.suggest_float("y", -1, 1) ** 2

    result = mc.tune(objective, n_trials=6, sampler=sampler, seed=4, experiment="samplers")
    assert result.trials == {"COMPLETE": 6}


def test_the_gp_sampler_needs_torch():
    if importlib.util.find_spec("torch") is not None:
        result = mc.tune(lambda t: t.suggest_float("x", 0, 1), n_trials=3, sampler="gp", experiment="gp")
        assert result.trials == {"COMPLETE": 3}
    else:
        with pytest.raises(InvalidInput, match="PyTorch"):
            mc.tune(lambda t: t.suggest_float("x", 0, 1), n_trials=3, sampler="gp", experiment="gp")


@pytest.mark.parametrize("call, message", [
    (lambda X, y: mc.tune(LogisticRegression(), {"C": (2.0, 1.0)}, X, y, n_trials=2, experiment="bad"),
     "range of 'C' is empty"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": Float(0.0, 1.0, log=True)}, X, y, n_trials=2,
                          experiment="bad"), "low end above 0"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": {0.1, 1.0}}, X, y, n_trials=2, experiment="bad"),
     "unknown kind"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": []}, X, y, n_trials=2, experiment="bad"), "no options"),
    (lambda X, y: mc.tune(LogisticRegression(), {"depth": (1, 3)}, X, y, n_trials=2, experiment="bad"),
     "has no parameter 'depth'"),
    (lambda X, y: mc.tune(LogisticRegression(), {}, X, y, n_trials=2, experiment="bad"), "space is empty"),
    (lambda X, y: mc.tune(LogisticRegression(), None, X, y, n_trials=2, experiment="bad"), "needs a search space"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": (0.1, 1.0)}, X, np.zeros(len(X)), n_trials=2,
                          experiment="bad"), "constant"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": (0.1, 1.0)}, X, None, n_trials=2, experiment="bad"),
     "target y is missing"),
    (lambda X, y: mc.tune(object(), {"C": (0.1, 1.0)}, X, y, n_trials=2, experiment="bad"), "objective function"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, sampler="bayes", experiment="bad"), "Unknown sampler 'bayes'"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, pruner="early", experiment="bad"), "Unknown pruner 'early'"),
    (lambda X, y: mc.tune(quadratic, experiment="bad"), "never end"),
    (lambda X, y: mc.tune(quadratic, n_trials=0, experiment="bad"), "n_trials must be"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, direction="up", experiment="bad"), "direction must be"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, sampler="grid", experiment="bad"), "needs the grid"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, n_jobs=0, experiment="bad"), "n_jobs must be"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, direction=["minimize", "minimize"], pruner="median",
                          experiment="bad"), "cannot prune"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, direction=[], experiment="bad"), "direction must be"),
    (lambda X, y: mc.tune(DecisionTreeClassifier(), {"criterion": ["gini\x00"]}, X, y, n_trials=2,
                          experiment="bad"), r"option 'gini\\x00' of 'criterion' contains a NUL"),
    (lambda X, y: mc.tune(quadratic, {"x": Float(0, 1), "kind": ["a", "b\x00"]}, n_trials=2, experiment="bad"),
     "contains a NUL"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, metric_name="", experiment="bad"), "metric_name"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, metric_name="loss\x00", experiment="bad"), "metric_name"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, metric_name=5, experiment="bad"), "metric_name"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, seed="x", experiment="bad"), "seed must be"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, seed=-1, experiment="bad"), "seed must be"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, study_name="s\x00", experiment="bad"), "study name contains a NUL"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, study_name="s" * 300, experiment="bad"), "study name is 300"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, heartbeat_interval=-1, experiment="bad"), "heartbeat_interval"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, dask=5, experiment="bad"), "dask= takes"),
    (lambda X, y: mc.tune(quadratic, n_trials=2, catch="ValueError", experiment="bad"), "catch"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": (0.1, 1.0)}, X, y, n_trials=2, refit="no", experiment="bad"),
     "refit must be"),
    (lambda X, y: mc.tune(LogisticRegression(), {"C": (0.1, 1.0)}, X, y, n_trials=2, log_model="yes",
                          experiment="bad"), "log_model must be"),
])
def test_bad_input_is_a_clear_error_and_logs_nothing(data, call, message):
    X, y = data
    with pytest.raises(InvalidInput, match=message):
        call(X, y)
    assert _experiment_runs("bad") == []


def test_a_param_the_store_cannot_hold_fails_its_trial_not_the_study():
    def objective(trial):
        return len(trial.suggest_categorical("name", ["ok", "not\x00ok"]))

    result = mc.tune(objective, n_trials=12, sampler="random", seed=0, catch=(InvalidInput,), experiment="nul")
    trials = _trials(result)
    assert len(trials) == 12 and not [r for r in trials if r.status is mc.RunStatus.RUNNING]
    failed = [r for r in trials if r.tags["mc.trial.state"] == "FAIL"]
    assert failed and all("NUL" in r.tags["mc.trial.error"] and r.status is mc.RunStatus.FAILED for r in failed)
    assert result.trials == {"COMPLETE": 12 - len(failed), "FAIL": len(failed)}


def test_catch_may_be_one_exception_class():
    def objective(trial):
        if trial.number == 0:
            raise ValueError("first")
        return trial.suggest_float("x", 0, 1)

    assert mc.tune(objective, n_trials=3, catch=ValueError, experiment="tune").trials == {"FAIL": 1, "COMPLETE": 2}


def test_several_objectives_tag_the_pareto_front():
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    result = mc.tune(objective, n_trials=5, direction=["minimize", "minimize"], metric_name=["cost", "loss"],
                     experiment="multi")
    assert len(result.best_run_ids) == 5 and result.best_value is None
    run = mc.Client().get_run(result.best_run_ids[0])
    assert {"cost", "loss"} <= set(run.metrics)


# ---------------------------------------------------------------------- the storage itself
@pytest.fixture
def storage():
    return RunStorage("optuna", heartbeat_interval=None)


def test_storage_ask_tell_enqueue_add_and_attributes(storage):
    study = optuna.create_study(storage=storage, study_name="direct", direction="maximize")
    study.set_user_attr("owner", {"team": "fraud"})
    study.enqueue_trial({"x": 0.25})
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) == 0.25  # the queued one, taken once
    trial.set_user_attr("note", [1, 2])
    study.tell(trial, 0.5)
    with pytest.raises(ValueError, match="Cannot tell a COMPLETE trial"):  # a finished trial is told once
        study.tell(trial, 0.6)
    study.add_trial(optuna.trial.create_trial(params={"x": 0.75}, distributions={
        "x": optuna.distributions.FloatDistribution(0, 1)}, value=0.9, intermediate_values={0: 0.1, 1: 0.2}))
    fresh = RunStorage("optuna", heartbeat_interval=None)  # another process's view of the same study
    loaded = optuna.load_study(study_name="direct", storage=fresh)
    assert loaded.user_attrs == {"owner": {"team": "fraud"}} and loaded.direction.name == "MAXIMIZE"
    trials = loaded.trials
    assert [t.number for t in trials] == [0, 1] and [t.value for t in trials] == [0.5, 0.9]
    assert trials[0].user_attrs == {"note": [1, 2]} and trials[0].params == {"x": 0.25}
    assert trials[1].intermediate_values == {0: 0.1, 1: 0.2}
    assert loaded.best_trial.number == 1
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(storage=fresh, study_name="direct")
    assert [s.study_name for s in optuna.study.get_all_study_summaries(storage=fresh)] == ["direct"]
    with pytest.raises(KeyError):
        fresh.get_trial(10_000)
    with pytest.raises(KeyError):
        optuna.load_study(study_name="nope", storage=fresh)


def test_storage_refuses_an_incompatible_distribution(storage):
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError):
        study.optimize(lambda t: t.suggest_categorical("x", ["a", "b"]), n_trials=1)


def test_storage_survives_pickling_with_its_study(storage):
    study = optuna.create_study(storage=storage, study_name="pickled")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    copy = pickle.loads(pickle.dumps(study))
    copy.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert [t.number for t in study.trials] == [0, 1, 2]


def test_delete_study_hides_its_runs(storage):
    study = optuna.create_study(storage=storage, study_name="gone")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna.delete_study(study_name="gone", storage=storage)
    assert [r for r in _experiment_runs("optuna") if r.tags.get("mc.study.name") == "gone"] == []
    optuna.create_study(storage=storage, study_name="gone")  # the name is free again


def test_tune_on_every_store(store_uris):
    mc.set_tracking_uri(*store_uris)
    first = mc.tune(quadratic, n_trials=4, experiment="stores", study_name="s", seed=0)
    second = mc.tune(quadratic, n_trials=6, experiment="stores", study_name="s", seed=0)
    assert second.resumed and second.run_id == first.run_id
    trials = _trials(second)
    assert [int(r.tags["mc.trial.number"]) for r in trials] == list(range(6))
    assert all(r.tags["mc.trial.state"] == "COMPLETE" for r in trials)
    assert mc.Client().get_run(second.best_run_id).tags["mc.trial.best"] == "true"


def test_storage_names_the_store_and_what_the_objective_logs_follows(tmp_path):
    uri = f"sqlite:///{tmp_path / 'other.db'}"

    def objective(trial):
        mc.log_metric("inside", 1.0)
        return trial.suggest_float("x", 0, 1)

    result = mc.tune(objective, n_trials=2, storage=uri, experiment="elsewhere")
    other = mc.Client(uri)
    trials = other.search_all_runs(["elsewhere"], f"parent_id = '{result.run_id}'")
    assert len(trials) == 2 and all(r.metrics["inside"].value == 1.0 for r in trials)


def test_a_study_started_in_a_run_is_its_child():
    with mc.start_run(experiment="outer") as outer:
        result = mc.tune(quadratic, n_trials=2, sampler="Random")
    study_run = mc.Client().get_run(result.run_id)
    assert study_run.parent_id == outer.id and study_run.experiment_id == outer.experiment_id
    assert all(r.experiment_id == outer.experiment_id for r in _trials(result))
