"""Batch scoring: CSV and Parquet in and out, chunk by chunk, local, on S3 and on a Dask cluster;
the answers of the model as logged (compiled forests bit for bit); bad rows reported by row
number and left out, or the run refused with nothing written; memory bounded by the chunk,
not the file."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modelcycle as mc
from modelcycle.exceptions import InvalidInput
from modelcycle.serving.batch import BadRows, predict_batch
from tests.serving.helpers_log import (  # noqa: F401
    cancer_frame, model_store, models, s3_bucket, s3_keys,
)

numba = pytest.importorskip("numba", reason="numba compiles forests for batch scoring (modelcycle[batch])")


def _native(name: str):
    return mc.load_model(f"models:/{name}/1", backend="native")


def _hidden_files(folder) -> list[str]:
    return [p for p in glob.glob(f"{folder}/.*") if os.path.isfile(p)]


def test_parquet_in_parquet_out_matches_the_native_model(models, tmp_path):
    frame = cancer_frame(5003, seed=1)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet", row_group_size=700)
    result = predict_batch("cancer@latest", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"),
                           chunk_size=1000)
    assert (result.rows, result.scored, result.bad_count, result.backend, result.version) == \
        (5003, 5003, 0, "compiled", 1)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == list(frame.columns) + ["prediction", "proba_0", "proba_1"]
    pd.testing.assert_frame_equal(out[frame.columns], frame)
    native = _native("cancer")
    assert (out.prediction.to_numpy() == native.predict(frame)).all()
    assert (out[["proba_0", "proba_1"]].to_numpy() == native.predict_proba(frame)).all()  # bit for bit
    assert _hidden_files(tmp_path) == []


def test_backends_agree(models, tmp_path):
    frame = cancer_frame(2000, seed=2)
    frame.to_parquet(tmp_path / "in.parquet")
    outs = {}
    for backend in ("compiled", "onnx", "native"):
        result = predict_batch("cancer@latest", str(tmp_path / "in.parquet"), str(tmp_path / f"{backend}.parquet"),
                               backend=backend, chunk_size=512)
        assert result.backend == backend
        outs[backend] = pd.read_parquet(tmp_path / f"{backend}.parquet")
    assert (outs["compiled"].proba_1 == outs["native"].proba_1).all()
    np.testing.assert_allclose(outs["onnx"].proba_1, outs["native"].proba_1, atol=1e-5)
    # a model that is not a forest: auto takes its ONNX form, compiled says why not
    pd.DataFrame({"a": [0.5, 1.5], "b": [1, 2], "c": [3, 4]}).to_parquet(tmp_path / "lin.parquet")
    assert predict_batch("linear@latest", str(tmp_path / "lin.parquet"), str(tmp_path / "lin-out.parquet")).backend \
        == "onnx"
    with pytest.raises(InvalidInput, match="backend='compiled' needs .* forest"):
        predict_batch("linear@latest", str(tmp_path / "lin.parquet"), str(tmp_path / "x.parquet"), backend="compiled")


def test_csv_in_csv_and_parquet_out(models, tmp_path):
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(7)], "country": ["fr", "de", "it", "fr", "de", "it", "fr"],
                          "amount": [-1.0, 2.0, 0.5, -0.25, 3.0, 1.0, -2.0]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    predict_batch("mixed@latest", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), chunk_size=3)
    out = pd.read_csv(tmp_path / "out.csv")
    native = _native("mixed")
    assert list(out.columns) == ["id", "country", "amount", "prediction", "proba_no", "proba_yes"]
    assert out.prediction.tolist() == native.predict(frame).tolist()
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]], native.predict_proba(frame), atol=1e-5)
    predict_batch("mixed@latest", str(tmp_path / "in.csv"), str(tmp_path / "ids.parquet"), id_columns="id")
    typed = pq.read_table(tmp_path / "ids.parquet")
    assert typed.column_names == ["id", "prediction", "proba_no", "proba_yes"]
    predict_batch("mixed@latest", str(tmp_path / "in.csv"), str(tmp_path / "typed.parquet"))
    # columns read as text to be checked row by row go out with the model's types
    assert pq.read_schema(tmp_path / "typed.parquet").field("amount").type == pa.float64()
    frame.to_csv(tmp_path / "in.csv.gz", index=False)
    predict_batch("mixed@latest", str(tmp_path / "in.csv.gz"), str(tmp_path / "out.csv.gz"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out.csv.gz"), out)  # gzip in, gzip out


def test_in_memory_input_and_a_model_loaded_once(models):
    from modelcycle.serving.batch import BatchModel

    frame = cancer_frame(50)
    result = predict_batch("cancer@latest", frame, id_columns=[])
    assert result.table.column_names == ["prediction", "proba_0", "proba_1"] and result.table.num_rows == 50
    model = BatchModel.load("cancer@latest")
    assert model.backend == "compiled" and model.served.version == 1
    again = predict_batch(model, pa.Table.from_pandas(frame), id_columns=[])
    assert again.table.equals(result.table) and again.backend == "compiled"


def test_bad_rows_refuse_the_run_and_write_nothing(models, tmp_path):
    frame = pd.DataFrame({"a": np.arange(3000, dtype=float), "b": np.arange(3000) % 10, "c": np.arange(3000) % 5})
    frame.to_csv(tmp_path / "in.csv", index=False)
    lines = (tmp_path / "in.csv").read_text().splitlines()
    lines[1 + 4] = "oops,4,4"  # data row 4: a is not a number
    lines[1 + 2500] = "2500.0,2.5,0"  # data row 2500: b is not a whole number
    lines[1 + 2700] = "2700.0,,0"  # data row 2700: b is missing
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "out.parquet").write_bytes(b"an earlier output")
    with pytest.raises(BadRows) as caught:
        predict_batch("linear@latest", str(tmp_path / "in.csv"), str(tmp_path / "out.parquet"), chunk_size=1000)
    assert [(r.row, r.column, r.value) for r in caught.value.bad_rows] == [(4, "a", "oops")]
    assert "row 4: column 'a' (value 'oops'): is not a number; the model takes double" in str(caught.value)
    assert "nothing was written" in str(caught.value) and "--max-bad-rows" in str(caught.value)
    assert (tmp_path / "out.parquet").read_bytes() == b"an earlier output" and _hidden_files(tmp_path) == []

    result = predict_batch("linear@latest", str(tmp_path / "in.csv"), str(tmp_path / "out.parquet"), chunk_size=1000,
                           max_bad_rows=3, errors=str(tmp_path / "errors.csv"))
    assert (result.rows, result.scored, result.bad_count) == (3000, 2997, 3)
    assert [(r.row, r.column, r.problem) for r in result.bad_rows] == [
        (4, "a", "is not a number; the model takes double"),
        (2500, "b", "is not a whole number; the model takes long"),
        (2700, "b", "is missing; the model takes long and has no value for a missing one")]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 2997 and not set(out.a) & {4.0, 2500.0, 2700.0}
    errors = pd.read_csv(tmp_path / "errors.csv")
    assert errors.row.tolist() == [4, 2500, 2700] and errors.value.tolist()[0] == "oops"


def test_rows_the_model_fails_on_are_found(models, tmp_path):
    amounts = np.linspace(0, 10, 1000)
    amounts[[17, 600, 601]] = -1.0
    pd.DataFrame({"amount": amounts}).to_parquet(tmp_path / "in.parquet")
    result = predict_batch("nonneg@latest", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"),
                           max_bad_rows=None, chunk_size=256)
    assert [r.row for r in result.bad_rows] == [17, 600, 601]
    assert "amount must be >= 0; got -1.0" in result.bad_rows[0].problem
    out = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(out.prediction, np.delete(amounts, [17, 600, 601]) * 2)


def test_a_failure_midway_leaves_no_output(models, tmp_path, monkeypatch):
    frame = cancer_frame(3000)
    frame.to_parquet(tmp_path / "in.parquet")
    from modelcycle.serving import batch

    calls = []
    real = batch._Scorer.score

    def failing(self, table, offset):
        calls.append(offset)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, table, offset)

    monkeypatch.setattr(batch._Scorer, "score", failing)
    with pytest.raises(OSError, match="disk full"):
        predict_batch("cancer@latest", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), chunk_size=1000)
    assert sorted(os.listdir(tmp_path)) == ["in.parquet"]


@pytest.mark.parametrize("call, message", [
    (lambda p: predict_batch("cancer@latest", str(p / "none.parquet"), str(p / "o.parquet")), "No input file at"),
    (lambda p: predict_batch("cancer@latest", str(p / "in.json"), str(p / "o.parquet")),
     "Cannot tell the format of .* name it .csv or .parquet"),
    (lambda p: predict_batch("cancer@latest", str(p / "few.csv"), str(p / "o.parquet")),
     "The input has no columns 'mean radius', 'mean texture'"),
    (lambda p: predict_batch("cancer@latest", str(p / "few.csv"), str(p / "o.parquet"), chunk_size=0),
     "chunk_size must be an integer >= 1"),
    (lambda p: predict_batch("linear@latest", str(p / "lin.csv"), str(p / "o.csv"), id_columns="nope"),
     "id_columns 'nope' are not columns of the input"),
    (lambda p: predict_batch("linear@latest", str(p / "clash.csv"), str(p / "o.csv")),
     "already has a column 'prediction'"),
    (lambda p: predict_batch("linear@latest", str(p / "lin.csv"), ""), "The output path is empty: name a file"),
    (lambda p: predict_batch("linear@latest", pd.DataFrame({"a": [True], "b": [1], "c": [2]})),
     "Column 'a' is bool in the input; the model takes double"),  # as the HTTP endpoints refuse it
])
def test_wrong_calls_say_what_to_do(models, tmp_path, call, message):
    (tmp_path / "in.json").write_text("{}")
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "few.csv", index=False)
    pd.DataFrame({"a": [1.0], "b": [1], "c": [2]}).to_csv(tmp_path / "lin.csv", index=False)
    pd.DataFrame({"a": [1.0], "b": [1], "c": [2], "prediction": [0]}).to_csv(tmp_path / "clash.csv", index=False)
    with pytest.raises(InvalidInput, match=message):
        call(tmp_path)


def test_header_only_input_gives_an_empty_output(models, tmp_path):
    (tmp_path / "in.csv").write_text("a,b,c\n")
    result = predict_batch("linear@latest", str(tmp_path / "in.csv"), str(tmp_path / "out.parquet"))
    assert result.rows == 0
    assert pq.read_table(tmp_path / "out.parquet").column_names == ["a", "b", "c", "prediction"]


def test_s3_in_and_out(models, tmp_path, s3_bucket):  # noqa: F811
    import s3fs

    frame = cancer_frame(1500)
    fs = s3fs.S3FileSystem()
    with fs.open("mc-log/batch/in.parquet", "wb") as f:
        frame.to_parquet(f)
    result = predict_batch("cancer@latest", "s3://mc-log/batch/in.parquet", "s3://mc-log/batch/out/preds.csv",
                           chunk_size=400, id_columns=[])
    assert result.scored == 1500
    assert s3_keys(s3_bucket, "batch/") == ["batch/in.parquet", "batch/out/preds.csv"]
    with fs.open("mc-log/batch/out/preds.csv", "rb") as f:
        out = pd.read_csv(f)
    assert (out.prediction.to_numpy() == _native("cancer").predict(frame)).all()


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed", reason="Dask scoring needs modelcycle[dask]")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_scores_like_local_with_one_load_per_worker(models, tmp_path, dask_cluster):
    from modelcycle.serving._dask import worker_model_loads

    frame = cancer_frame(4100, seed=3)
    frame.to_parquet(tmp_path / "in.parquet")
    local = predict_batch("cancer@latest", str(tmp_path / "in.parquet"), str(tmp_path / "local.parquet"),
                          chunk_size=500)
    before = worker_model_loads(dask_cluster)
    remote = predict_batch("cancer@latest", str(tmp_path / "in.parquet"), str(tmp_path / "dask.parquet"),
                           chunk_size=500, dask=dask_cluster)
    assert remote.rows == local.rows == 4100 and remote.backend == "compiled"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"), pd.read_parquet(tmp_path / "local.parquet"))
    after = worker_model_loads(dask_cluster)
    assert len(after) == 2
    uri = "models:/cancer/1"
    # 9 chunks over 2 workers: each worker loaded the model once, when it joined the batch
    assert {w: loads.get(uri, 0) - before.get(w, {}).get(uri, 0) for w, loads in after.items()} == \
        {w: 1 for w in after}
    # by scheduler address, with bad rows reported by their row in the whole input
    bad = frame.astype({"mean radius": object})
    bad.loc[[10, 3333], "mean radius"] = "n/a"
    bad.astype({"mean radius": str}).to_csv(tmp_path / "bad.csv", index=False)
    result = predict_batch("cancer@latest", str(tmp_path / "bad.csv"), str(tmp_path / "bad-out.csv"), chunk_size=500,
                           dask=dask_cluster.scheduler.address, max_bad_rows=10, errors=str(tmp_path / "errors.csv"))
    assert [r.row for r in result.bad_rows] == [10, 3333] and result.scored == 4098
    assert pd.read_csv(tmp_path / "errors.csv").row.tolist() == [10, 3333]


MEMORY_CHILD = textwrap.dedent("""
    import json, resource, sys
    import modelcycle as mc
    from modelcycle.serving.batch import predict_batch
    mc.set_tracking_uri(sys.argv[1], sys.argv[2])
    result = predict_batch("linear@latest", sys.argv[3], sys.argv[4], chunk_size=50_000)
    print(json.dumps({"rows": result.scored, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def _rows_file(path, rows: int) -> None:
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        table = pa.table({"a": rng.normal(size=n), "b": rng.integers(0, 10, n), "c": rng.integers(0, 5, n),
                          **{f"extra{i}": rng.normal(size=n) for i in range(12)}})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=50_000)
    writer.close()


def test_memory_is_bounded_by_the_chunk_not_the_file(models, tmp_path):
    script = tmp_path / "score.py"
    script.write_text(MEMORY_CHILD)
    peaks = {}
    for rows in (500_000, 2_000_000):
        source = tmp_path / f"in-{rows}.parquet"
        _rows_file(source, rows)
        done = subprocess.run([sys.executable, str(script), *models, str(source), str(tmp_path / f"out-{rows}.parquet")],
                              capture_output=True, text=True, timeout=240, env=os.environ.copy())
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["rows"] == rows
        peaks[rows] = report["peak_mb"]
        source.unlink()
    # 1.5 million more rows of 15 number columns are 180 MB in memory: none of it may stay (the
    # first chunks fill the reader's, scorer's and writer's buffers: 500,000 rows are past that)
    assert peaks[2_000_000] - peaks[500_000] < 30, peaks


def test_cli_predict_and_its_bad_rows(models, tmp_path):
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": models[0], "MODELCYCLE_ARTIFACT_URI": models[1]}
    pd.DataFrame({"a": ["1.5", "x", "2"], "b": [1, 2, 3], "c": [0, 1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    run = lambda *args: subprocess.run([sys.executable, "-m", "modelcycle", "predict", *args],  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=120)
    refused = run("linear@latest", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "row 1: column 'a' (value 'x'): is not a number" in refused.stderr
    assert not (tmp_path / "out.parquet").exists()
    done = run("linear@latest", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"), "--max-bad-rows", "1",
               "--chunk-size", "2")
    assert done.returncode == 0, done.stderr
    assert "Scored 2 of 3 rows with linear version 1 (onnx)" in done.stdout
    assert "1 bad row left out" in done.stderr
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 2


@pytest.mark.parametrize("name", ["ragged.csv", "ragged.csv.gz"])  # read by pyarrow itself; through Python
def test_cli_predict_on_a_ragged_csv_says_so_and_exits(models, tmp_path, name):
    """A row with too few fields in the first block of a CSV larger than one block: the reader
    is reading the next block ahead when the first fails, and the process must still exit
    (it hung, or aborted, in pyarrow's thread pool at exit)."""
    import gzip

    env = {**os.environ, "MODELCYCLE_TRACKING_URI": models[0], "MODELCYCLE_ARTIFACT_URI": models[1]}
    text = "a,b,c\n" + "1.5,1,0\n" * 10 + "2.5,1\n" + "1.5,1,0\n" * 3_000_000  # 24 MB: three blocks
    with (gzip.open if name.endswith(".gz") else open)(tmp_path / name, "wt", **(
            {"compresslevel": 1} if name.endswith(".gz") else {})) as f:
        f.write(text)
    for attempt in range(3):
        try:
            done = subprocess.run([sys.executable, "-m", "modelcycle", "predict", "linear@latest",
                                   str(tmp_path / name), "-o", str(tmp_path / "out.csv")],
                                  capture_output=True, text=True, env=env, timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"modelcycle predict did not exit after reporting the ragged row (attempt {attempt + 1})")
        assert done.returncode == 2, done.stderr
        assert "Expected 3 columns, got 2" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_compiled_forests_answer_as_scikit_learn():
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from modelcycle.serving.trees import CompiledForest

    X, y = make_classification(n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0)
    X_missing = X.copy()
    X_missing[::7, 2] = np.nan  # trained with missing values: some nodes send them left
    Xr, yr = make_regression(n_samples=400, n_features=5, random_state=0)
    cases = [(RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y), X),
             (RandomForestClassifier(n_estimators=10, random_state=0).fit(X_missing, y), X_missing),
             (RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y), X_missing),  # missing only now
             (DecisionTreeClassifier(random_state=0).fit(X, y), X),
             (ExtraTreesRegressor(n_estimators=12, random_state=0).fit(Xr, yr), Xr)]
    for model, data in cases:
        for rows in (data[:597], data[:3]):  # blocks of 16 rows and a padded tail; a tail alone
            got = CompiledForest.of(model).predict(rows)
            assert (got["predict"] == model.predict(rows)).all()
            if hasattr(model, "predict_proba"):
                assert (got["predict_proba"] == model.predict_proba(rows)).all()
    from sklearn.linear_model import LogisticRegression

    assert CompiledForest.of(LogisticRegression().fit(X, y)) is None


def test_values_the_native_model_refuses_are_bad_rows_on_the_compiled_walk_too(models):
    """scikit-learn refuses infinities and finite values beyond float32; the compiled walk, which
    casts to float32, must not score them (1e39 would become +inf)."""
    frame = cancer_frame(40, seed=3)
    column = frame.columns[0]
    frame.loc[[1, 2, 3], column] = [np.inf, -np.inf, 1e39]
    for backend in ("compiled", "native"):
        result = predict_batch("cancer@latest", frame, backend=backend, max_bad_rows=None, progress=False)
        assert [r.row for r in result.bad_rows] == [1, 2, 3], backend
        assert "infinity or a value too large" in result.bad_rows[0].problem, backend
        assert result.scored == 37


def test_large_integers_in_a_number_column_score_as_scikit_learn_does(tmp_path):
    """int64 above 2**53 goes to the model as scikit-learn's float64 then float32 (not rounded once
    to float32), and an integer column past float64's exact range is no traceback."""
    from sklearn.tree import DecisionTreeClassifier

    a, b = 2 ** 60, 2 ** 60 + 2 ** 37
    X = pd.DataFrame({"big": np.array([a, b] * 10, dtype=np.int64), "f": np.arange(20.0)})
    model = DecisionTreeClassifier(random_state=0).fit(X, [0, 1] * 10)
    with mc.start_run(experiment="big-ints"):
        info = mc.log_model(model, "model", input_example=X.head(5))
    rows = pd.DataFrame({"big": np.array([a + 2 ** 36 + 1, a, b], dtype=np.int64), "f": [1.0, 2.0, 3.0]})
    for backend in ("compiled", "native"):
        result = predict_batch(info.uri, rows, backend=backend, progress=False)
        assert result.table.column("prediction").to_pylist() == model.predict(rows).tolist(), backend
    floats = pd.DataFrame({"big": np.array([1, 2 ** 53 + 1], dtype=np.int64), "f": [1.0, 2.0]})
    floats.to_parquet(tmp_path / "in.parquet")
    result = predict_batch(info.uri, str(tmp_path / "in.parquet"), progress=False)
    assert result.scored == 2


def test_the_errors_file_holds_every_bad_row_past_those_kept_in_the_result(models, tmp_path):
    from modelcycle.serving.batch import REPORTED_BAD_ROWS

    n = 2 * REPORTED_BAD_ROWS + 500
    a = np.arange(n, dtype=float).astype(str).astype(object)
    a[: REPORTED_BAD_ROWS + 300] = "bad"  # more bad rows than the result keeps, over two chunks
    pd.DataFrame({"a": a, "b": np.arange(n) % 10, "c": np.arange(n) % 5}).to_csv(tmp_path / "in.csv", index=False)
    result = predict_batch("linear@latest", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), chunk_size=700,
                           max_bad_rows=None, errors=str(tmp_path / "errors.csv"), progress=False)
    assert result.bad_count == REPORTED_BAD_ROWS + 300 and len(result.bad_rows) == REPORTED_BAD_ROWS
    errors = pd.read_csv(tmp_path / "errors.csv")
    assert errors.row.tolist() == list(range(REPORTED_BAD_ROWS + 300))
    assert set(errors.value) == {"bad"} and set(errors.column) == {"a"}
    assert _hidden_files(tmp_path) == []
