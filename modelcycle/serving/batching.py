"""Adaptive micro-batching: concurrent requests are coalesced into one predict call.

A request that arrives while nothing is predicting runs at once. Requests that arrive while a
predict is running wait for it and then go together, up to ``max_batch_size`` rows; when the
server is busy a batch also waits up to ``max_batch_delay_ms`` (from its first request's arrival)
for more to join. An ONNX predict of a few hundred rows or fewer runs on the event loop itself
(a one-row forest predict takes tens of microseconds, less than handing it to a thread and back);
larger ones and native models predict in a thread, so the event loop keeps accepting requests
meanwhile (requests that arrive during an inline predict wait in the socket and make the next
batch). Each request is checked against the signature before it joins a batch, so a bad
request fails alone; if a batched predict fails anyway, each request of the batch is retried
alone and only the failing ones fail. The request timeout is not the batch delay: the caller
bounds ``submit`` with its own timeout.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

from modelcycle.exceptions import InvalidInput

if TYPE_CHECKING:
    from modelcycle.serving.runtime import Inputs, Outputs, ServedModel

BatchObserver = Callable[["ServedModel", int, int], None]  # (model, rows, requests)
INLINE_ROWS = 256  # the most rows an ONNX predict runs on the event loop (about 5 ms of this forest)


def _inline(model, rows: int) -> bool:
    return rows <= INLINE_ROWS and getattr(model, "backend", None) == "onnx"


def _closed() -> RuntimeError:
    return RuntimeError("cannot predict after shutdown: the server is stopping")


class _Item:
    __slots__ = ("model", "inputs", "rows", "future", "arrived", "deadline")

    def __init__(self, model, inputs, rows, future, arrived, deadline=None):
        self.model, self.inputs, self.rows, self.future, self.arrived = model, inputs, rows, future, arrived
        self.deadline = deadline  # set when no timer watches the request: checked when its batch forms


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _expire(future: asyncio.Future, timeout_s: float) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no answer within {timeout_s:g} s"))


async def _awaited(future: asyncio.Future, loop, started: float, timeout_s: float | None):
    """``future``'s result, or TimeoutError after ``timeout_s``: one timer per request, a third
    of the cost of asyncio.timeout, which cancels and uncancels the task."""
    if timeout_s is None:
        return await future
    timer = loop.call_at(started + timeout_s, _expire, future, timeout_s)
    try:
        return await future
    finally:
        timer.cancel()


class MicroBatcher:
    def __init__(self, served_model_getter: Callable[[], ServedModel], max_batch_size: int = 64,
                 max_batch_delay_ms: float = 2.0, executor: Executor | None = None,
                 on_batch: BatchObserver | None = None):
        if max_batch_size < 1:
            raise InvalidInput(f"max_batch_size must be at least 1; got {max_batch_size}.")
        if max_batch_delay_ms < 0:
            raise InvalidInput(f"max_batch_delay_ms must be at least 0; got {max_batch_delay_ms}.")
        self._get = served_model_getter
        self.max_batch_size = max_batch_size
        self.max_batch_delay_s = max_batch_delay_ms / 1000.0
        self._own_executor = executor is None
        # One predict at a time: batches are the parallelism inside a worker, processes across them.
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="modelcycle-predict")
        self._on_batch = on_batch
        self._pending: deque[_Item] = deque()
        self._task: asyncio.Task | None = None
        self._waiter: asyncio.Future | None = None
        self._busy = False  # requests arrived while a predict ran: batches may wait to fill
        self._closed = False

    async def submit(self, inputs: Inputs, model: ServedModel | None = None, checked: bool = False,
                     timeout_s: float | None = None) -> Outputs:
        """The outputs of ``inputs``, predicted by ``model`` (default: the current one) together
        with whatever other requests are waiting. Raises InvalidInput for this request alone,
        TimeoutError when ``timeout_s`` passes first (queueing included).
        ``checked``: the caller already passed ``inputs`` through ``model.check``."""
        model = model or self._get()
        if not checked:
            inputs = model.check(inputs)
        if self._closed:
            raise _closed()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        now = loop.time()
        rows = model.rows(inputs)
        # A request that will be predicted on the event loop is answered in the drain that takes
        # it, during which no timer could fire: its deadline is checked when its batch forms,
        # instead of a timer set and cancelled for every request.
        unwatched = timeout_s is not None and rows <= self.max_batch_size and _inline(model, self.max_batch_size)
        self._pending.append(_Item(model, inputs, rows, future, now, now + timeout_s if unwatched else None))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        elif self._waiter is not None and self._pending_rows() >= self.max_batch_size:
            _resolve(self._waiter)
        if unwatched:
            return await future
        return await _awaited(future, loop, now, timeout_s)

    def _pending_rows(self) -> int:
        return sum(item.rows for item in self._pending)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        pending = self._pending
        while pending:
            if self._busy and self.max_batch_delay_s > 0 and self._pending_rows() < self.max_batch_size:
                remaining = pending[0].arrived + self.max_batch_delay_s - loop.time()
                if remaining > 0:
                    self._waiter = waiter = loop.create_future()
                    handle = loop.call_later(remaining, _resolve, waiter)
                    try:
                        await waiter
                    finally:
                        handle.cancel()
                        self._waiter = None
            batch = self._take()
            if not batch:
                continue
            rows = sum(i.rows for i in batch)
            if self._on_batch is not None:
                self._on_batch(batch[0].model, rows, len(batch))
            if _inline(batch[0].model, rows):
                results = _run(batch)
            else:
                try:
                    results = await loop.run_in_executor(self._executor, _run, batch)
                except Exception as exc:  # the executor itself failed (shut down): no request may hang
                    results = [exc] * len(batch)
            for item, result in zip(batch, results):
                if item.future.done():  # timed out or the client went away
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
            self._busy = bool(pending)

    def _take(self) -> list[_Item]:
        """The requests of the next batch: the oldest request's model, at most max_batch_size
        rows (a larger request goes alone). Requests for other models (a deployment's other
        arms) keep their places, so interleaved arms still make full batches."""
        pending = self._pending
        batch: list[_Item] = []
        others: list[_Item] = []
        rows = 0
        now = None
        while pending:
            item = pending.popleft()
            if item.future.done():
                continue
            if item.deadline is not None:
                now = now or asyncio.get_running_loop().time()
                if now >= item.deadline:
                    _expire(item.future, item.deadline - item.arrived)
                    continue
            if batch and item.model is not batch[0].model:
                others.append(item)
                continue
            if batch and rows + item.rows > self.max_batch_size:
                pending.appendleft(item)
                break
            batch.append(item)
            rows += item.rows
        pending.extendleft(reversed(others))
        return batch

    def close(self) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _run(batch: list[_Item]) -> list:
    """Predict a batch in one call, or each request alone if the batch fails."""
    model = batch[0].model
    if len(batch) == 1:
        return [_predict_one(batch[0])]
    try:
        outputs = model.predict(model.concat([item.inputs for item in batch]))
    except Exception:  # one request the signature let through broke the batch: find it
        return [_predict_one(item) for item in batch]
    results, start = [], 0
    for item in batch:
        stop = start + item.rows
        results.append({name: values[start:stop] for name, values in outputs.items()})
        start = stop
    return results


def _predict_one(item: _Item):
    try:
        return item.model.predict(item.inputs)
    except Exception as exc:  # handed to the request's future, raised in its handler
        return exc


class DirectPredictor:
    """No batching (``--no-batching``): each request is predicted on its own, small ONNX ones
    on the event loop, the others in a thread."""

    def __init__(self, served_model_getter: Callable[[], ServedModel], executor: Executor | None = None,
                 on_batch: BatchObserver | None = None):
        self._get = served_model_getter
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(min(4, os.cpu_count() or 1),
                                                        thread_name_prefix="modelcycle-predict")
        self._on_batch = on_batch
        self._closed = False

    async def submit(self, inputs: Inputs, model: ServedModel | None = None, checked: bool = False,
                     timeout_s: float | None = None) -> Outputs:
        model = model or self._get()
        if not checked:
            inputs = model.check(inputs)
        rows = model.rows(inputs)
        if self._on_batch is not None:
            self._on_batch(model, rows, 1)
        if _inline(model, rows):
            if self._closed:
                raise _closed()
            return model.predict(inputs)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        started = loop.time()
        done = self._executor.submit(model.predict, inputs)
        done.add_done_callback(lambda d: loop.call_soon_threadsafe(_settle, future, d))
        return await _awaited(future, loop, started, timeout_s)

    def close(self) -> None:
        self._closed = True
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(future: asyncio.Future, done) -> None:
    if future.done():  # timed out meanwhile
        return
    exc = done.exception()
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(done.result())


def make_batcher(served_model_getter: Callable[[], ServedModel], batching: bool = True, max_batch_size: int = 64,
                 max_batch_delay_ms: float = 2.0, on_batch: BatchObserver | None = None):
    if not batching:
        return DirectPredictor(served_model_getter, on_batch=on_batch)
    return MicroBatcher(served_model_getter, max_batch_size, max_batch_delay_ms, on_batch=on_batch)
