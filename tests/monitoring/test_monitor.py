"""The monitor over a real prediction log: each window's drift against the training profile,
quality, health and performance, checked against scikit-learn, SciPy and numpy; computed once,
resumed after a restart, performance recomputed when labels come late; quiet on same-distribution
traffic, loud where drift was injected."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import modelcycle as mc
from modelcycle.data.drift import drift
from modelcycle.data.profile import Profile
from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring import Monitor, monitor_results
from modelcycle.monitoring import stats
from tests.monitoring.conftest import FEATURES, HOUR, T0, log_traffic

END_OF_DAY = T0 + 25 * HOUR


def _values(store, metric, version=1):
    return {p.window_start: p.value for p in store.monitor_results("fraud", version=version, metrics=[metric])}


def test_a_day_of_same_distribution_traffic_raises_no_drift_while_injected_drift_is_found(monitored, tmp_path):
    store, uri = monitored
    log_traffic(uri, range(24))
    windows = Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    assert [w.start for w in windows] == [T0 + h * HOUR for h in range(24)]
    assert set(_values(store, "dataset_drift").values()) == {0.0}
    for column in FEATURES:
        assert set(_values(store, f"drifted.{column}").values()) == {0.0}, column
    assert max(_values(store, "drift_share").values()) == 0.0

    drifted_uri = str(tmp_path / "drifted")
    log_traffic(drifted_uri, range(24), drift_from=12, seed=2)
    store.record_monitor_results("fraud", [])  # nothing to write is fine
    other = Monitor("fraud", store, uri=drifted_uri)
    from sqlalchemy import text

    with store.engine.begin() as conn:  # an empty history for the second log
        conn.execute(text("DELETE FROM monitor_results"))
    other.run_once(now=END_OF_DAY)
    found = _values(store, "dataset_drift")
    assert [h for h in range(24) if found[T0 + h * HOUR] == 1.0] == list(range(12, 24))
    assert all(_values(store, "drifted.x1")[T0 + h * HOUR] == (h >= 12) for h in range(24))
    label = store.monitor_results("fraud", metrics=["drift_score.x1"])[-1].labels
    assert label["method"] == "wasserstein" and label["drifted"] and label["distribution"]["kind"] == "numerical"


def test_window_drift_is_that_of_validate_on_the_window_rows(monitored):
    store, uri = monitored
    log_traffic(uri, range(2), drift_from=1)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    rows = mc.read_predictions("fraud", start=T0 + HOUR, end=T0 + 2 * HOUR, uri=uri)
    rows = rows[rows.status == 200]
    inputs = rows[[f"input.{c}" for c in FEATURES]].rename(columns=lambda c: c[len("input."):])
    reference = mc.data.datasets.load_profile("transactions@1")
    expected = drift(reference, inputs, schema=mc.data.datasets.load_schema("transactions@1"))
    got = _values(store, "drift_share")
    assert got[T0 + HOUR] == pytest.approx(expected.share)
    for column in expected.columns:
        assert _values(store, f"drift_score.{column.column}")[T0 + HOUR] == pytest.approx(column.score, rel=1e-9)


def test_health_and_performance_match_numpy_and_scikit_learn(monitored):
    store, uri = monitored
    log_traffic(uri, range(1), label_share=0.6)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    rows = mc.read_predictions("fraud", start=T0, end=T0 + HOUR, uri=uri)
    requests = rows.drop_duplicates("request_id")
    got = {p.metric: p.value for p in store.monitor_results("fraud")}
    assert got["requests"] == len(requests) and got["errors"] == (requests.status >= 400).sum() == 2
    assert got["error_rate"] == pytest.approx(2 / len(requests))
    for q in (50, 95, 99):
        assert got[f"latency_p{q}_ms"] == pytest.approx(np.percentile(requests.latency_ms, q))
    assert got["rows"] == len(rows) and got["ok_rows"] == (rows.status == 200).sum()
    labelled = rows[rows.label.notna()]
    y, pred = labelled.label.astype(int), labelled.prediction.astype(int)
    proba = np.stack(labelled.proba.to_numpy())
    assert got["labelled_share"] == pytest.approx(len(labelled) / got["ok_rows"])
    assert got["label_delay_p50_s"] == pytest.approx(60.0)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    # CBPE from the calibrated probabilities of every row, beside the realized values.
    all_proba = np.stack(rows[rows.status == 200].proba.to_numpy())
    assert got["estimated_accuracy"] == pytest.approx(all_proba.max(axis=1).mean())
    assert got["estimated_roc_auc"] == pytest.approx(stats.expected_roc_auc(all_proba[:, 1]), abs=2e-3)
    assert abs(got["estimated_roc_auc"] - got["roc_auc"]) < 0.03
    assert abs(got["estimated_accuracy"] - got["accuracy"]) < 0.03
    assert got["class_share.1"] == pytest.approx((rows[rows.status == 200].prediction == 1).mean())
    assert got["missing_share"] == 0.0 and got["unseen_category_rows"] == 0 and got["type_errors"] == 0


def test_the_statistics_by_hand_and_against_scikit_learn():
    rng = np.random.default_rng(3)
    y, score = rng.integers(0, 2, 500), rng.random(500).round(2)  # ties
    assert stats.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score))
    # two rows with p = 0.9 and 0.1: expected positives 1.0, negatives 1.0; the curve goes
    # (0,0) -> (0.1, 0.9) -> (1, 1): area 0.1*0.9/2 + 0.9*(0.9+1)/2 = 0.045 + 0.855 = 0.9
    assert stats.expected_roc_auc(np.array([0.9, 0.1])) == pytest.approx(0.9)
    p = rng.random(20_000)
    labels = (rng.random(20_000) < p).astype(int)
    assert stats.expected_roc_auc(p) == pytest.approx(skm.roc_auc_score(labels, p), abs=0.01)
    truth, guess = rng.normal(size=300), rng.normal(size=300)
    got = stats.regressor_metrics(truth, guess)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(truth, guess))
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(truth, guess)))
    assert got["r2"] == pytest.approx(skm.r2_score(truth, guess))
    classes = ["a", "b", "c"]
    yc, pc_ = rng.choice(classes, 400), rng.choice(classes, 400)
    probs = rng.dirichlet([1, 1, 1], 400)
    got = stats.classifier_metrics(yc, pc_, probs, classes)
    assert got["f1"] == pytest.approx(skm.f1_score(yc, pc_, average="macro"))
    assert got["precision"] == pytest.approx(skm.precision_score(yc, pc_, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(yc, probs, multi_class="ovr", average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(yc, probs, labels=classes))


def test_a_window_is_computed_once_a_restart_resumes_and_late_labels_recompute_performance(monitored):
    store, uri = monitored
    log_traffic(uri, range(3), label_share=0.0)
    first = Monitor("fraud", store, uri=uri).run_once(now=T0 + 3 * HOUR + 60_000)
    assert len(first) == 3
    stamps = {(p.window_start, p.metric): p.computed_at for p in store.monitor_results("fraud")}
    assert Monitor("fraud", store, uri=uri).run_once(now=T0 + 3 * HOUR + 60_000) == []  # a restart
    assert {(p.window_start, p.metric): p.computed_at for p in store.monitor_results("fraud")} == stamps
    assert math.isnan(_values(store, "roc_auc")[T0 + HOUR])
    # Labels for hour 1 arrive late; hour 3 is logged meanwhile.
    rows = mc.read_predictions("fraud", start=T0 + HOUR, end=T0 + 2 * HOUR, uri=uri)
    ok = rows[rows.status == 200]
    mc.log_feedback("fraud", ok.prediction.tolist(), request_ids=ok.request_id.tolist(), rows=ok.row.tolist(),
                    uri=uri)
    log_traffic(uri, [3], seed=5, label_share=0.0)
    again = Monitor("fraud", store, uri=uri).run_once(now=T0 + 4 * HOUR + 60_000)
    assert [w.start for w in again] == [T0 + 3 * HOUR]
    assert _values(store, "accuracy")[T0 + HOUR] == 1.0 and _values(store, "labelled_share")[T0 + HOUR] == 1.0
    assert math.isnan(_values(store, "accuracy")[T0])
    assert _values(store, "drift_share")[T0 + HOUR] == 0.0  # the rest of the window is untouched


def test_row_windows_and_an_unfinished_window_waits(monitored):
    store, uri = monitored
    log_traffic(uri, range(2), rows_per_hour=1000, errors_per_hour=0)
    windows = Monitor("fraud", store, uri=uri, window_rows=300, batch_rows=128).run_once()
    assert [w.rows for w in windows] == [300] * 6  # 2000 rows: the last 200 wait
    assert windows[1].start >= windows[0].end - 1
    assert Monitor("fraud", store, uri=uri, window_rows=300).run_once() == []


def test_the_reference_can_be_named_and_results_read_as_a_dataframe(monitored):
    store, uri = monitored
    log_traffic(uri, range(2))
    with pytest.raises(mc.NotFound):
        Monitor("fraud", store, uri=uri, reference="transactions@9")
    Monitor("fraud", store, uri=uri, reference="transactions@1").run_once(now=END_OF_DAY)
    frame = monitor_results("fraud", start=T0 + HOUR, metrics=["drift_share", "error_rate"], store=store)
    assert list(frame.columns) == ["version", "window_start", "window_end", "metric", "value", "labels"]
    assert sorted(frame.metric) == ["drift_share", "error_rate"]
    assert str(frame.window_start.iloc[0]) == "2025-11-30 01:00:00+00:00"
    with pytest.raises(InvalidInput, match="window_rows"):
        Monitor("fraud", store, window_rows=0)


@pytest.mark.parametrize("options, named", [
    ({"settle_ms": -5}, "settle_ms"), ({"settle_ms": "1m"}, "settle_ms"), ({"label_horizon_ms": -1}, "label_horizon_ms"),
    ({"batch_rows": 0}, "batch_rows"), ({"batch_rows": "x"}, "batch_rows"), ({"uri": 123}, "uri"),
    ({"window_ms": True}, "window_ms"), ({"window_rows": 2.5}, "window_rows")])
def test_wrong_settings_are_refused_by_name(monitored, options, named):
    store, _ = monitored
    with pytest.raises(InvalidInput, match=named):
        Monitor("fraud", store, **options)


def test_columns_with_long_and_unicode_names_are_monitored(monitored, tmp_path):
    from modelcycle.serving.predlog import PredictionLog

    store, _ = monitored
    long_name, uri = "x" * 245, str(tmp_path / "log")
    rng = np.random.default_rng(0)
    with PredictionLog(uri) as log:
        for i in range(100):
            x = {long_name: rng.normal(size=10), "prix €": rng.normal(size=10), "x1": rng.normal(size=10)}
            log.log(f"r{i}", T0 + i * 10_000, "fraud", 1, "v2_infer", 200, 1.0, x, {"predict": rng.normal(size=10)})
    columns = [long_name, "prix €", "x1"]
    mc.log_dataset(pd.DataFrame({c: rng.normal(size=1000) for c in columns}), "wide")
    assert len(Monitor("fraud", store, uri=uri, reference="wide@1").run_once(now=T0 + 2 * HOUR)) == 1
    names = {p.metric: p for p in store.monitor_results("fraud")}
    assert {"drift_score.x1", "drift_score.prix €", "drifted.prix €"} <= set(names)
    assert all(len(m) <= 250 for m in names)
    long_points = {p.metric.partition(".")[0] for p in names.values() if p.labels.get("column") == long_name}
    assert long_points == {"drift_score", "drifted"}
    assert long_name in names["drift_share"].labels["drifted_columns"] or names["drift_share"].value == 0


def test_a_version_that_changed_a_column_type_does_not_change_how_the_other_reads(monitored, tmp_path):
    from modelcycle.serving.predlog import PredictionLog

    store, _ = monitored
    store.create_model_version("fraud", store.get_model_version("fraud", 1).run_id, "model", "tester")
    uri, rng = str(tmp_path / "log"), np.random.default_rng(0)
    for version, x1 in ((1, lambda n: rng.normal(size=n)), (2, lambda n: np.array(["high"] * n, dtype=object))):
        with PredictionLog(uri) as log:  # each its own segment, as two servers write them
            for i in range(100):
                x = {"x1": x1(10), "x2": rng.normal(5.0, 2.0, 10), "x3": rng.exponential(1.0, 10),
                     "cat": rng.choice(np.array(["a", "b", "c"]), 10, p=(0.5, 0.3, 0.2))}
                log.log(f"v{version}-{i}", T0 + i * 10_000 + version, "fraud", version, "v2_infer", 200, 1.0, x,
                        {"predict": rng.integers(0, 2, 10)})
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    assert _values(store, "type_errors", version=1)[T0] == 0
    assert _values(store, "drifted.x1", version=1)[T0] == 0.0
    assert _values(store, "type_errors", version=2)[T0] == 1


def test_a_corrected_label_recomputes_the_window_though_the_labelled_count_is_the_same(monitored):
    store, uri = monitored
    log_traffic(uri, range(1), label_share=0.0)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    rows = mc.read_predictions("fraud", uri=uri)
    ok = rows[rows.status == 200]
    mc.log_feedback("fraud", ok.prediction.tolist(), request_ids=ok.request_id.tolist(), rows=ok.row.tolist(),
                    time=T0 + HOUR, uri=uri)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    assert _values(store, "accuracy")[T0] == 1.0
    # The labels were wrong: corrected ones, later, for the same rows.
    mc.log_feedback("fraud", (1 - ok.prediction).tolist(), request_ids=ok.request_id.tolist(),
                    rows=ok.row.tolist(), time=T0 + 2 * HOUR, uri=uri)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    assert _values(store, "labelled_rows")[T0] == len(ok) and _values(store, "accuracy")[T0] == 0.0


def test_a_retired_version_served_again_after_weeks_gets_its_new_windows(monitored):
    store, uri = monitored
    log_traffic(uri, [0], version=1)
    log_traffic(uri, [24 * 20], version=2, seed=2)  # 20 days later, version 2 serves
    Monitor("fraud", store, uri=uri).run_once(now=T0 + 24 * 20 * HOUR + 2 * HOUR)
    log_traffic(uri, [24 * 20 + 2], version=1, seed=3)  # then a rollback to version 1
    again = Monitor("fraud", store, uri=uri).run_once(now=T0 + 24 * 20 * HOUR + 4 * HOUR)
    assert [(w.version, w.start) for w in again] == [(1, T0 + (24 * 20 + 2) * HOUR)]
