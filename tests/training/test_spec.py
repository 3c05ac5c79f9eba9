"""Training specs: `modelcycle train spec.yaml` and mc.train, from the YAML to a promoted (or
refused) version, and specs whose errors name their field."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_breast_cancer

import modelcycle as mc
from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.training.spec import TrainingSpec

pytest.importorskip("optuna")

SPEC = """
name: cancer-forest
experiment: cancer
data: {train: cancer@1, target: target, drop: [id, size], eval: cancer-holdout@1}
model:
  class: sklearn.ensemble.RandomForestClassifier
  params: {n_jobs: 1, random_state: 0}
search:
  space:
    n_estimators: {low: 5, high: 15}
    max_depth: {low: 2, high: 5}
    max_features: {choices: [sqrt, log2]}
  n_trials: 3
cv: 3
metrics: [roc_auc, f1]
evaluation: {slices: [size], sensitive: [size], importance: false}
register: {name: cancer, policy: {metric: roc_auc, significance: 0.05}}
"""


@pytest.fixture
def datasets():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :8].assign(target=y.to_numpy(), id=np.arange(len(y)))
    frame["size"] = pd.cut(frame["mean radius"], [0, 12, 15, np.inf], labels=["small", "medium", "large"]).astype(str)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    mc.log_dataset(frame.iloc[:380], "cancer")  # no run is active: stored, linked to none
    mc.log_dataset(frame.iloc[380:], "cancer-holdout")
    return frame.iloc[:380], frame.iloc[380:]


def _write(tmp_path, text: str = SPEC, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _cli(capsys, monkeypatch, *args: str) -> tuple[int, str]:
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


def test_a_spec_searches_evaluates_registers_and_promotes(datasets, tmp_path):
    _, holdout = datasets
    result = mc.train(_write(tmp_path), progress=False)
    client = mc.Client()
    search = client.get_run(result.search_run_id)
    trials = [r for r in client.search_all_runs("cancer") if r.parent_id == search.id and r.id != result.run_id]
    assert len(trials) == 3 and all(r.status is mc.RunStatus.FINISHED for r in trials)
    final = client.get_run(result.run_id)
    assert final.parent_id == search.id and final.status is mc.RunStatus.FINISHED
    assert {(u.dataset, u.role) for u in client.store.dataset_uses(run_id=final.id)} == {
        ("cancer@1", "train"), ("cancer-holdout@1", "eval")}
    # the version's run holds the evaluation on the eval data; the search's run its CV scores
    model = mc.load_model("models:/cancer/1")
    features = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness", "mean compactness",
                "mean concavity", "mean concave points"]
    proba = model.predict_proba(holdout[features])[:, 1]
    assert final.metrics["roc_auc"].value == pytest.approx(sk.roc_auc_score(holdout["target"], proba), rel=1e-12)
    assert final.metrics["cv.roc_auc"].value == pytest.approx(result.best_value)
    assert set(result.best_params) == {"n_estimators", "max_depth", "max_features"}
    assert all(final.params[k] == str(v) for k, v in result.best_params.items())
    files = {a.path for a in client.store.list_artifact_files(final.id)}
    assert {"spec.yaml", "model/model.yaml", "evaluation/report.html", "evaluation/metrics.json"} <= files
    assert result.version.version == 1 and result.version.run_id == final.id
    assert result.promoted and client.store.get_registered_model("cancer").production_version == 1
    assert [s.column for s in result.evaluation.slices] == ["size"] and result.evaluation.fairness
    assert mc.registry.get_promotion_policy("cancer").significance == 0.05


def test_the_next_training_meets_the_champion_and_a_refusal_is_reported(datasets, tmp_path, capsys, monkeypatch):
    path = _write(tmp_path)
    assert mc.train(path, progress=False).promoted
    code, out = _cli(capsys, monkeypatch, "train", str(path), "--no-progress")
    assert code == 0, out  # a refusal is an outcome, not a failure
    assert "Challenger against the champion, models:/cancer/1, on the same rows" in out
    assert "Registered cancer version 2: not promoted, the gates refused: significance:" in out
    assert "one-sided DeLong p = 1, needs p < 0.05" in out
    client = mc.Client()
    assert client.store.get_registered_model("cancer").production_version == 1
    assert [v.version for v in client.store.list_model_versions("cancer")] == [1, 2]


def test_without_a_search_the_model_is_cross_validated_and_the_eval_rows_split_off(datasets, tmp_path):
    spec = """
    data: {train: cancer@1, target: target, features: [mean radius, mean texture, mean area], test_size: 0.3}
    model: {class: sklearn.linear_model.LogisticRegression, params: {max_iter: 2000}}
    cv: 4
    register: {name: plain}
    """
    result = mc.train(_write(tmp_path, spec), progress=False)
    client = mc.Client()
    cv_run = client.get_run(result.search_run_id)
    folds = [r for r in client.search_all_runs() if r.parent_id == cv_run.id and r.id != result.run_id]
    assert len(folds) == 4
    assert result.datasets == {"train": "cancer@1", "eval": "cancer-eval@1"}
    assert client.store.get_dataset("cancer-eval", 1).num_rows == round(380 * 0.3)
    assert result.evaluation.features == ["mean radius", "mean texture", "mean area"]
    assert result.promoted and result.objective == "accuracy"


def test_dry_run_checks_and_logs_nothing(datasets, tmp_path, capsys, monkeypatch):
    code, out = _cli(capsys, monkeypatch, "train", "--dry-run", str(_write(tmp_path)))
    assert code == 0, out
    assert out.startswith("spec.yaml is valid: RandomForestClassifier on cancer@1 (target target); 3 trials of tpe")
    assert mc.Client().search_all_runs(view="all") == []
    assert mc.Client().store.list_registered_models() == []


BAD = [
    ("bogus: 1\n", "bogus: unknown field; the fields here are name, experiment, data, model"),
    ("model: {clas: sklearn.tree.DecisionTreeClassifier}\n", "model.clas: unknown field; the fields here are class, params"),
    ("cv: five\n", "cv: Input should be a valid integer"),
    ("cv: 1\n", "cv: Input should be greater than or equal to 2"),
    ("data: {train: cancer@1, target: label}\n", "data.target: 'label' is not a column of cancer@1"),
    ("data: {train: nothing@1, target: target}\n", "data.train: No dataset named 'nothing'"),
    ("data: {train: cancer@1, target: target, drop: [nope]}\n", "data.drop[0]: 'nope' is not a column of cancer@1"),
    ("model: {class: sklearn.ensemble.RandomForrestClassifier}\n", "model.class: the module 'sklearn.ensemble' has no "
                                                                  "'RandomForrestClassifier'"),
    ("model: {class: collections.OrderedDict}\n", "model.class: OrderedDict has no fit method"),
    ("model: {class: sklearn.tree.DecisionTreeClassifier, params: {depth: 3}}\n",
     "model.params.depth: DecisionTreeClassifier has no parameter 'depth'"),
    ("search: {space: {max_depth: {low: 9, high: 2}}}\n", "search.space: The range of 'max_depth' is empty"),
    ("search: {space: {}}\n", "search.space: the search space is empty"),
    ("search: {space: {max_depth: {lo: 2, high: 9}}}\n", "search.space.max_depth: a range is {low: 2, high: 12}"),
    ("metrics: [roc_aucc]\n", "metrics[0]: 'roc_aucc' is not a scikit-learn scorer name"),
    ("evaluation: {slices: [colour]}\n", "evaluation.slices[0]: 'colour' is not a column of the evaluation data"),
    ("evaluation: {threshold: 2}\n", "evaluation.threshold: Input should be less than 1"),
    ("register: {name: m, policy: {metric: f1, significance: 0.05}}\n", "register.policy: The 'significance' parameter"),
    ("search: {space: {max_depth: {low: 1, high: 3, log: yes please}}}\n",
     "search.space: The 'log' of 'max_depth' must be True or False; got 'yes please'"),
    ("search: {space: {max_depth: {low: 1, high: 3}}, n_trials: true}\n", "search.n_trials: Input should be a valid integer"),
    ("cv: 3.0\n", "cv: Input should be a valid integer"),
    ("cv: 100000\n", "cv: 100000 folds of the 285 training rows"),
    ("evaluation: {importance: 'yes'}\n", "evaluation.importance: Input should be a valid boolean"),
    ("name: \"a\\0b\"\n", "name: The run name contains a NUL"),
    ("name: " + "x" * 300 + "\n", "name: 300 characters; the limit is 244"),
    ("experiment: \"a\\0b\"\n", "experiment: The experiment name contains a NUL"),
    ("register: {name: m, tags: {k: \"v\\0\"}}\n", "register.tags: The value of tag 'k' contains a NUL"),
    ("model: {class: sklearn.tree.DecisionTreeClassifier, params: {max_depth: deep}}\n",
     "model.params: The 'max_depth' parameter of DecisionTreeClassifier must be"),
    ("search: {space: {criterion: [gini, nope]}}\n", "search.space.criterion: The 'criterion' parameter of "
                                                    "DecisionTreeClassifier must be a str among"),
    ("search: {space: {max_depth: {low: 1.5, high: 3.5}}}\n", "search.space.max_depth: The 'max_depth' parameter"),
    ("data: {train: cancer@1, target: target, features: []}\n", "data.features: give at least one feature"),
    ("search: {space: {max_depth: {low: 1, high: 3}}, study: \"s\\0\"}\n", "search.study: The study name contains a NUL"),
    ("search: {space: {min_weight_fraction_leaf: {low: 0.0, high: 0.3}}, sampler: grid}\n",
     "search.sampler: The grid sampler needs a finite grid"),
    ("search: {space: {max_depth: {low: 1, high: 3}}, n_jobs: 0}\n", "search.n_jobs: n_jobs must be"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[b[1].split(":")[0] for b in BAD])
def test_a_bad_spec_is_refused_naming_the_field(datasets, tmp_path, override, message):
    base = {"data": "data: {train: cancer@1, target: target, drop: [id, size]}\n",
            "model": "model: {class: sklearn.tree.DecisionTreeClassifier}\n"}
    key = override.split(":")[0]
    text = "".join(v for k, v in base.items() if k != key) + override
    with pytest.raises((InvalidInput, NotFound)) as caught:
        TrainingSpec.load(_write(tmp_path, text))
    assert message in str(caught.value)
    assert str(caught.value).startswith("spec.yaml: ")
    assert mc.Client().search_all_runs(view="all") == []


@pytest.mark.parametrize("source", [5, None, b"data: {}", ["data"]])
def test_mc_train_of_something_that_is_not_a_spec_says_what_it_takes(source):
    with pytest.raises(InvalidInput, match="a path to a YAML file, YAML text or a dict"):
        mc.train(source)


def test_the_cli_prints_one_error_and_exits_2(datasets, tmp_path, capsys, monkeypatch):
    code, out = _cli(capsys, monkeypatch, "train", "--dry-run", str(_write(tmp_path, SPEC.replace("n_trials: 3",
                                                                                                  "n_trials: x"))))
    assert code == 2 and "search.n_trials: Input should be a valid integer" in out and "Traceback" not in out
    code, out = _cli(capsys, monkeypatch, "train", str(tmp_path / "missing.yaml"))
    assert code == 3 and "No training spec at" in out
