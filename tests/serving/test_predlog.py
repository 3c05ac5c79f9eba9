"""The prediction log: what log() queues is written as whole Parquet segments per model and
date, rotated by rows, size and age; a full queue drops and counts (or waits); sampling; segments
of models whose signature changed read together; S3; and a writer killed with SIGKILL leaves
only whole segments behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from modelcycle.exceptions import InvalidInput
from modelcycle.serving.predlog import PredictionLog, segment_files
from tests.serving.helpers_log import columns, now_ms, outputs, read_all, s3_bucket, s3_keys, segments  # noqa: F401

DAY_MS = 86_400_000


def test_records_become_one_row_per_predicted_row(tmp_path):
    t = now_ms()
    with PredictionLog(str(tmp_path)) as log:
        assert log.log("r1", t, "fraud", 3, "infer", 200, 1.5, columns(2), outputs(2), arm="stable",
                       keys=["u1", "u2"])
        assert log.log("r2", t + 1, "fraud", 3, "invocations", 200, 0.5, columns(1, 10), outputs(1))
        assert log.log("bad", t + 2, "fraud", 3, "infer", 400, 0.1, None, None)
    files = segments(tmp_path)
    day = datetime.fromtimestamp(t / 1000, tz=timezone.utc).date().isoformat()
    assert len(files) == 1 and f"/model=fraud/date={day}/" in files[0]
    assert os.path.basename(files[0]).startswith(f"{t}-") and f"-{os.getpid()}-" in files[0]
    rows = pq.read_table(files[0]).to_pylist()
    assert [(r["request_id"], r["row"]) for r in rows] == [("r1", 0), ("r1", 1), ("r2", 0), ("bad", 0)]
    first = rows[0]
    assert first["time"] == datetime.fromtimestamp(t / 1000, tz=timezone.utc)
    assert (first["model"], first["version"], first["arm"], first["endpoint"], first["status"], first["latency_ms"],
            first["key"]) == ("fraud", 3, "stable", "infer", 200, 1.5, "u1")
    assert [r["input.amount"] for r in rows] == [0.0, 1.0, 10.0, None]
    assert [r["input.country"] for r in rows] == ["fr", "de", "fr", None]
    assert [r["prediction"] for r in rows] == [0, 1, 0, None]
    assert rows[1]["proba"] == [0.25, 0.75] and rows[3]["proba"] is None
    assert (rows[3]["status"], rows[2]["key"], rows[2]["arm"]) == (400, None, None)
    assert log.stats()["rows_written"] == 4 and log.stats()["segments_written"] == 1


def test_tensor_inputs_are_one_list_column(tmp_path):
    with PredictionLog(str(tmp_path)) as log:
        log.log("t", now_ms(), "digits", 1, "infer", 200, 1.0, np.arange(6, dtype=np.float32).reshape(2, 3),
                {"predict": np.array([1.5, 2.5])})
    table = read_all(tmp_path)
    assert table.column("input").to_pylist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert table.schema.field("input").type == pa.list_(pa.float32())


def test_partitioned_by_model_and_date(tmp_path):
    t = now_ms()
    with PredictionLog(str(tmp_path)) as log:
        log.log("a", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
        log.log("b", t - DAY_MS, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
        log.log("c", t, "churn model/v2", 1, "infer", 200, 1.0, columns(1), outputs(1))
    found = {os.path.relpath(os.path.dirname(f), tmp_path) for f in segments(tmp_path)}
    day = lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date().isoformat()  # noqa: E731
    assert found == {f"model=fraud/date={day(t)}", f"model=fraud/date={day(t - DAY_MS)}",
                     f"model=churn%20model%2Fv2/date={day(t)}"}


def test_segments_rotate_by_rows_and_by_age(tmp_path):
    log = PredictionLog(str(tmp_path), max_segment_rows=10, max_segment_age_s=0.3)
    t = now_ms()
    for i in range(25):
        log.log(f"r{i}", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    deadline = time.time() + 10
    while len(segments(tmp_path)) < 3 and time.time() < deadline:  # the last 5 rows go out by age alone
        time.sleep(0.05)
    sizes = sorted(pq.read_metadata(f).num_rows for f in segments(tmp_path))
    assert sizes == [5, 10, 10]
    log.close()
    assert len(segments(tmp_path)) == 3


def test_segments_rotate_by_size(tmp_path):
    with PredictionLog(str(tmp_path), max_segment_bytes=400_000) as log:
        for i in range(10):
            log.log(f"r{i}", now_ms(), "fraud", 1, "infer", 200, 1.0, {"x": np.zeros(2000)},
                    {"predict": np.zeros(2000)})
    # each request counts 2000 rows x (16 bytes of values + 64 of the other columns) = 160 kB:
    # a segment closes once past 400 kB, at its third request
    assert sorted(pq.read_metadata(f).num_rows for f in segments(tmp_path)) == [2000, 6000, 6000, 6000]


class _StalledLog(PredictionLog):
    """A log whose writer stops at its first record until released: the queue then fills."""

    def __init__(self, *args, **kwargs):
        self.entered, self.release = threading.Event(), threading.Event()
        super().__init__(*args, **kwargs)

    def _add(self, segments, record):
        self.entered.set()
        self.release.wait(30)
        super()._add(segments, record)


def test_full_queue_drops_and_counts(tmp_path):
    log = _StalledLog(str(tmp_path), queue_size=3)
    t = now_ms()
    assert log.log("r0", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    assert log.entered.wait(10)
    accepted = [log.log(f"r{i}", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1)) for i in range(1, 6)]
    assert accepted == [True, True, True, False, False]
    assert log.stats()["dropped"] == 2 and log.queue_depth == 3
    log.release.set()
    log.close()
    assert sorted(read_all(tmp_path).column("request_id").to_pylist()) == ["r0", "r1", "r2", "r3"]
    assert log.stats() | {"queue_size": 0} == {"queue_depth": 0, "queue_size": 0, "logged": 4, "dropped": 2,
                                                "sampled_out": 0, "rows_written": 4, "segments_written": 1,
                                                "write_errors": 0, "records_lost": 0}
    assert not log.log("late", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))  # closed: dropped
    assert log.dropped == 3


def test_full_queue_waits_when_configured(tmp_path):
    log = _StalledLog(str(tmp_path), queue_size=1, on_full="wait", wait_timeout_s=10)
    t = now_ms()
    log.log("r0", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    assert log.entered.wait(10)
    log.log("r1", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    threading.Timer(0.3, log.release.set).start()
    started = time.perf_counter()
    assert log.log("r2", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    assert time.perf_counter() - started >= 0.25
    log.close()
    assert log.dropped == 0 and sorted(read_all(tmp_path).column("request_id").to_pylist()) == ["r0", "r1", "r2"]


def test_a_waiting_log_does_not_block_the_servers_event_loop(tmp_path, served_models):
    """on_full="wait": a request whose record finds the queue full waits for room, and the
    server answers other requests meanwhile."""
    import httpx

    from modelcycle.serving.app import ServerThread, StaticHolder, create_app
    from modelcycle.serving.settings import ServingSettings

    log = _StalledLog(str(tmp_path), queue_size=1, on_full="wait", wait_timeout_s=10)
    body = {"instances": [[1.0] * 30]}
    with ServerThread(create_app(StaticHolder(served_models["cancer"]), ServingSettings(), log)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/invocations", json=body).status_code == 200  # the writer takes it and stalls
        assert log.entered.wait(10)
        assert client.post("/invocations", json=body).status_code == 200  # fills the queue
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(lambda: httpx.post(server.url + "/invocations", json=body, timeout=30))
            time.sleep(0.3)
            started = time.perf_counter()
            assert client.get("/v2/health/live").status_code == 200
            answered_in = time.perf_counter() - started
            assert not waiting.done()  # still waiting for room in the log
            log.release.set()
            assert waiting.result().status_code == 200
    log.close()
    assert answered_in < 0.5, answered_in
    assert log.dropped == 0 and len(read_all(tmp_path).column("request_id").to_pylist()) == 3


def test_sampling(tmp_path):
    with PredictionLog(str(tmp_path), sample_rate=0.3) as log:
        kept = sum(log.log(f"r{i}", now_ms(), "fraud", 1, "infer", 200, 1.0, None, None) for i in range(4000))
    # binomial(4000, 0.3): mean 1200, standard deviation 29; 6 deviations either side
    assert 1026 <= kept <= 1374 and log.sampled_out == 4000 - kept
    assert read_all(tmp_path).num_rows == kept
    with PredictionLog(str(tmp_path / "none"), sample_rate=0) as log:
        assert not log.log("r", now_ms(), "fraud", 1, "infer", 200, 1.0, None, None)
    assert segments(tmp_path / "none") == []


def test_versions_with_different_signatures_read_together(tmp_path):
    t = now_ms()
    with PredictionLog(str(tmp_path)) as log:
        log.log("v1", t, "fraud", 1, "infer", 200, 1.0, {"amount": np.array([5]), "country": np.array(["fr"])},
                {"predict": np.array([1])})
        log.log("v2", t, "fraud", 2, "infer", 200, 1.0, {"amount": np.array([2.5]), "new": np.array([True])},
                {"predict": np.array([0.5])})
        log.log("v3", t, "fraud", 3, "infer", 200, 1.0, {"amount": np.array(["high"])}, {"predict": np.array(["yes"])})
    files = segments(tmp_path)
    assert len(files) == 2  # v1 and v2 unify (int64 widens to double); v3's text cannot share a column type
    by_type = {str(pq.read_schema(f).field("input.amount").type): f for f in files}
    assert set(by_type) == {"double", "string"}
    assert [(r["version"], r["input.amount"], r["input.country"], r["input.new"])
            for r in pq.read_table(by_type["double"]).to_pylist()] == [(1, 5.0, "fr", None), (2, 2.5, None, True)]
    rows = duckdb.sql(f"SELECT version, \"input.amount\", \"input.country\", \"input.new\", prediction FROM "
                      f"read_parquet('{tmp_path}/model=*/date=*/*.parquet', union_by_name=true) "
                      "ORDER BY version").fetchall()
    assert [(v, float(a) if v < 3 else a, c, n) for v, a, c, n, _ in rows] == [
        (1, 5.0, "fr", None), (2, 2.5, None, True), (3, "high", None, None)]


def test_a_record_arrow_cannot_hold_is_lost_alone(tmp_path):
    t = now_ms()
    with PredictionLog(str(tmp_path)) as log:
        log.log("ok", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
        log.log("odd", t, "fraud", 1, "infer", 200, 1.0, {"amount": np.array([object()]), "country": np.array(["x"])},
                outputs(1))
    assert read_all(tmp_path).column("request_id").to_pylist() == ["ok"]


def test_write_failures_are_counted_and_the_writer_goes_on(tmp_path):
    blocker = tmp_path / "log" / "model=fraud"
    blocker.parent.mkdir()
    blocker.write_text("a file where the model's folder should be")
    t = now_ms()
    with PredictionLog(str(tmp_path / "log")) as log:
        log.log("lost", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
        log.log("kept", t, "churn", 1, "infer", 200, 1.0, columns(1), outputs(1))
    assert log.write_errors == 1 and log.records_lost == 1
    assert read_all(tmp_path / "log").column("request_id").to_pylist() == ["kept"]


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELCYCLE_ARTIFACT_URI", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_QUEUE_SIZE", "7")
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_ON_FULL", "wait")
    with PredictionLog() as log:
        assert (log.uri, log.queue_size, log.on_full) == (str(tmp_path / "artifacts" / "predictions"), 7, "wait")
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_SAMPLE_RATE", "2")
    with pytest.raises(InvalidInput, match="MODELCYCLE_PREDICTION_LOG_SAMPLE_RATE must be a number from 0 to 1"):
        PredictionLog()
    with pytest.raises(InvalidInput, match="on_full must be 'drop' or 'wait'"):
        PredictionLog(str(tmp_path), sample_rate=1, on_full="block")


def test_log_on_s3(s3_bucket):  # noqa: F811
    t = now_ms()
    with PredictionLog("s3://mc-log/predictions", max_segment_rows=3) as log:
        for i in range(4):
            log.log(f"r{i}", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    keys = s3_keys(s3_bucket)
    assert len(keys) == 2 and all(k.startswith("predictions/model=fraud/date=") and k.endswith(".parquet")
                                  for k in keys)
    import s3fs

    fs = s3fs.S3FileSystem()
    assert sum(pq.read_metadata(f"mc-log/{k}", filesystem=fs).num_rows for k in keys) == 4


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from modelcycle.serving.predlog import PredictionLog

    log = PredictionLog(sys.argv[1], max_segment_rows=4000, max_segment_age_s=0.05, on_full="wait",
                        queue_size=2000)
    text = np.array(["x" * 40] * 4, dtype=object)
    i = 0
    while True:
        log.log(f"{i:09d}", int(time.time() * 1000), "fraud", 1, "infer", 200, 0.5,
                {"a": np.arange(4, dtype=np.float64) + i, "s": text}, {"predict": np.full(4, i)})
        i += 1
        if i % 2000 == 0:
            time.sleep(0.001)
""")


