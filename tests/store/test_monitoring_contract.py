"""Monitor results, alert state and the monitoring log, the contract on every backend."""

from __future__ import annotations

import math

import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.store.entities import AlertState, MonitorPoint


def _p(metric, value, start=0, version=1, labels=None, end=None):
    return MonitorPoint("fraud", version, start, end if end is not None else start + 3_600_000, metric, value,
                        labels or {})


def test_results_are_stored_read_back_by_window_and_metric_and_replaced(store):
    store.record_monitor_results("fraud", [
        _p("rows", 100, 0), _p("error_rate", 0.01, 0), _p("roc_auc", math.nan, 0),
        _p("drift_score.age", 0.02, 0, labels={"method": "wasserstein", "threshold": 0.1}),
        _p("rows", 50, 3_600_000), _p("error_rate", 0.5, 3_600_000), _p("rows", 10, 0, version=2)])
    got = store.monitor_results("fraud", metrics=["error_rate", "roc_auc"])
    assert [(p.window_start, p.metric, p.value) for p in got if p.metric == "error_rate"] == [
        (0, "error_rate", 0.01), (3_600_000, "error_rate", 0.5)]
    assert math.isnan(next(p.value for p in got if p.metric == "roc_auc"))
    drift = store.monitor_results("fraud", metrics=["drift_score.age"])[0]
    assert drift.labels == {"method": "wasserstein", "threshold": 0.1} and drift.computed_at > 0
    assert [p.window_start for p in store.monitor_results("fraud", start_ms=3_600_000)] == [3_600_000, 3_600_000]
    assert {p.version for p in store.monitor_results("fraud", version=2)} == {2}
    assert store.monitor_windows("fraud") == {1: 7_200_000, 2: 3_600_000}
    store.record_monitor_results("fraud", [_p("roc_auc", 0.9, 0)])  # a late label recomputes
    assert store.monitor_results("fraud", metrics=["roc_auc"], version=1)[0].value == 0.9
    assert store.monitor_results("other") == [] and store.monitor_windows("other") == {}


@pytest.mark.parametrize("points, words", [
    ([MonitorPoint("other", 1, 0, 1, "m", 1.0)], "written under"),
    ([MonitorPoint("fraud", -1, 0, 1, "m", 1.0)], "version"),
    ([MonitorPoint("fraud", 1, 5, 1, "m", 1.0)], "ends before"),
    ([MonitorPoint("fraud", 1, 0, 1, "", 1.0)], "metric name"),
    ([MonitorPoint("fraud", 1, 0, 1, "m", math.inf)], "finite"),
    ([MonitorPoint("fraud", 1, 0, 1, "m", "1")], "finite"),
    ("nope", "list of MonitorPoint"),
])
def test_bad_results_are_refused_saying_what_is_wrong(store, points, words):
    with pytest.raises(InvalidInput, match=words):
        store.record_monitor_results("fraud", points)
    assert store.monitor_results("fraud") == []


def test_alert_states_are_replaced_by_fingerprint_and_events_append(store):
    first = AlertState("fraud", "error-rate/1", "error-rate", "pending", 1000, None, None, 1000, {"value": 0.02})
    store.save_alert_states("fraud", [first])
    firing = AlertState("fraud", "error-rate/1", "error-rate", "firing", 1000, 2000, None, 2000, {"value": 0.03})
    store.save_alert_states("fraud", [firing, AlertState("fraud", "drift/1", "drift", "inactive", None, None, None,
                                                         2000)])
    assert store.alert_states("fraud") == [
        AlertState("fraud", "drift/1", "drift", "inactive", None, None, None, 2000, {}), firing]
    assert store.alert_states("other") == []
    store.delete_alert_states("fraud", ["drift/1"])
    assert [s.fingerprint for s in store.alert_states()] == ["error-rate/1"]
    with pytest.raises(InvalidInput, match="Unknown alert state"):
        store.save_alert_states("fraud", [AlertState("fraud", "x", "x", "burning", None, None, None, 1)])
    one = store.add_monitor_event("fraud", "notify", {"channel": "log", "ok": True})
    two = store.add_monitor_event("fraud", "action", {"action": "rollback"})
    assert [e.kind for e in store.monitor_events("fraud")] == ["notify", "action"]
    assert store.monitor_events("fraud", kind="action") == [two]
    assert store.monitor_events("fraud", after_seq=one.seq) == [two]
    with pytest.raises(InvalidInput, match="event kind"):
        store.add_monitor_event("fraud", "no spaces", {})
