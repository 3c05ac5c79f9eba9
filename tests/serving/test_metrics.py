"""/metrics in Prometheus text format, read back with prometheus_client's own parser: requests by
model, version, endpoint and status, latency, batch sizes, requests in flight, the loaded
version and its load time, the prediction log's queue and drops; summed across processes in
multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx
from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _value(samples: dict, name: str, **labels) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_of_a_serving_server(serving_store, serve):
    from modelcycle.serving import metrics

    server = serve(serving_store.models["diabetes"].ref)
    before = _samples(httpx.get(server.url + "/metrics").text)
    X = serving_store.models["diabetes"].X[:3]
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}
    for _ in range(3):
        assert httpx.post(server.url + "/invocations", json=body).status_code == 200
    assert httpx.post(server.url + "/invocations", json={"instances": "x"}).status_code == 400
    assert httpx.get(server.url + "/v2/models/diabetes/versions/9").status_code == 404
    metrics.log_queue_depth(7)
    metrics.log_dropped(2)
    response = httpx.get(server.url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = _samples(response.text)

    def grew(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    common = {"model": "diabetes", "version": "1"}
    assert grew("modelcycle_serving_requests_total", endpoint="invocations", status="200", **common) == 3
    assert grew("modelcycle_serving_requests_total", endpoint="invocations", status="400", **common) == 1
    assert grew("modelcycle_serving_requests_total", endpoint="v2_model_metadata", status="404", **common) == 1
    assert grew("modelcycle_serving_request_duration_seconds_count", endpoint="invocations", **common) == 4
    assert grew("modelcycle_serving_request_duration_seconds_sum", endpoint="invocations", **common) > 0
    assert grew("modelcycle_serving_batch_rows_sum", **common) == 9
    assert grew("modelcycle_serving_batch_requests_count", **common) == 3
    assert _value(after, "modelcycle_serving_model_loaded", backend="onnx", **common) == 1
    assert _value(after, "modelcycle_serving_model_load_seconds", **common) > 0
    assert _value(after, "modelcycle_serving_requests_in_flight") == 0
    assert _value(after, "modelcycle_prediction_log_queue_depth") == 7
    assert grew("modelcycle_prediction_log_dropped_total") == 2
    buckets = [s for s in after["modelcycle_serving_request_duration_seconds_bucket"]
               if s.labels["endpoint"] == "invocations" and s.labels["model"] == "diabetes"]
    assert buckets[-1].labels["le"] == "+Inf" and len(buckets) == 16


WORKER = textwrap.dedent("""
    import sys
    from modelcycle.serving import metrics
    assert metrics.MULTIPROCESS
    n = int(sys.argv[1])
    for _ in range(n):
        metrics.request_done("cancer", "3", "v2_infer", 200, 0.004)
    metrics.batch("cancer", "3", n, n)
    metrics.model_loaded("cancer", "3", "onnx", 0.5 * n)
    metrics.log_queue_depth(n)
    metrics.log_dropped(n)
    metrics.IN_FLIGHT.inc(n)
    print("done")
""")

SCRAPE = textwrap.dedent("""
    import sys
    from modelcycle.serving import metrics
    for pid in sys.argv[1:]:
        metrics.mark_process_dead(int(pid))
    sys.stdout.write(metrics.render()[0].decode())
""")


def _python(script: str, *args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=120, check=True)


def test_metrics_add_up_across_worker_processes(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env, stdout=subprocess.PIPE, text=True)
               for n in (2, 5)]
    for worker in workers:
        assert worker.communicate(timeout=120)[0].strip() == "done"
    samples = _samples(_python(SCRAPE, env=env).stdout)
    labels = {"model": "cancer", "version": "3"}
    assert _value(samples, "modelcycle_serving_requests_total", endpoint="v2_infer", status="200", **labels) == 7
    assert _value(samples, "modelcycle_serving_request_duration_seconds_count", **labels) == 7
    assert _value(samples, "modelcycle_serving_batch_rows_sum", **labels) == 7
    assert _value(samples, "modelcycle_prediction_log_dropped_total") == 7
    # live gauges: the workers' files are still there until they are marked dead
    assert _value(samples, "modelcycle_serving_model_loaded", backend="onnx", **labels) == 2  # two workers serve it
    assert _value(samples, "modelcycle_serving_model_load_seconds", **labels) == 2.5  # the slowest load
    assert _value(samples, "modelcycle_prediction_log_queue_depth") == 7
    assert _value(samples, "modelcycle_serving_requests_in_flight") == 7
    samples = _samples(_python(SCRAPE, workers[0].pid, env=env).stdout)
    assert _value(samples, "modelcycle_serving_requests_in_flight") == 5  # the dead worker's share is gone
    assert _value(samples, "modelcycle_serving_model_loaded", backend="onnx", **labels) == 1
    assert _value(samples, "modelcycle_serving_requests_total", **labels) == 7  # counters keep what was counted


def test_a_swapped_in_version_is_reported_loaded_without_waiting_for_a_request(served_models):
    from modelcycle.serving.app import ServerThread, StaticHolder, create_app
    from modelcycle.serving.settings import ServingSettings

    holder = StaticHolder(served_models["digits"])
    with ServerThread(create_app(holder, ServingSettings())) as server:
        samples = _samples(httpx.get(server.url + "/metrics").text)
        assert _value(samples, "modelcycle_serving_model_loaded", model="digits", version="1") == 1
        holder.current = served_models["fruit"]  # what a holder's swap does
        samples = _samples(httpx.get(server.url + "/metrics").text)
        assert _value(samples, "modelcycle_serving_model_loaded", model="fruit", version="1") == 1
        assert _value(samples, "modelcycle_serving_model_loaded", model="digits", version="1") == 0
        response = httpx.get(server.url + "/v2/models/fruit")
        assert response.status_code == 200 and response.headers["x-modelcycle-model-version"] == "1"
