"""Early stopping for XGBoost and LightGBM, the per-iteration curve as metric history, and
pruning through a trial."""

from __future__ import annotations

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.exceptions import InvalidInput
from modelcycle.training import fit_boosting, log_boosting_curve

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def split():
    X, y = make_classification(n_samples=600, n_features=8, flip_y=0.25, random_state=0)
    return X[:450], y[:450], X[450:], y[450:]


def _history(run_id, key):
    return [p.value for p in mc.Client().get_metric_history(run_id, key)]


def test_xgboost_stops_early_and_logs_its_curve(split):
    X, y, Xv, yv = split
    with mc.start_run(experiment="boost") as run:
        model = fit_boosting(xgboost.XGBClassifier(n_estimators=300, learning_rate=0.5, max_depth=4, n_jobs=1),
                             X, y, (Xv, yv), early_stopping_rounds=5)
    curve = model.evals_result()["validation_0"]["logloss"]
    assert len(curve) < 300  # it stopped
    assert _history(run.id, "validation_0_logloss") == pytest.approx(curve, rel=1e-12)
    assert mc.Client().get_run(run.id).metrics["best_iteration"].value == model.best_iteration
    assert model.get_params()["callbacks"] is None  # nothing of ours left in the model


def test_lightgbm_stops_early_and_logs_its_curve(split):
    X, y, Xv, yv = split
    with mc.start_run(experiment="boost") as run:
        model = fit_boosting(lightgbm.LGBMClassifier(n_estimators=300, learning_rate=0.5, verbose=-1, n_jobs=1),
                             X, y, (Xv, yv), early_stopping_rounds=5, eval_metric="auc")
    curves = model.evals_result_["valid_0"]
    assert len(curves["binary_logloss"]) < 300
    for name, values in curves.items():
        assert _history(run.id, f"valid_0_{name}") == pytest.approx(values, rel=1e-12)
    assert mc.Client().get_run(run.id).metrics["best_iteration"].value == model.best_iteration_


def test_curve_of_a_model_fit_by_hand(split):
    X, y, Xv, yv = split
    model = xgboost.XGBClassifier(n_estimators=7, n_jobs=1).fit(X, y, eval_set=[(Xv, yv)], verbose=False)
    with mc.start_run(experiment="boost") as run:
        curves = log_boosting_curve(model, prefix="xgb.")
    assert len(_history(run.id, "xgb.validation_0_logloss")) == 7 == len(curves["validation_0_logloss"])


def test_in_a_search_each_iteration_is_reported_and_poor_trials_are_pruned(split):
    X, y, Xv, yv = split

    def objective(trial):
        model = lightgbm.LGBMClassifier(n_estimators=60, learning_rate=trial.suggest_float("lr", 1e-3, 1.0, log=True),
                                        num_leaves=trial.suggest_int("leaves", 2, 31), verbose=-1, n_jobs=1)
        fit_boosting(model, X, y, (Xv, yv), early_stopping_rounds=10, trial=trial)
        return model.best_score_["valid_0"]["binary_logloss"]

    result = mc.tune(objective, n_trials=12, pruner="median", sampler="random", seed=5, experiment="boost-tune")
    assert result.trials.get("PRUNED", 0) >= 1
    for trial in result.study.trials:
        run_id = mc.Client().search_all_runs(["boost-tune"], f"tags.`mc.trial.number` = '{trial.number}'")[0].id
        reported = _history(run_id, "intermediate_value")
        assert reported == pytest.approx([trial.intermediate_values[s] for s in sorted(trial.intermediate_values)])
        if trial.state.name == "COMPLETE":
            assert reported == pytest.approx(_history(run_id, "valid_0_binary_logloss"))


def test_bad_input(split):
    X, y, Xv, yv = split
    with pytest.raises(InvalidInput, match="not an XGBoost or LightGBM model"):
        fit_boosting(LogisticRegression(), X, y, (Xv, yv))
    with pytest.raises(InvalidInput, match="eval_set must be one validation set"):
        fit_boosting(xgboost.XGBClassifier(), X, y, [(Xv, yv)])
    with pytest.raises(InvalidInput, match="early_stopping_rounds"):
        fit_boosting(xgboost.XGBClassifier(), X, y, (Xv, yv), early_stopping_rounds=0)
    with pytest.raises(InvalidInput, match="no evaluation curve"):
        log_boosting_curve(xgboost.XGBClassifier(n_estimators=2).fit(X, y), run_id="0" * 32)
