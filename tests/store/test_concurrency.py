"""Eight processes logging to one store at the same moment lose nothing."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from modelcycle import Client, Metric, RunStatus

WRITERS = 8
SYNC_POINTS = 300
BATCHES = 3
BATCH_POINTS = 200


def _writer(tracking_uri: str, artifact_uri: str, index: int, barrier, queue) -> None:
    try:
        client = Client(tracking_uri, artifact_uri)
        run = client.create_run("concurrent", name=f"writer-{index}")  # all create the experiment too
        barrier.wait(60)  # everybody writes at the same time
        for step in range(SYNC_POINTS):
            client.log_metric(run.id, "sync", float(index * 1000 + step), step=step, timestamp=1_000 + step)
        for b in range(BATCHES):
            client.log_batch(
                run.id,
                [Metric("batch", float(b * BATCH_POINTS + i) / 7, b * BATCH_POINTS + i, 5_000 + b)
                 for i in range(BATCH_POINTS)],
                params={f"p{b}": f"{index}-{b}"}, tags={"batch": b, f"t{b}": index},
            )
        client.log_param(run.id, "writer", index)
        client.set_tag(run.id, "w", index)
        client.set_tags(run.id, {"done": "yes", "batch": "final"})
        client.end_run(run.id)
        queue.put(("ok", run.id))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def _run_writers(tracking_uri: str, artifact_uri: str) -> list[str]:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tracking_uri, artifact_uri, i, barrier, queue))
             for i in range(WRITERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(30)
    assert [status for status, _ in results] == ["ok"] * WRITERS, results
    assert [p.exitcode for p in procs] == [0] * WRITERS
    return [run_id for _, run_id in results]


def _check(client: Client, run_ids: list[str]) -> None:
    assert len(set(run_ids)) == WRITERS
    (experiment,) = [e for e in client.list_experiments() if e.name == "concurrent"]
    assert sorted(r.id for r in client.search_all_runs(experiment.id)) == sorted(run_ids)
    seen_writers = set()
    for run_id in run_ids:
        run = client.get_run(run_id)
        index = int(run.tags["w"])
        seen_writers.add(index)
        assert run.name == f"writer-{index}" and run.status is RunStatus.FINISHED
        assert client.get_metric_history(run_id, "sync") == [
            Metric("sync", float(index * 1000 + s), s, 1_000 + s) for s in range(SYNC_POINTS)]
        assert client.get_metric_history(run_id, "batch") == [
            Metric("batch", float(s) / 7, s, 5_000 + s // BATCH_POINTS) for s in range(BATCHES * BATCH_POINTS)]
        assert run.metrics == {
            "sync": Metric("sync", float(index * 1000 + SYNC_POINTS - 1), SYNC_POINTS - 1, 1_000 + SYNC_POINTS - 1),
            "batch": Metric("batch", float(BATCHES * BATCH_POINTS - 1) / 7, BATCHES * BATCH_POINTS - 1,
                            5_000 + BATCHES - 1),
        }
        assert run.params == {"writer": str(index), **{f"p{b}": f"{index}-{b}" for b in range(BATCHES)}}
        assert {k: v for k, v in run.tags.items() if not k.startswith("mc.")} == {
            "w": str(index), "done": "yes", "batch": "final", **{f"t{b}": str(index) for b in range(BATCHES)}}
    assert seen_writers == set(range(WRITERS))


def test_eight_processes_on_one_sqlite_store(tmp_path):
    uri, artifacts = f"sqlite:///{tmp_path / 'shared.db'}", str(tmp_path / "artifacts")
    run_ids = _run_writers(uri, artifacts)  # the database is created by the racing writers
    _check(Client(uri, artifacts), run_ids)


def test_eight_processes_on_postgresql(postgres_uri, tmp_path):
    from modelcycle.store import open_store
    from tests.conftest import _truncate

    open_store(postgres_uri, str(tmp_path))
    _truncate(postgres_uri)
    run_ids = _run_writers(postgres_uri, str(tmp_path / "artifacts"))
    _check(Client(postgres_uri, str(tmp_path / "artifacts")), run_ids)


@pytest.mark.slow
def test_eight_processes_through_the_server(tracking_server, tmp_path):
    from tests.conftest import _truncate

    _truncate(tracking_server.store_uri)
    run_ids = _run_writers(tracking_server.url, str(tmp_path))
    _check(Client(tracking_server.url), run_ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_file_and_a_folder_of_one_name_never_both_win_a_race(backend, tmp_path, request):
    """Two writers log 'r/x' and 'r/x/y' at the same moment: one succeeds, the other is refused."""
    import threading

    from modelcycle import Conflict
    from modelcycle.store import open_store

    uri = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_uri")
    store = open_store(uri, str(tmp_path / "artifacts"))
    run = store.create_run(store.create_experiment("race").id)
    payload = tmp_path / "payload"
    payload.write_bytes(b"content")
    rounds = 25
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"file": [], "folder": []}

    def writer(kind: str) -> None:
        for r in range(rounds):
            barrier.wait(30)
            try:
                store.log_artifact(run.id, payload, f"r{r}/x" if kind == "file" else f"r{r}/x/y")
                outcomes[kind].append("ok")
            except Conflict:
                outcomes[kind].append("refused")

    threads = [threading.Thread(target=writer, args=(kind,)) for kind in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(len(v) == rounds for v in outcomes.values()), outcomes
    assert all(sorted(pair) == ["ok", "refused"] for pair in zip(*outcomes.values())), outcomes
    listed = {info.path for info in store.list_artifact_files(run.id)}
    assert all((f"r{r}/x" in listed) != (f"r{r}/x/y" in listed) for r in range(rounds)), listed


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_writers_of_tags_and_params_to_one_run_lose_none(backend, tmp_path, request):
    """A run's params and tags, kept on its row too, show every write of concurrent writers."""
    import threading

    from modelcycle.store import open_store

    uri = f"sqlite:///{tmp_path / 'tags.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_uri")
    store = open_store(uri, str(tmp_path / "artifacts"))
    run = store.create_run(store.create_experiment("tags").id, tags={"start": "0"})
    writers, rounds = 4, 40
    barrier = threading.Barrier(writers)

    def writer(w: int) -> None:
        barrier.wait(30)
        for i in range(rounds):
            store.log_batch(run.id, params={f"p{w}-{i}": str(i)}, tags={f"t{w}-{i}": str(i), f"last{w}": str(i)})
            if i % 5 == 4:
                store.delete_tag(run.id, f"t{w}-{i - 1}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    got = store.get_run(run.id)
    assert got.params == {f"p{w}-{i}": str(i) for w in range(writers) for i in range(rounds)}
    assert got.tags == {"start": "0", **{f"last{w}": str(rounds - 1) for w in range(writers)},
                        **{f"t{w}-{i}": str(i) for w in range(writers) for i in range(rounds) if i % 5 != 3}}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_writers_of_one_registry_tag_all_succeed(backend, tmp_path, request):
    """Eight threads set, overwrite and delete the same model and version tags (as concurrent
    set_promotion_policy calls do): none gets an error, and the last write of each key wins."""
    import threading

    from modelcycle.store import open_store

    uri = f"sqlite:///{tmp_path / 'reg.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_uri")
    store = open_store(uri, str(tmp_path / "artifacts"))
    if backend == "postgresql":
        from tests.conftest import _truncate

        _truncate(uri)
    run = store.create_run(store.create_experiment("reg").id)
    store.create_model_version("m", run.id, "model", "ana")
    writers, rounds = 8, 30
    barrier = threading.Barrier(writers)
    errors: list[str] = []

    def writer(w: int) -> None:
        barrier.wait(30)
        for i in range(rounds):
            try:
                store.set_registered_model_tag("m", "policy", f"{w}-{i}")
                store.set_model_version_tag("m", 1, "policy", f"{w}-{i}")
                if i % 3 == 2:
                    store.set_registered_model_tag("m", "gone", None)
                    store.set_model_version_tag("m", 1, "gone", None)
                else:
                    store.set_registered_model_tag("m", "gone", "x")
                    store.set_model_version_tag("m", 1, "gone", "x")
            except Exception as exc:  # any error fails the test, with its type
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    model, version = store.get_registered_model("m"), store.get_model_version("m", 1)
    assert set(model.tags) <= {"policy", "gone"} and set(version.tags) <= {"policy", "gone"}
    assert model.tags["policy"].split("-")[0] in {str(w) for w in range(writers)}
    assert version.tags["policy"].split("-")[0] in {str(w) for w in range(writers)}
    store.set_registered_model_tag("m", "gone", None)
    store.set_model_version_tag("m", 1, "gone", None)  # deleting an absent tag is no error
    assert "gone" not in store.get_registered_model("m").tags
