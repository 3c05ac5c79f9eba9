"""Many writers at once lose nothing."""

from __future__ import annotations

import multiprocessing as mp

from modelcycle import Client, Metric

WRITERS = 8
SYNC_POINTS = 200
BATCHES = 5
BATCH_POINTS = 500


def _writer(tracking_uri: str, artifact_uri: str, index: int, queue) -> None:
    client = Client(tracking_uri, artifact_uri)
    run = client.create_run("concurrent", name=f"writer-{index}")
    for step in range(SYNC_POINTS):
        client.log_metric(run.id, "sync", index * 1000 + step, step=step)
    for b in range(BATCHES):
        client.log_batch(run.id, [Metric("batch", float(b * BATCH_POINTS + i), b * BATCH_POINTS + i, 1)
                                  for i in range(BATCH_POINTS)], params={f"p{b}": str(b)}, tags={"w": str(index)})
    client.end_run(run.id)
    queue.put(run.id)


def _run_writers(tracking_uri: str, artifact_uri: str) -> list[str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tracking_uri, artifact_uri, i, queue)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, "a writer process failed"
    return [queue.get(timeout=5) for _ in procs]


def _check(client: Client, run_ids: list[str]) -> None:
    assert len(run_ids) == WRITERS
    for run_id in run_ids:
        run = client.get_run(run_id)
        index = int(run.tags["w"])
        sync = client.get_metric_history(run_id, "sync")
        assert [m.value for m in sync] == [index * 1000 + s for s in range(SYNC_POINTS)]
        batch = client.get_metric_history(run_id, "batch")
        assert [m.step for m in batch] == list(range(BATCHES * BATCH_POINTS))
        assert run.metrics["batch"].value == BATCHES * BATCH_POINTS - 1
        assert run.params == {f"p{b}": str(b) for b in range(BATCHES)}


def test_eight_processes_on_one_sqlite_store(tmp_path):
    uri, artifacts = f"sqlite:///{tmp_path / 'shared.db'}", str(tmp_path / "artifacts")
    run_ids = _run_writers(uri, artifacts)  # the database is created by the racing writers
    _check(Client(uri, artifacts), run_ids)


def test_eight_processes_on_postgresql(postgres_uri, tmp_path):
    from tests.conftest import _truncate
    from modelcycle.store import open_store

    open_store(postgres_uri, str(tmp_path))
    _truncate(postgres_uri)
    run_ids = _run_writers(postgres_uri, str(tmp_path / "artifacts"))
    _check(Client(postgres_uri, str(tmp_path / "artifacts")), run_ids)


def test_eight_processes_through_the_server(tracking_server, tmp_path):
    run_ids = _run_writers(tracking_server.url, str(tmp_path))
    _check(Client(tracking_server.url), run_ids)