@pytest.mark.parametrize("extra_s", [0.0, 0.37])
def test_kill_9_leaves_only_whole_segments(tmp_path, extra_s):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = tmp_path / "log"
    child = subprocess.Popen([sys.executable, str(script), str(root)], cwd=os.getcwd())
    try:
        deadline = time.time() + 60
        while len(segments(root)) < 5 and time.time() < deadline:
            assert child.poll() is None, "the logging process exited early"
            time.sleep(0.02)
        time.sleep(extra_s)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    files = segments(root)
    assert len(files) >= 5
    tables = [pq.read_table(f) for f in files]  # every visible segment reads whole
    table = pa.concat_tables(tables)
    ids = np.asarray(table.column("request_id").to_pylist(), dtype=np.int64)
    rows = table.column("row").to_numpy()
    order = np.lexsort((rows, ids))
    ids, rows = ids[order], rows[order]
    count = len(ids) // 4
    # every request whole, and no gap: only requests after the last written one are missing
    assert len(ids) == 4 * count
    assert (ids == np.repeat(np.arange(count), 4)).all() and (rows == np.tile(np.arange(4), count)).all()
    assert (table.column("input.a").to_numpy() == table.column("prediction").to_numpy() + table.column("row")
            .to_numpy()).all()


STALLED_WRITE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import pyarrow.parquet as pq
    from modelcycle.serving import predlog

    real = pq.write_table

    def stalled(table, where, **kwargs):  # half a segment written, then killed
        real(table.slice(0, 1), where, **kwargs)
        print("writing", flush=True)
        time.sleep(60)

    pq.write_table = stalled
    log = predlog.PredictionLog(sys.argv[1])
    log.log("r0", int(time.time() * 1000), "fraud", 1, "infer", 200, 0.5, {"a": np.arange(2.0)},
            {"predict": np.arange(2)})
    log.flush(timeout=60)
