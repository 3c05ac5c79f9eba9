"""Micro-batching with the real ONNX forest: concurrent requests coalesce into one predict call,
each gets its own rows' answers (checked against scikit-learn), a bad request fails alone, a
request alone runs at once, and the batch size and the timeout are separate knobs."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.serving.batching import DirectPredictor, MicroBatcher


def _rows(X, start: int, n: int) -> dict[str, np.ndarray]:
    return {c: X[c].to_numpy()[start:start + n] for c in X.columns}


class Batches:
    def __init__(self):
        self.sizes: list[tuple[int, int]] = []  # (rows, requests)

    def __call__(self, model, rows: int, requests: int) -> None:
        self.sizes.append((rows, requests))


def test_concurrent_requests_coalesce_and_get_their_own_answers(served_models, serving_store):
    model = serving_store.models["cancer"]
    served, X = served_models["cancer"], model.X
    batches = Batches()
    batcher = MicroBatcher(lambda: served, max_batch_size=64, max_batch_delay_ms=2, on_batch=batches)
    sizes = [1 + i % 2 for i in range(40)]  # 1 or 2 rows each: results must map back row by row
    starts = np.cumsum([0, *sizes[:-1]])

    matrix = X.to_numpy()

    async def main():  # columns, and [n, k] tensors of the columns
        return await asyncio.gather(*(batcher.submit(_rows(X, s, n) if i % 2 else matrix[s:s + n])
                                      for i, (s, n) in enumerate(zip(starts, sizes))))

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    expected_labels = model.estimator.predict(X)
    expected_proba = model.estimator.predict_proba(X)
    for s, n, result in zip(starts, sizes, results):
        np.testing.assert_array_equal(result["predict"], expected_labels[s:s + n])
        np.testing.assert_allclose(result["predict_proba"], expected_proba[s:s + n], atol=1e-5)
    assert sum(r for r, _ in batches.sizes) == sum(sizes)
    assert sum(q for _, q in batches.sizes) == 40
    assert max(q for _, q in batches.sizes) > 10, batches.sizes  # coalesced, not one call per request
    assert all(r <= 64 for r, _ in batches.sizes)


def test_max_batch_size_counts_rows_and_a_larger_request_runs_alone(served_models, serving_store):
    served, X = served_models["cancer"], serving_store.models["cancer"].X
    batches = Batches()
    batcher = MicroBatcher(lambda: served, max_batch_size=8, max_batch_delay_ms=0, on_batch=batches)

    async def main():
        return await asyncio.gather(*(batcher.submit(_rows(X, i, 3)) for i in range(10)),
                                    batcher.submit(_rows(X, 0, 20)))

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    assert [len(r["predict"]) for r in results] == [3] * 10 + [20]
    assert (20, 1) in batches.sizes and all(r <= 8 for r, q in batches.sizes if q > 1)


def test_a_bad_request_in_a_batch_fails_alone(served_models, serving_store):
    model = serving_store.models["cancer"]
    served, X = served_models["cancer"], model.X
    batches = Batches()
    batcher = MicroBatcher(lambda: served, max_batch_size=64, on_batch=batches)
    beyond_float32 = _rows(X, 5, 1) | {"mean area": np.array([1e39])}  # passes the signature, fails the ONNX form
    wrong_type = _rows(X, 6, 1) | {"mean area": np.array(["big"])}  # fails the signature before joining

    async def main():
        good = [batcher.submit(_rows(X, i, 1)) for i in range(5)]
        return await asyncio.gather(*good, batcher.submit(beyond_float32), batcher.submit(wrong_type),
                                    *(batcher.submit(_rows(X, i, 1)) for i in range(7, 12)),
                                    return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    assert isinstance(results[5], InvalidInput) and "beyond the range of float32" in results[5].message
    assert isinstance(results[6], InvalidInput) and "Column 'mean area' must be double" in results[6].message
    expected = model.estimator.predict(X)
    for i, result in [*enumerate(results[:5]), *zip(range(7, 12), results[7:])]:
        assert not isinstance(result, Exception), result
        assert result["predict"].tolist() == [expected[i]]
    assert any(q > 1 for _, q in batches.sizes)  # the failing request was in a batch, and retried alone


def test_a_request_alone_runs_at_once(served_models, serving_store):
    served, X = served_models["cancer"], serving_store.models["cancer"].X
    batches = Batches()
    batcher = MicroBatcher(lambda: served, max_batch_size=64, max_batch_delay_ms=500, on_batch=batches)

    async def main():
        times = []
        for i in range(3):
            started = time.perf_counter()
            await batcher.submit(_rows(X, i, 1))
            times.append(time.perf_counter() - started)
        return times

    try:
        times = asyncio.run(main())
    finally:
        batcher.close()
    assert max(times) < 0.25, times  # not held back for the 500 ms batch delay
    assert batches.sizes == [(1, 1)] * 3


def test_a_timed_out_request_is_dropped_from_its_batch(served_models, serving_store):
    served, X = served_models["cancer"], serving_store.models["cancer"].X
    batches = Batches()
    batcher = MicroBatcher(lambda: served, max_batch_size=64, max_batch_delay_ms=0, on_batch=batches)

    async def main():
        first = asyncio.ensure_future(batcher.submit(_rows(X, 0, 1)))
        await asyncio.sleep(0)  # the first one is predicting; the next two wait for it
        late = asyncio.ensure_future(batcher.submit(_rows(X, 1, 1)))
        kept = asyncio.ensure_future(batcher.submit(_rows(X, 2, 1)))
        await asyncio.sleep(0)
        late.cancel()  # what the request timeout does
        return await first, await kept

    try:
        first, kept = asyncio.run(main())
    finally:
        batcher.close()
    assert len(first["predict"]) == 1 and len(kept["predict"]) == 1
    assert sum(r for r, _ in batches.sizes) == 2


def test_direct_predictor_predicts_each_request_alone(served_models, serving_store):
    served, X = served_models["cancer"], serving_store.models["cancer"].X
    batches = Batches()
    direct = DirectPredictor(lambda: served, on_batch=batches)

    async def main():
        return await asyncio.gather(*(direct.submit(_rows(X, i, 2)) for i in range(6)))

    try:
        results = asyncio.run(main())
    finally:
        direct.close()
    assert [len(r["predict"]) for r in results] == [2] * 6 and batches.sizes == [(2, 1)] * 6


def test_batches_form_under_http_load(serving_store, serve):
    """Concurrent HTTP clients against the slow native forest: the server coalesces them, as
    its batch histogram shows, and every client gets its own row's answer."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    model = serving_store.models["cancer"]
    server = serve(model.ref, backend="native")
    X = model.X
    expected = model.estimator.predict(X)

    def one(i: int):
        body = {"dataframe_split": {"columns": list(X.columns), "data": [X.iloc[i].tolist()]}}
        response = httpx.post(f"{server.url}/invocations", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["predictions"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48)))
    assert [a[0] for a in answers] == expected[:48].tolist()
    text = httpx.get(f"{server.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = [s for s in families["modelcycle_serving_batch_requests"].samples
               if s.labels.get("model") == "cancer" and s.name.endswith("_bucket") and s.labels["le"] == "1.0"]
    counts = [s for s in families["modelcycle_serving_batch_requests"].samples
              if s.labels.get("model") == "cancer" and s.name.endswith("_count")]
    assert counts and samples and samples[0].value < counts[0].value  # some predict calls took several requests


