"""Feedback labels and read_predictions: labels join their predictions by request id (with or
without a row) or by key, the latest label wins, the POST /feedback body is checked with
clear messages, bulk files are recorded, and reads open only the date partitions in range."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.serving.feedback import handle_feedback_body, log_feedback, read_predictions
from modelcycle.serving.predlog import PredictionLog
from tests.serving.helpers_log import columns, now_ms, outputs, s3_bucket  # noqa: F401

DAY_MS = 86_400_000


def _log(root, records):
    with PredictionLog(str(root)) as log:
        for r in records:
            log.log(**r)


def _record(request_id, time_ms, version=1, n=1, keys=None, arm=None, model="fraud"):
    return dict(request_id=request_id, time_ms=time_ms, model=model, version=version, endpoint="infer", status=200,
                latency_ms=1.0, inputs=columns(n), outputs=outputs(n), keys=keys, arm=arm)


@pytest.fixture
def logged(tmp_path):
    t = now_ms() - 60_000
    _log(tmp_path, [_record("r1", t), _record("r2", t + 1, n=2), _record("r3", t + 2, keys=["user-7"]),
                    _record("r4", t + 3, version=2, arm="candidate")])
    return tmp_path, t


def test_labels_join_by_request_id_row_and_key(logged):
    root, t = logged
    uri = str(root)
    assert log_feedback("fraud", [1, 0], request_ids=["r1", "r2"], uri=uri) == 2  # r2: both its rows
    log_feedback("fraud", [1], request_ids=["r2"], rows=[1], uri=uri, time=t + 10_000)  # later, for row 1 only
    log_feedback("fraud", [0], keys=["user-7"], uri=uri)
    frame = read_predictions("fraud", uri=uri)
    got = [(r.request_id, r.row, None if pd.isna(r.label) else int(r.label)) for r in frame.itertuples()]
    assert got == [("r1", 0, 1), ("r2", 0, 0), ("r2", 1, 0), ("r3", 0, 0), ("r4", 0, None)]
    # the row-1 label of r2 holds from t + 10 s, before the request-level one (now): that one wins
    r2 = frame[frame.request_id == "r2"]
    assert r2.label_time.iloc[1] == r2.label_time.iloc[0] > pd.Timestamp(datetime.fromtimestamp(t / 1000 + 10,
                                                                                               tz=timezone.utc))


def test_the_latest_label_wins(logged):
    root, t = logged
    log_feedback("fraud", [0], request_ids=["r1"], uri=str(root), time=t + 5_000)
    log_feedback("fraud", [1], request_ids=["r1"], uri=str(root), time=t + 9_000)
    log_feedback("fraud", [0], request_ids=["r1"], uri=str(root), time=t + 7_000)  # arrives last, holds earlier
    frame = read_predictions("fraud", uri=str(root))
    assert frame.set_index("request_id").label["r1"] == 1
    log_feedback("fraud", [0], request_ids=["r1"], uri=str(root), time=t + 9_000)  # same time: arrival decides
    assert read_predictions("fraud", uri=str(root)).set_index("request_id").label["r1"] == 0


def test_filters_by_time_version_and_arm(logged):
    root, t = logged
    uri = str(root)
    assert read_predictions("fraud", start=t + 1, end=t + 3, uri=uri).request_id.tolist() == ["r2", "r2", "r3"]
    assert read_predictions("fraud", version=2, uri=uri).request_id.tolist() == ["r4"]
    assert read_predictions("fraud", version=[1, 2], uri=uri, with_feedback=False).shape[0] == 5
    assert read_predictions("fraud", arm="candidate", uri=uri).request_id.tolist() == ["r4"]
    start = datetime.fromtimestamp(t / 1000, tz=timezone.utc).isoformat()
    assert len(read_predictions("fraud", start=start, uri=uri)) == 5
    frame = read_predictions("fraud", uri=uri, with_feedback=False)
    assert "label" not in frame.columns and frame["input.amount"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    with pytest.raises(InvalidInput, match="end .* must be after start"):
        read_predictions("fraud", start=t, end=t, uri=uri)
    empty = read_predictions("nobody", uri=uri)
    assert empty.empty and {"request_id", "prediction", "label"} <= set(empty.columns)


def test_segments_outside_the_range_are_never_opened(tmp_path):
    t = now_ms()
    _log(tmp_path, [_record("old", t - 3 * DAY_MS), _record("today", t)])
    old_day = datetime.fromtimestamp((t - 3 * DAY_MS) / 1000, tz=timezone.utc).date().isoformat()
    corrupt = tmp_path / "model=fraud" / f"date={old_day}" / "0-corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    start = t - (t % DAY_MS)  # midnight today
    assert read_predictions("fraud", start=start, uri=str(tmp_path)).request_id.tolist() == ["today"]
    with pytest.raises(ModelcycleError, match="could not be read.*damaged"):
        read_predictions("fraud", uri=str(tmp_path))


def test_versions_with_other_signatures_read_together(tmp_path):
    t = now_ms()
    with PredictionLog(str(tmp_path)) as log:
        log.log("a", t, "fraud", 1, "infer", 200, 1.0, {"x": np.array([1])}, {"predict": np.array([0])})
        log.log("b", t + 1, "fraud", 2, "infer", 200, 1.0, {"x": np.array(["high"]), "y": np.array([0.5])},
                {"predict": np.array(["yes"])})
    frame = read_predictions("fraud", uri=str(tmp_path))
    assert frame["input.x"].tolist() == ["1", "high"] and frame["input.y"].isna().tolist() == [True, False]


@pytest.mark.parametrize("body, message", [
    (b"{nope", "not valid JSON"),
    (b'"text"', "a JSON object"),
    (b"[]", "no labels"),
    (b'{"label": 1}', 'names no prediction: add "request_id"'),
    (b'{"request_id": "r1"}', 'has no label: add "label"'),
    (b'{"request_id": "r1", "label": [1]}', "label must be a number, text or a boolean"),
    (b'{"request_id": "r1", "label": 1, "labl": 2}', "unknown field 'labl'"),
    (b'{"request_id": "r1", "label": 1, "time": "yesterday"}', "time must be ISO 8601"),
    (b'{"request_id": "r1", "label": 1, "row": -1}', "row at position 0 must be the row's index"),
    (b'[{"request_id": "r1", "label": 1}, {"key": "k", "label": "x"}]', "all numbers, all text or all booleans"),
    (b'{"feedback": [{"request_id": "r1", "label": 1}], "extra": 1}', "Unknown field 'extra' beside 'feedback'"),
    (b'{"feedback": {"request_id": "r1"}}', "'feedback' must be a list"),
    (b'{"request_id": "r1", "label": 12345678901234567890}', "Labels must be numbers that fit in 64 bits"),
    (b'{"request_id": true, "label": 1}', "request_id must be text of 1 to 256 characters without NUL, or a whole"),
])
def test_feedback_bodies_are_checked(tmp_path, body, message):
    with pytest.raises(InvalidInput, match=message):
        handle_feedback_body(body, "fraud", str(tmp_path))


def test_feedback_body_forms(logged):
    root, t = logged
    uri = str(root)
    assert handle_feedback_body({"request_id": "r1", "label": 1}, "fraud", uri) == {"model": "fraud", "recorded": 1}
    assert handle_feedback_body([{"request_id": "r2", "row": 0, "label": 0, "time": "2030-01-01T00:00:00Z"},
                                 {"key": "user-7", "label": 1, "time": t + 1}], "fraud", uri)["recorded"] == 2
    assert handle_feedback_body(b'{"model": "fraud", "feedback": [{"request_id": "r4", "label": 1}]}', None, uri) == \
        {"model": "fraud", "recorded": 1}
    with pytest.raises(InvalidInput, match='Name the model the labels are for: add "model"'):
        handle_feedback_body({"request_id": "r1", "label": 1}, None, uri)
    frame = read_predictions("fraud", uri=uri).set_index(["request_id", "row"])
    assert frame.label.fillna(-1).to_dict() == {("r1", 0): 1, ("r2", 0): 0, ("r2", 1): -1, ("r3", 0): 1,
                                                ("r4", 0): 1}


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": []}, "No labels given"),
    ({"labels": [1, 0], "request_ids": ["a"]}, "request_ids has 1 values and labels has 2"),
    ({"labels": [1]}, "pass request_ids .* or keys"),
    ({"labels": [None], "request_ids": ["a"]}, "label at position 0 is missing"),
    ({"labels": [1, 1], "request_ids": ["a", None]}, "position 1 has neither a request id nor a key"),
    ({"labels": [1], "request_ids": ["a"], "time": "soon"}, "time must be ISO 8601"),
    ({"labels": None, "request_ids": ["a"]}, "No labels given"),
    ({"labels": {1, 2}, "request_ids": ["a", "b"]}, "labels must be a list"),
    ({"labels": [b"x"], "request_ids": ["a"]}, "Labels must be numbers, text or booleans; got binary"),
    ({"labels": [datetime(2024, 1, 1)], "request_ids": ["a"]}, "Labels must be numbers, text or booleans; got "
                                                               "timestamp"),
    ({"labels": [1], "request_ids": ["a\x00"]}, "request id at position 0 must be text of 1 to 256 characters"),
    ({"labels": [1], "request_ids": [""]}, "request id at position 0 must be text of 1 to 256 characters"),
    ({"labels": [1], "request_ids": ["x" * 257]}, "request id at position 0 must be text of 1 to 256 characters"),
    ({"labels": [1], "keys": [True]}, "key at position 0 must be text"),
    ({"labels": [2 ** 64], "request_ids": ["a"]}, "Labels must be numbers that fit in 64 bits"),
])
def test_log_feedback_checks_its_arguments(tmp_path, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        log_feedback("fraud", uri=str(tmp_path), **kwargs)
    with pytest.raises(InvalidInput, match="cannot contain '@'"):
        log_feedback("fraud@2", [1], request_ids=["a"], uri=str(tmp_path))


def test_mc_exports_and_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELCYCLE_ARTIFACT_URI", str(tmp_path / "artifacts"))
    t = now_ms()
    _log(tmp_path / "artifacts" / "predictions", [_record("r1", t)])
    mc.log_feedback("fraud", [1], request_ids=["r1"])
    assert mc.read_predictions("fraud").label.tolist() == [1]
    assert (tmp_path / "artifacts" / "predictions" / "feedback" / "model=fraud").is_dir()


def test_bulk_feedback_from_csv_and_parquet(logged):
    root, t = logged
    env = {**os.environ, "MODELCYCLE_PREDICTION_LOG_URI": str(root)}
    pd.DataFrame({"request_id": ["r1", "r2"], "label": [0, 1]}).to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"key": ["user-7"], "label": [1], "time": [pd.Timestamp("2030-01-01", tz="UTC")]}).to_parquet(
        root / "keys.parquet")
    for name in ("labels.csv", "keys.parquet"):
        done = subprocess.run([sys.executable, "-m", "modelcycle", "feedback", str(root / name), "--model", "fraud"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
    assert "Recorded 1 label for fraud." in done.stdout
    frame = read_predictions("fraud", uri=str(root)).set_index("request_id")
    assert frame.label.loc[["r1", "r2", "r3"]].tolist() == [0, 1, 1, 1]  # r2 has two rows
    assert frame.label_time.loc["r3"] == pd.Timestamp("2030-01-01", tz="UTC")
    pd.DataFrame({"id": ["r1"], "truth": [1]}).to_csv(root / "other.csv", index=False)
    refused = subprocess.run([sys.executable, "-m", "modelcycle", "feedback", str(root / "other.csv"), "-m", "fraud"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "needs a 'label' column and a 'request_id' or 'key' column" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_read_predictions_on_s3(s3_bucket):  # noqa: F811
    t = now_ms()
    uri = "s3://mc-log/predictions"
    with PredictionLog(uri) as log:
        log.log("r1", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
        log.log("r2", t - 2 * DAY_MS, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    log_feedback("fraud", ["yes"], request_ids=["r1"], uri=uri)
    frame = read_predictions("fraud", start=datetime.now(timezone.utc) - timedelta(days=1), uri=uri)
    assert frame.request_id.tolist() == ["r1"] and frame.label.tolist() == ["yes"]


def test_segments_written_by_another_process_are_seen_on_s3(s3_bucket):  # noqa: F811
    uri = "s3://mc-log/predictions"
    t = now_ms()
    with PredictionLog(uri) as log:
        log.log("r1", t, "fraud", 1, "infer", 200, 1.0, columns(1), outputs(1))
    assert read_predictions("fraud", uri=uri).request_id.tolist() == ["r1"]  # lists (and caches) the partition
    child = subprocess.run([sys.executable, "-c", (
        "import sys, time, numpy as np\n"
        "from modelcycle.serving.predlog import PredictionLog\n"
        f"log = PredictionLog({uri!r})\n"
        f"log.log('r2', {t + 1}, 'fraud', 1, 'infer', 200, 1.0, {{'amount': np.array([1.0])}}, "
        "{'predict': np.array([1])})\n"
        "log.close()\n")], capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert child.returncode == 0, child.stderr
    assert read_predictions("fraud", uri=uri).request_id.tolist() == ["r1", "r2"]


def test_a_missing_time_is_now_and_labels_of_refused_types_never_reach_the_log(logged):
    root, _ = logged
    before = datetime.now(timezone.utc)
    log_feedback("fraud", [1], request_ids=["r1"], time=pd.NaT, uri=str(root))
    frame = read_predictions("fraud", uri=str(root))
    assert frame.label.notna().any() and frame.label_time.max() >= pd.Timestamp(before).floor("ms")
    for label in (b"x", datetime(2024, 1, 1)):
        with pytest.raises(InvalidInput):
            log_feedback("fraud", [label], request_ids=["no-such-request"], uri=str(root))
    assert read_predictions("fraud", uri=str(root)).label.notna().any()  # still readable


@pytest.mark.parametrize("kwargs, message", [
    ({"start": pd.NaT}, "start is missing"),
    ({"end": pd.NaT}, "end is missing"),
    ({"version": 2.0}, "version must be a version number or a list of them; got 2.0"),
    ({"version": float("nan")}, "version must be a version number or a list of them"),
    ({"version": "2"}, "version must be a version number or a list of them"),
    ({"version": []}, "version must be a version number or a list of them"),
    ({"start": "2030-01-02", "end": "2030-01-01"}, "must be after start"),
])
def test_read_predictions_checks_its_arguments(logged, kwargs, message):
    root, _ = logged
    with pytest.raises(InvalidInput, match=message):
        read_predictions("fraud", uri=str(root), **kwargs)


def test_bulk_feedback_from_csv_is_recorded_chunk_size_rows_at_a_time(tmp_path):
    import glob

    import pyarrow.parquet as pq

    from modelcycle.serving.feedback import FEEDBACK_DIR, log_feedback_file

    pd.DataFrame({"request_id": [f"r{i}" for i in range(1000)], "label": np.arange(1000) % 2}).to_csv(
        tmp_path / "labels.csv", index=False)
    assert log_feedback_file("fraud", str(tmp_path / "labels.csv"), chunk_size=200, uri=str(tmp_path / "log"),
                             progress=False) == 1000
    files = glob.glob(str(tmp_path / "log" / FEEDBACK_DIR / "**" / "*.parquet"), recursive=True)
    sizes = sorted(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert sum(sizes) == 1000 and max(sizes) <= 200, sizes