""")


def test_kill_9_while_writing_leaves_no_file(tmp_path):
    """A segment being written is no file of the folder (where unnamed files can be linked in
    place), or a hidden one that no reader sees and the next log on the folder removes."""
    script = tmp_path / "child.py"
    script.write_text(STALLED_WRITE)
    root = tmp_path / "log"
    child = subprocess.Popen([sys.executable, str(script), str(root)], cwd=os.getcwd(), stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    left = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.name.startswith(".") and p.name.endswith(".parquet.tmp") for p in left), left
    assert segments(root) == [] and segment_files(LocalFileSystem(), str(left[0].parent) if left else str(root)) == []
    PredictionLog(str(root)).close()  # the next writer on the folder
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_a_new_log_removes_the_hidden_files_of_killed_writers(tmp_path, monkeypatch):
    """Where the filesystem has no unnamed files, segments are written under hidden names: the
    next log on the folder removes those of writers that are gone, not those of live ones."""
    from modelcycle.serving import predlog

    monkeypatch.setattr(predlog, "_put_unnamed", lambda *args: False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "model=fraud" / "date=2026-01-02"
    folder.mkdir(parents=True)
    gone = folder / f".1767312000000-{predlog._HOST}-{dead.pid}-0123abcd.parquet.tmp"
    alive = folder / f".1767312000000-{predlog._HOST}-{os.getpid()}-4567abcd.parquet.tmp"
    other = folder / ".notes.tmp"  # not a segment's: not ours to remove
    for f in (gone, alive, other):
        f.write_bytes(b"PAR1")
    log = PredictionLog(str(tmp_path))
    log.log("r0", now_ms(), "fraud", 1, "infer", 200, 0.5, columns(1), outputs(1))
    log.close()
    assert not gone.exists() and alive.exists() and other.exists()
    assert read_all(tmp_path).column("request_id").to_pylist() == ["r0"]  # written through the fallback


def test_an_open_segment_holds_its_rows_as_arrow_not_as_python_objects(tmp_path):
    """A request's record is a few kilobytes of Python objects and ~300 bytes as Arrow: a segment
    that stays open for 100,000 rows must not keep 100,000 records alive."""
    import time
    import tracemalloc

    import numpy as np
    import pyarrow.dataset as ds

    from modelcycle.serving.predlog import PredictionLog

    log = PredictionLog(str(tmp_path), queue_size=100_000, max_segment_rows=10**9, max_segment_bytes=10**12,
                        max_segment_age_s=3600)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            log.log(f"r{i}", 1_764_547_200_000 + i, "m", 1, "v2_infer", 200, 1.0,
                    {f"c{j}": np.array([float(i + j)]) for j in range(30)},
                    {"predict": np.array([i % 2]), "predict_proba": np.array([[0.25, 0.75]])})
            if i % 1000 == 999:
                while log.queue_depth:
                    time.sleep(0.005)
        while log.queue_depth:
            time.sleep(0.01)
        time.sleep(0.2)
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    log.close()
    assert held < 30 * 2**20, f"{held / 2**20:.0f} MB held for 20,000 rows"
    table = ds.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 20_000
    assert sorted(table.column("request_id").to_pylist(), key=lambda r: int(r[1:])) == [f"r{i}" for i in range(20_000)]
    assert sorted(table.column("input.c3").to_pylist()) == [float(i + 3) for i in range(20_000)]