@pytest.mark.parametrize("size, delay", [(0, 2), (4, -1)])
def test_knobs_are_checked(served_models, size, delay):
    with pytest.raises(InvalidInput):
        MicroBatcher(lambda: served_models["cancer"], max_batch_size=size, max_batch_delay_ms=delay)


def test_tensors_of_columns_stay_one_matrix_through_a_batch(served_models, serving_store):
    from modelcycle.serving.runtime import Columns

    served, X = served_models["cancer"], serving_store.models["cancer"].X
    parts = [served.check(X.to_numpy()[i:i + 2]) for i in (0, 2, 4)]
    assert all(isinstance(p, Columns) and p.matrix is not None for p in parts)
    batch = served.concat(parts)
    assert batch.matrix.shape == (6, 30) and list(batch) == list(X.columns)
    np.testing.assert_array_equal(batch["mean area"], X["mean area"].to_numpy()[:6])
    mixed = served.concat([parts[0], served.check({c: X[c].to_numpy()[:2] for c in X.columns})])
    assert getattr(mixed, "matrix", None) is None and len(mixed["mean area"]) == 4
    np.testing.assert_array_equal(served.predict(batch)["predict"], serving_store.models["cancer"].estimator.predict(X[:6]))


def test_a_closed_batcher_fails_requests_instead_of_leaving_them_waiting(served_models, serving_store):
    served, X = served_models["cancer"], serving_store.models["cancer"].X
    batcher = MicroBatcher(lambda: served)
    batcher.close()

    async def main():
        return await asyncio.wait_for(batcher.submit(_rows(X, 0, 1)), 5)

    with pytest.raises(RuntimeError, match="shutdown"):
        asyncio.run(main())
