"""Requests for two arms arriving interleaved still make full batches: each batch takes every
waiting request of its model, not only the run before the first request of the other."""

from __future__ import annotations

import asyncio


def test_interleaved_arms_are_batched_per_model(fraud_store):
    import numpy as np

    from modelcycle.serving.batching import MicroBatcher
    from modelcycle.serving.runtime import ServedModel

    _, _, store = fraud_store
    one, two = (ServedModel.load(f"models:/fraud/{v}", store=store) for v in (1, 2))
    batches = []
    batcher = MicroBatcher(lambda: one, max_batch_size=64, max_batch_delay_ms=0,
                           on_batch=lambda model, rows, requests: batches.append((model.version, requests)))

    async def go():
        first = asyncio.ensure_future(batcher.submit({"a": np.array([0.1]), "b": np.array([0.2])}, one))
        await asyncio.sleep(0)  # the first predict runs; the next 40 wait behind it, arms alternating
        models = [one if i % 2 == 0 else two for i in range(40)]
        rest = [batcher.submit({"a": np.array([i / 40]), "b": np.array([0.0])}, m) for i, m in enumerate(models)]
        answers = await asyncio.gather(first, *rest)
        return models, answers

    try:
        models, answers = asyncio.run(go())
    finally:
        batcher.close()
    assert batches == [(1, 1), (1, 20), (2, 20)]
    for model, answer, i in zip(models, answers[1:], range(40)):  # each answered by its own model
        expected = model.predict({"a": np.array([i / 40]), "b": np.array([0.0])})
        assert {k: v.tolist() for k, v in answer.items()} == {k: v.tolist() for k, v in expected.items()}
