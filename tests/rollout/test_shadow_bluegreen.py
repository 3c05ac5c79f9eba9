"""Shadow traffic and blue-green switches end to end in one process: a real model server app with
a deployment holder, requests over HTTP, the prediction log on disk."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from typer.testing import CliRunner

from modelcycle.cli import app

from modelcycle.rollout import strategies
from tests.rollout.conftest import rows, serve_deployment

SHADOW_DELAY_S = 0.3
CALLER_BOUND_S = 0.2  # what a caller may wait at most; each shadow copy takes longer


def test_a_failing_slow_shadow_never_reaches_the_caller_and_its_answers_are_logged(fraud_store, tmp_path,
                                                                                   monkeypatch):
    from modelcycle.rollout.report import shadow_report
    from modelcycle.serving.feedback import read_predictions
    from modelcycle.serving.predlog import PredictionLog

    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.shadow(store, "fraud-web", "fraud@challenger", 100, "ana")
    log = PredictionLog(str(tmp_path / "predictions"))
    holder, server = serve_deployment(store, "fraud-web", bad={"threshold": 0.5, "delay_s": SHADOW_DELAY_S}, log=log)
    data = rows(10, seed=5)
    statuses, versions, seconds = [], [], []
    try:
        with httpx.Client(timeout=10) as http:
            for i, row in enumerate(data):
                started = time.perf_counter()
                r = http.post(f"{server.url}/invocations", json={"dataframe_records": [row]},
                              headers={"x-request-id": f"r{i}"})
                seconds.append(time.perf_counter() - started)
                statuses.append(r.status_code)
                versions.append(r.headers["x-modelcycle-model-version"])
        _until(lambda: holder._shadows_in_flight == 0, SHADOW_DELAY_S * len(data) + 5)  # the copies finish
    finally:
        server.stop()
        holder.stop()
        log.close()
    assert set(statuses) == {200} and set(versions) == {"1"}
    assert max(seconds) < CALLER_BOUND_S, seconds
    frame = read_predictions("fraud", uri=str(tmp_path / "predictions"), with_feedback=False)
    shadow = frame[frame["arm"] == "shadow"]
    served = frame[frame["arm"] == "stable"]
    assert len(served) == len(data) and set(served["version"]) == {1}
    failing = {f"r{i}" for i, row in enumerate(data) if row["a"] > 0.5}
    assert 0 < len(failing) < len(data)
    assert set(shadow["request_id"]) <= {f"r{i}" for i in range(len(data))}
    assert set(shadow["version"]) == {2}
    assert set(shadow[shadow["request_id"].isin(failing)]["status"]) == {500}
    answered = shadow[~shadow["request_id"].isin(failing)]
    assert len(answered) and set(answered["status"]) == {200} and answered["prediction"].notna().all()
    assert len(shadow) + holder.shadows_skipped == len(data)
    found = shadow_report("fraud-web", store, uri=str(tmp_path / "predictions"))
    agree = served.set_index("request_id").loc[answered["request_id"], "prediction"].to_numpy() \
        == answered["prediction"].to_numpy()
    assert found.compared == len(answered) and found.agreement == pytest.approx(agree.mean())
    assert found.arms["shadow"]["errors"] == len(shadow[shadow["status"] == 500]) == len(failing)
    assert found.arms["stable"]["errors"] == 0 and found.arms["shadow"]["p50_ms"] >= SHADOW_DELAY_S * 1000
    stats = store.deployment_stats("fraud-web", 0)
    assert stats["shadow"].errors == len(shadow[shadow["status"] == 500]) and stats["stable"].errors == 0
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", str(tmp_path / "predictions"))
    shown = CliRunner().invoke(app, ["deploy", "report", "fraud-web", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)  # one document, the agreement in it
    assert document["compared"] == found.compared and document["agreement"] == pytest.approx(found.agreement)
    assert document["arms"]["shadow"]["errors"] == len(failing)


def _version(http, url) -> str:
    r = http.post(f"{url}/invocations", json={"dataframe_records": rows(1)})
    assert r.status_code == 200
    return r.headers["x-modelcycle-model-version"]


def _until(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_blue_green_switches_all_at_once_and_a_rollback_switches_back_at_once(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    holder, server = serve_deployment(store, "fraud-web")
    try:
        with httpx.Client(timeout=10) as http:
            assert _version(http, server.url) == "1"
            blue = holder._loaded[1]
            strategies.bluegreen(store, "fraud-web", "fraud@challenger", "ana", interval_s=30, grace_s=60)
            _until(lambda: store.get_deployment("fraud-web").shares["candidate"] == 100.0, 10)
            _until(lambda: holder.state.deployment.shares["candidate"] == 100.0, 2)
            assert {_version(http, server.url) for _ in range(20)} == {"2"}
            started = time.monotonic()
            strategies.rollback(store, "fraud-web", "bob", "the dashboards look wrong")
            _until(lambda: _version(http, server.url) == "1", 2)
            took = time.monotonic() - started
            assert {_version(http, server.url) for _ in range(20)} == {"1"}
            assert holder.current is blue and 2 in holder._loaded  # nothing was loaded again
    finally:
        server.stop()
        holder.stop()
    assert took < 1.0  # one refresh of 0.2 s, with room for a loaded machine
    events = store.deployment_events("fraud-web")
    switch = [e for e in events if e.kind == "switch"]
    assert len(switch) == 1 and switch[0].from_shares == {"stable": 100.0, "candidate": 0.0} \
        and switch[0].to_shares == {"stable": 0.0, "candidate": 100.0}
    assert events[-1].kind == "rollback" and events[-1].to_shares == {"stable": 100.0, "candidate": 0.0}
    assert store.get_model_version("fraud", 1).stage.value == "Production"


def test_after_a_blue_green_promotion_the_old_version_stays_loaded_for_the_grace_period(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    holder, server = serve_deployment(store, "fraud-web")
    try:
        with httpx.Client(timeout=10) as http:
            strategies.bluegreen(store, "fraud-web", "fraud@challenger", "ana", interval_s=1, grace_s=2, force=True)
            for _ in range(30):  # enough traffic for the analysis after the switch
                _version(http, server.url)
                time.sleep(0.05)
            _until(lambda: store.get_deployment("fraud-web").state == "promoted", 10)
            _until(lambda: holder.state.deployment.state == "promoted", 2)
            promoted = time.monotonic()
            assert _version(http, server.url) == "2"
            assert 1 in holder._loaded  # kept for a quick switch back
            _until(lambda: 1 not in holder._loaded, 4)
            assert time.monotonic() - promoted > 1.0
    finally:
        server.stop()
        holder.stop()
    assert store.get_model_version("fraud", 2).stage.value == "Production"


def test_no_count_is_lost_when_a_flush_runs_between_requests(fraud_store):
    import sys
    import threading

    from modelcycle.rollout.holder import DeploymentHolder

    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    holder = DeploymentHolder("fraud-web", store, load=lambda uri: None, worker="w1", lead=False)
    done = threading.Event()

    def count():
        for _ in range(20_000):
            holder.observe("stable", 1, 0.001, False)

    def flush():
        while not done.is_set():
            holder.flush()

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change places often, as on a busy server
    try:
        counters = [threading.Thread(target=count) for _ in range(4)]
        flusher = threading.Thread(target=flush)
        flusher.start()
        for t in counters:
            t.start()
        for t in counters:
            t.join()
        done.set()
        flusher.join()
    finally:
        sys.setswitchinterval(switch)
    holder.flush()
    assert store.deployment_stats("fraud-web", 0)["stable"].requests == 80_000


def _metric(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_shadow_copies_and_the_ones_skipped_are_counted_on_metrics(fraud_store, monkeypatch):
    from modelcycle.rollout import holder as holder_module

    _, _, store = fraud_store
    monkeypatch.setattr(holder_module, "MAX_SHADOW_IN_FLIGHT", 1)  # the second copy in flight is skipped
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.shadow(store, "fraud-web", "fraud@challenger", 100, "ana")
    holder, server = serve_deployment(store, "fraud-web", bad={"delay_s": SHADOW_DELAY_S})
    try:
        with httpx.Client(timeout=10) as http:
            before = http.get(f"{server.url}/metrics").text
            for row in rows(6, seed=5):
                assert http.post(f"{server.url}/invocations", json={"dataframe_records": [row]}).status_code == 200
            _until(lambda: holder._shadows_in_flight == 0, SHADOW_DELAY_S * 6 + 5)
            after = http.get(f"{server.url}/metrics").text
    finally:
        server.stop()
        holder.stop()
    skipped = holder.shadows_skipped
    assert skipped > 0
    name = "modelcycle_rollout_shadow_skipped_total"
    assert _metric(after, name, model="fraud") - _metric(before, name, model="fraud") == skipped
    name = "modelcycle_rollout_shadow_requests_total"
    copies = _metric(after, name, model="fraud", version="2") - _metric(before, name, model="fraud", version="2")
    assert copies == 6 - skipped
