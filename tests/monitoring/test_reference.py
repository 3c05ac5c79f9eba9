"""What a version's windows are compared with besides the training profile: its own outputs on
its evaluation data (output drift), and the calibration of its probabilities on that data
(confidence-based performance estimation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import modelcycle as mc
from modelcycle.monitoring import Monitor
from modelcycle.monitoring.reference import REFERENCE_METRIC, Calibration
from tests.monitoring.conftest import HOUR, T0, log_traffic

END_OF_DAY = T0 + 25 * HOUR


def _values(store, metric, version=1):
    return {p.window_start: p.value for p in store.monitor_results("fraud", version=version, metrics=[metric])}


def test_cbpe_is_calibrated_on_the_evaluation_data_and_meets_the_realized_performance(modelled):
    store, uri, model = modelled
    log_traffic(uri, range(3), model=model, label_share=1.0)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    rows = mc.read_predictions("fraud", uri=uri)
    ok = rows[rows.status == 200]
    raw_confidence = np.stack(ok.proba.to_numpy()).max(axis=1).mean()
    for hour in range(3):
        start = T0 + hour * HOUR
        estimated, realized = _values(store, "estimated_accuracy")[start], _values(store, "accuracy")[start]
        assert abs(estimated - realized) < 0.03, hour
        assert abs(_values(store, "estimated_roc_auc")[start] - _values(store, "roc_auc")[start]) < 0.03, hour
    # The model's own confidence overstates its accuracy by far: the calibration is what corrected it.
    assert raw_confidence - _values(store, "accuracy")[T0] > 0.1
    labels = store.monitor_results("fraud", metrics=["estimated_accuracy"])[0].labels
    assert labels["calibration"] == "isotonic, on 5,000 labelled rows of transactions-eval@1"


def test_without_evaluation_labels_the_estimate_says_it_is_uncalibrated(monitored):
    store, uri = monitored  # a version without a loadable model: nothing to calibrate with
    log_traffic(uri, range(1))
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    labels = store.monitor_results("fraud", metrics=["estimated_accuracy"])[0].labels
    assert "taken as calibrated" in labels["calibration"]
    assert not store.monitor_results("fraud", metrics=["output_drift.score"])


def test_output_drift_is_against_the_outputs_on_the_evaluation_data_not_the_first_window(modelled):
    store, uri, model = modelled
    log_traffic(uri, range(24), model=model, drift_from=12, label_share=0.0)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    drifted = _values(store, "output_drifted.score")
    assert [h for h in range(24) if drifted[T0 + h * HOUR] == 1.0] == list(range(12, 24))
    assert set(_values(store, "output_drifted.prediction").values()) <= {0.0, 1.0}
    point = store.monitor_results("fraud", metrics=["output_drift.score"])[0]
    assert point.labels["reference"] == "transactions-eval@1" and point.window_start == T0
    stored = store.monitor_results("fraud", metrics=[REFERENCE_METRIC])
    assert len(stored) == 1 and stored[0].window_start == 0 and stored[0].labels["rows"] == 5_000
    assert stored[0].labels["classes"] == ["0", "1"]
    # Kept in the store: a later monitor reads it instead of scoring the evaluation data again.
    log_traffic(uri, [24], model=model, drift_from=0, seed=4, label_share=0.0)
    Monitor("fraud", store, uri=uri).run_once(now=T0 + 26 * HOUR)
    assert store.monitor_results("fraud", metrics=[REFERENCE_METRIC])[0].computed_at == stored[0].computed_at
    assert _values(store, "output_drifted.score")[T0 + 24 * HOUR] == 1.0
    assert REFERENCE_METRIC not in set(mc.monitor_results("fraud", store=store).metric)


def test_a_version_drifted_from_its_first_window_on_has_its_outputs_flagged_there(modelled):
    store, uri, model = modelled
    log_traffic(uri, range(2), model=model, drift_from=0, label_share=0.0)
    Monitor("fraud", store, uri=uri).run_once(now=END_OF_DAY)
    assert _values(store, "output_drifted.score") == {T0: 1.0, T0 + HOUR: 1.0}


def test_calibration_maps_probabilities_to_frequencies():
    rng = np.random.default_rng(5)
    truth = rng.random(20_000)
    y = (rng.random(20_000) < truth).astype(int)
    sharp = 1 / (1 + np.exp(-4 * (np.log(truth) - np.log1p(-truth))))  # the logit times 4
    calibration = Calibration.fit(np.column_stack([1 - sharp, sharp]), y)
    for p, expected in ((0.5, 0.5), (1 / (1 + math.exp(-4 * math.log(3))), 0.75)):
        assert calibration.of_class(1, np.array([p]))[0] == pytest.approx(expected, abs=0.05)
    again = Calibration.from_dict(calibration.to_dict())
    assert np.allclose(again.correct(np.linspace(0.5, 1, 11)), calibration.correct(np.linspace(0.5, 1, 11)))
    assert len(calibration.per_class[1][0]) <= 256


def test_the_outputs_reference_and_calibration_on_every_backend(modelled_on):
    store, uri, model = modelled_on
    log_traffic(uri, range(13), model=model, drift_from=12, label_share=0.5)
    with Monitor("fraud", store, uri=uri) as monitor:
        assert len(monitor.run_once(now=END_OF_DAY)) == 13
    drifted = _values(store, "output_drifted.score")
    assert drifted[T0 + 12 * HOUR] == 1.0 and drifted[T0] == 0.0
    assert abs(_values(store, "estimated_accuracy")[T0] - _values(store, "accuracy")[T0]) < 0.05
    (stored,) = store.monitor_results("fraud", metrics=[REFERENCE_METRIC])
    assert stored.labels["calibration"]["rows"] == 5_000
