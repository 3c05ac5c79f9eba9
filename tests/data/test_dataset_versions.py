"""Versioned datasets on every backend: digests, versions, lineage, reading back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_wine

import modelcycle as mc
from modelcycle.data.datasets import dataset_runs, load_profile, load_schema, run_datasets


@pytest.fixture
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


def test_same_content_same_version_in_any_form(tracking, wine, tmp_path):
    first = mc.log_dataset(wine, name="wine")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    wine.to_parquet(tmp_path / "wine.parquet")
    assert mc.log_dataset(pa.Table.from_pandas(wine, preserve_index=False), name="wine").version == 1
    assert mc.log_dataset(tmp_path / "wine.parquet", name="wine").version == 1
    assert mc.log_dataset(str(tmp_path / "wine.csv"), name="wine").digest == first.digest
    second = mc.log_dataset(wine.iloc[:100], name="wine")
    assert (first.version, second.version) == (1, 2)
    assert (first.num_rows, first.num_columns, second.num_rows) == (178, 14, 100)
    assert [d.ref for d in tracking.store.list_datasets("wine")] == ["wine@1", "wine@2"]
    pd.testing.assert_frame_equal(mc.load_dataset("wine@1"), wine)
    assert len(mc.load_dataset("wine@latest")) == 100 and len(mc.load_dataset("wine")) == 100


def every_kind_of_column(rows: int = 300) -> pd.DataFrame:
    """Text, categorical, datetime, nullable-integer, boolean and float columns, with gaps."""
    rng = np.random.default_rng(5)
    city = pd.Series(rng.choice(["Zürich", "Lyon", "東京"], rows), dtype="category")
    code = pd.Series(rng.integers(-3, 10**6, rows), dtype="Int64")
    code[rng.random(rows) < 0.1] = pd.NA
    flag = pd.Series(rng.random(rows) < 0.4, dtype="boolean")
    flag[rng.random(rows) < 0.1] = pd.NA
    note = pd.Series([f"note {i}" for i in rng.integers(0, 10**5, rows)], dtype=object)
    note[rng.random(rows) < 0.1] = None
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, rows), unit="s")
    return pd.DataFrame({"note": note, "city": city, "when": when.as_unit("ns"), "code": code,
                         "flag": flag, "amount": rng.normal(100, 20, rows).round(2)})


def test_same_data_same_version_however_it_arrives(tracking, tmp_path):
    data = every_kind_of_column()
    csv, parquet = tmp_path / "data.csv", tmp_path / "data.parquet"
    data.to_csv(csv, index=False)
    data.to_parquet(parquet)
    typed = {"parse_dates": ["when"], "dtype": {"city": "category"}}
    arrivals = {
        "DataFrame": data,
        "CSV path": str(csv),
        "Parquet path": parquet,
        "pd.read_csv, nullable dtypes": pd.read_csv(csv, dtype_backend="numpy_nullable", **typed),
        "pd.read_csv, pyarrow dtypes": pd.read_csv(csv, dtype_backend="pyarrow", parse_dates=["when"]),
        "pd.read_parquet": pd.read_parquet(parquet),
        "pyarrow dtypes": data.convert_dtypes(dtype_backend="pyarrow"),
        "object text, us datetimes": data.astype({"note": object, "city": str}).assign(
            when=data["when"].dt.as_unit("us")),
        "Arrow, large_string and int32": pa.table({
            "note": pa.array(data["note"], pa.large_string()),
            "city": pa.array(data["city"].astype(str), pa.string()).dictionary_encode(),
            "when": pa.array(data["when"]).cast(pa.timestamp("ms")),
            "code": pa.array(data["code"]).cast(pa.int32()),
            "flag": pa.array(data["flag"]), "amount": pa.array(data["amount"], pa.float64())}),
    }
    versions = {how: mc.log_dataset(arrival, name="kinds") for how, arrival in arrivals.items()}
    assert {how: v.ref for how, v in versions.items()} == {how: "kinds@1" for how in arrivals}
    changed = data.copy()
    changed.loc[7, "city"] = "Lyon" if data.loc[7, "city"] != "Lyon" else "Zürich"
    assert mc.log_dataset(changed, name="kinds").ref == "kinds@2"
    assert mc.log_dataset(data.assign(code=data["code"].astype("Float64")), name="kinds").ref == "kinds@3"


def test_nested_columns_are_versioned_too(tracking):
    table = pa.table({"tags": pa.array([["a", "b"], None, []]), "point": pa.array([{"x": 1}, {"x": 2}, None]),
                      "n": [1, 2, 3]})
    first = mc.log_dataset(table, name="nested")
    wider = table.set_column(0, "tags", table["tags"].cast(pa.large_list(pa.large_string())))
    assert mc.log_dataset(table.to_pandas(), name="nested").ref == first.ref == "nested@1"
    assert mc.log_dataset(wider, name="nested").ref == "nested@1"
    assert mc.log_dataset(table.slice(0, 2), name="nested").ref == "nested@2"
    assert mc.load_dataset("nested@1")["tags"].tolist()[0].tolist() == ["a", "b"]


def test_already_normal_data_keeps_the_digest_it_had():
    """Numpy and pandas' own dtypes were hashed as they came; normalising must not move them."""
    import hashlib

    from modelcycle.data.versions import RowDigest

    def digest_before_normalising(table: pa.Table) -> str:
        sha = hashlib.sha256()
        for field in table.schema:
            sha.update(f"{field.name}\x1f{field.type}\x1e".encode())
        for batch in table.to_batches():
            sha.update(pd.util.hash_pandas_object(batch.to_pandas(), index=False).to_numpy().tobytes())
        return sha.hexdigest()

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"n": rng.integers(0, 100, 500), "x": rng.normal(size=500), "b": rng.random(500) < 0.5,
                          "s": pd.Series(rng.choice(["a", "b", None], 500)),
                          "t": pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 10**6, 500), unit="s")})
    frame.loc[3, "x"] = np.nan
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert [str(f.type) for f in table.schema] == ["int64", "double", "bool", "large_string", "timestamp[us]"]
    digest = RowDigest(table.schema)
    for batch in table.to_batches(max_chunksize=128):
        digest.update(batch)
    assert digest.hexdigest() == digest_before_normalising(table)


def test_schema_and_profile_are_stored_with_the_version(tracking, wine):
    mc.log_dataset(wine, name="wine")
    schema, profile = load_schema("wine@1"), load_profile("wine@1")
    assert schema.columns["alcohol"].type == "float"
    alcohol = schema.columns["alcohol"]
    assert alcohol.min < wine["alcohol"].min() and alcohol.max > wine["alcohol"].max()  # with a margin
    assert profile.rows == 178
    assert profile.columns["alcohol"].mean == pytest.approx(wine["alcohol"].mean())


def test_runs_record_their_inputs(tracking, wine):
    with mc.start_run(experiment="lineage") as run:
        mc.log_dataset(wine.iloc[:120], name="wine", role="train")
        mc.log_dataset(wine.iloc[120:], name="wine", role="eval")
    assert {(u.dataset, u.role) for u in run_datasets(run.id)} == {("wine@1", "train"), ("wine@2", "eval")}
    assert [u.run_id for u in dataset_runs("wine@2")] == [run.id]
    assert len(dataset_runs("wine")) == 2
    outside = mc.log_dataset(wine.iloc[:5], name="wine")  # no active run: versioned, not linked
    assert dataset_runs(f"wine@{outside.version}") == []


def test_bad_inputs_are_clear_errors(tracking, tmp_path):
    with pytest.raises(mc.InvalidInput, match="no rows"):
        mc.log_dataset(pd.DataFrame({"a": pd.Series([], dtype=float)}), name="empty")
    with pytest.raises(mc.NotFound):
        mc.log_dataset(tmp_path / "missing.csv", name="x")
    (tmp_path / "broken.csv").write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(mc.InvalidInput, match="row"):
        mc.log_dataset(tmp_path / "broken.csv", name="broken")
    with pytest.raises(mc.InvalidInput, match="role"):
        mc.log_dataset(pd.DataFrame({"a": [1]}), name="x", role="not a role")
    with pytest.raises(mc.InvalidInput):
        mc.log_dataset(pd.DataFrame({"a": [1]}), name="a@b")
    with pytest.raises(mc.NotFound, match="No dataset named"):
        mc.load_dataset("never-logged@1")
    with pytest.raises(mc.InvalidInput):
        mc.load_dataset("wine@zero")
    odd = pd.DataFrame({"prix unitaire €": [1.5, 2.5], "catégorie": ["a", "b"], "all null": [None, None]})
    version = mc.log_dataset(odd, name="odd")
    assert list(mc.load_dataset(version.ref).columns) == list(odd.columns)


def test_data_commands(tmp_path, wine):
    env = {**os.environ, "MODELCYCLE_HOME": str(tmp_path / "home")}
    wine.to_csv(tmp_path / "wine.csv", index=False)

    def cli(*args, check=True):
        out = subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                             text=True, timeout=120)
        assert not check or out.returncode == 0, out.stderr
        return out

    assert "wine@1" in cli("data", "add", str(tmp_path / "wine.csv"), "--name", "wine").stdout
    assert "wine@1" in cli("data", "add", str(tmp_path / "wine.csv"), "--name", "wine").stdout
    listed = json.loads(cli("data", "ls", "-o", "json").stdout)
    assert [(d["dataset"], d["rows"]) for d in listed] == [("wine@1", 178)]
    shown = json.loads(cli("data", "show", "wine@1", "-o", "json").stdout)
    assert {c["column"] for c in shown} == set(wine.columns)
    alcohol = next(c for c in shown if c["column"] == "alcohol")
    assert alcohol["mean"] == pytest.approx(wine["alcohol"].mean())
    missing = cli("data", "show", "wine@9", check=False)
    assert missing.returncode == 3 and "versions 1 to 1" in missing.stderr
    assert json.loads(cli("data", "lineage", "wine@1", "-o", "json").stdout) == []


def test_a_latin_1_csv_is_logged_and_validated_against_itself(tracking, tmp_path):
    path = tmp_path / "prix.csv"
    lines = ["ville,prix"] + [f"{city},{i % 9}.25" for i, city in enumerate(["Besançon", "Orléans", "Zürich"] * 100)]
    path.write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(mc.InvalidInput, match="not UTF-8 text"):
        mc.log_dataset(path, name="prix")
    version = mc.log_dataset(path, name="prix", encoding="latin-1")
    assert sorted(load_schema(version.ref).columns["ville"].categories) == ["Besançon", "Orléans", "Zürich"]
    report = mc.validate(path, against=version.ref, encoding="latin-1")
    assert report.ok and report.anomalies == []


def test_the_server_refuses_uploads_it_cannot_verify(tracking_server, tmp_path):
    import httpx

    from modelcycle.data.profile import Profiler, profile
    from modelcycle.data.reading import open_batches
    from modelcycle.data.schema import infer_schema
    from modelcycle.data.versions import spool_to_parquet
    from tests.conftest import _truncate

    _truncate(tracking_server.store_uri)
    data = every_kind_of_column(200)
    profiler = Profiler()
    path, digest, rows, columns = spool_to_parquet(open_batches(data).batches, tmp_path, on_batch=profiler.add)
    meta = {"digest": digest, "source": "test", "num_rows": rows, "num_columns": columns,
            "schema": infer_schema(profiler.result()).to_yaml(), "profile": json.dumps(profiler.result().to_dict())}
    parquet = path.read_bytes()

    def upload(body: bytes, **changes) -> httpx.Response:
        return httpx.post(f"{tracking_server.url}/api/datasets/kinds/versions", timeout=30,
                          data={"meta": json.dumps({**meta, **changes})},
                          files={"data": ("data.parquet", body, "application/octet-stream")})

    other = every_kind_of_column(201)
    refused = {
        "not Parquet": (b"note,city\nx,y\n", {}, "not a readable Parquet file"),
        "cut short": (parquet[: len(parquet) // 2], {}, "not a readable Parquet file"),
        "wrong digest": (parquet, {"digest": "0" * 64}, "digest"),
        "wrong row count": (parquet, {"num_rows": rows + 1}, "200 rows"),
        "wrong column count": (parquet, {"num_columns": columns - 1}, "6 columns"),
        "not a profile": (parquet, {"profile": '{"format": "nope"}'}, "Not a modelcycle profile"),
        "profile of other rows": (parquet, {"profile": json.dumps(profile(other).to_dict())}, "profile"),
        "profile of other columns": (parquet, {"profile": json.dumps(profile(data.iloc[:, :2]).to_dict())},
                                     "profile"),
        "not a schema": (parquet, {"schema": "columns: 3"}, "schema"),
        "schema of other columns": (parquet, {"schema": infer_schema(data.iloc[:, :2]).to_yaml()}, "schema"),
    }
    for case, (body, changes, message) in refused.items():
        response = upload(body, **changes)
        assert response.status_code == 400, (case, response.status_code, response.text)
        assert response.json()["error"] == "INVALID_INPUT" and message in response.json()["message"], case
    assert httpx.get(f"{tracking_server.url}/api/datasets", timeout=30).json() == {"datasets": []}
    assert upload(parquet).status_code == 201
    from modelcycle.data.versions import RowDigest, read_parquet_chunks
    from modelcycle.store import open_store

    stored = read_parquet_chunks(open_store(tracking_server.url, str(tmp_path / "unused")).open_dataset("kinds", 1))
    again = RowDigest(stored.schema)
    for batch in stored.to_batches():
        again.update(batch)
    assert (stored.num_rows, again.hexdigest()) == (200, digest)


def test_digest_does_not_depend_on_batching(tmp_path):
    from modelcycle.data.versions import spool_to_parquet

    table = pa.table({"x": np.arange(10_000), "y": np.random.default_rng(0).normal(size=10_000)})
    whole = spool_to_parquet(iter(table.to_batches()), tmp_path)[1]
    (tmp_path / "b").mkdir()
    pieces = spool_to_parquet(iter(table.to_batches(max_chunksize=333)), tmp_path / "b")[1]
    assert whole == pieces
    (tmp_path / "c").mkdir()
    changed = table.set_column(1, "y", pa.array(np.append(table["y"].to_numpy()[:-1], 0.0)))
    assert spool_to_parquet(iter(changed.to_batches()), tmp_path / "c")[1] != whole


def test_validate_against_a_stored_version(tracking, wine):
    reference = mc.log_dataset(wine, name="wine")
    same = mc.validate(wine.sample(frac=1.0, random_state=1), against=reference.ref)
    assert same.ok and same.drift is not None and same.drift.drifted_columns == []
    shifted = wine.copy()
    shifted["alcohol"] += 1.5  # drifts, within the margin of the inferred range
    shifted.loc[3, "magnesium"] = -1.0  # a sentinel: far out of range
    shifted = shifted.drop(columns=["hue"])
    report = mc.validate(shifted, against="wine@latest")
    kinds = {(a.column, a.kind) for a in report.errors}
    assert kinds == {("hue", "missing_column"), ("magnesium", "out_of_range")}
    assert "alcohol" in report.drift.drifted_columns and not report.ok


def test_validate_against_reference_data_in_any_form(tmp_path, wine):
    from modelcycle.data import infer_schema, profile, validate

    wine.to_parquet(tmp_path / "wine.parquet")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    shifted = wine.assign(proline=wine["proline"] * 1.5)
    expected = validate(shifted, infer_schema(wine), profile(wine))
    assert expected.drift.drifted_columns == ["proline"]
    references = {"DataFrame": wine, "Table": pa.Table.from_pandas(wine, preserve_index=False),
                  "Parquet path": tmp_path / "wine.parquet", "CSV path": str(tmp_path / "wine.csv"),
                  "Profile": profile(wine)}
    for how, reference in references.items():
        same = mc.validate(wine.sample(frac=1.0, random_state=2), against=reference)
        assert same.ok and same.anomalies == [] and same.drift.drifted_columns == [], how
        report = mc.validate(shifted, against=reference)
        assert [c.column for c in report.drift.columns] == [c.column for c in expected.drift.columns]
        assert [c.score for c in report.drift.columns] == pytest.approx([c.score for c in expected.drift.columns])
        assert report.drift.drifted_columns == ["proline"], how
    with pytest.raises(mc.InvalidInput, match="against must be"):
        mc.validate(wine, against=42)
    with pytest.raises(mc.NotFound, match="No file or folder"):
        mc.validate(wine, against=str(tmp_path / "nothing.csv"))


def test_validate_and_diff_commands(tmp_path, wine):
    env = {**os.environ, "MODELCYCLE_HOME": str(tmp_path / "home")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    wine.to_csv(tmp_path / "wine.csv", index=False)
    shifted = wine.copy()
    shifted["proline"] *= 1000  # a change of units: out of range, and drift
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    assert cli("data", "add", str(tmp_path / "wine.csv"), "--name", "wine").returncode == 0
    ok = cli("data", "validate", str(tmp_path / "wine.csv"), "--against", "wine@1",
             "--report", str(tmp_path / "ok.html"))
    assert ok.returncode == 0, ok.stderr
    assert "0 of 14 columns drifted" in ok.stdout and (tmp_path / "ok.html").exists()
    bad = cli("data", "validate", str(tmp_path / "shifted.csv"), "--against", "wine@1",
              "--report", str(tmp_path / "bad.html"), "-o", "json")
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["ok"] is False and "proline" in [c["column"] for c in result["drift"]["columns"] if c["drifted"]]
    html = (tmp_path / "bad.html").read_text()
    assert "proline" in html and "<svg" in html
    assert cli("data", "add", str(tmp_path / "shifted.csv"), "--name", "wine").returncode == 0
    diff = cli("data", "diff", "wine@1", "wine@2", "--report", str(tmp_path / "diff.html"), "-o", "json")
    assert diff.returncode == 0, diff.stderr
    drifted = [c["column"] for c in json.loads(diff.stdout)["columns"] if c["drifted"]]
    assert drifted == ["proline"]
    table = cli("data", "diff", "wine@1", "wine@2", "--report", str(tmp_path / "diff.html"))
    assert "1 of 14 columns drifted: proline" in table.stdout


def test_validate_command_reports_text_in_a_number_column(tmp_path, wine):
    env = {**os.environ, "MODELCYCLE_HOME": str(tmp_path / "home")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    wine.to_csv(tmp_path / "wine.csv", index=False)
    typo = wine.astype({"proline": object})
    typo.loc[150, "proline"] = "1O65"  # a letter O for a zero
    typo.to_csv(tmp_path / "typo.csv", index=False)
    assert cli("data", "add", str(tmp_path / "wine.csv"), "--name", "wine").returncode == 0
    out = cli("data", "validate", str(tmp_path / "typo.csv"), "--against", "wine@1",
              "--report", str(tmp_path / "typo.html"), "-o", "json")
    assert out.returncode == 1, out.stderr
    errors = [a for a in json.loads(out.stdout)["anomalies"] if a["severity"] == "error"]
    assert [(a["column"], a["kind"], a["details"]["values"]) for a in errors] == [
        ("proline", "type_mismatch", ["1O65"])]
    assert "1O65" in (tmp_path / "typo.html").read_text()


def test_data_commands_take_an_encoding(tmp_path):
    env = {**os.environ, "MODELCYCLE_HOME": str(tmp_path / "home")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    path = tmp_path / "villes.csv"
    path.write_bytes("\n".join(["ville,n"] + [f"{v},{i}" for i, v in enumerate(["Besançon", "Orléans"] * 50)])
                     .encode("latin-1"))
    refused = cli("data", "add", str(path), "--name", "villes")
    assert refused.returncode == 2 and "not UTF-8 text" in refused.stderr and "--encoding" in refused.stderr
    assert cli("data", "add", str(path), "--name", "villes", "--encoding", "latin-1").returncode == 0
    checked = cli("data", "validate", str(path), "--against", "villes@1", "--encoding", "latin-1",
                  "--report", str(tmp_path / "v.html"), "-o", "json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["anomalies"] == []
    against_file = cli("data", "validate", str(path), "--against", str(path), "--encoding", "latin-1",
                       "--report", str(tmp_path / "f.html"), "-o", "json")
    assert against_file.returncode == 0 and json.loads(against_file.stdout)["ok"] is True


def test_an_edited_schema_tightens_validation(tmp_path, wine):
    env = {**os.environ, "MODELCYCLE_HOME": str(tmp_path / "home")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    wine.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", str(tmp_path / "wine.csv"), "--name", "wine").returncode == 0
    assert cli("data", "schema", "wine@1", "--out", str(tmp_path / "schema.yaml")).returncode == 0
    import yaml

    from modelcycle.data.schema import Schema

    edited = Schema.from_yaml(tmp_path / "schema.yaml")
    edited.columns["alcohol"].max = 14.0  # tighter than the data's 14.83
    (tmp_path / "schema.yaml").write_text(edited.to_yaml(), encoding="utf-8")
    assert yaml.safe_load((tmp_path / "schema.yaml").read_text())
    plain = cli("data", "validate", str(tmp_path / "wine.csv"), "--against", "wine@1",
                "--report", str(tmp_path / "a.html"))
    strict = cli("data", "validate", str(tmp_path / "wine.csv"), "--against", "wine@1", "--schema",
                 str(tmp_path / "schema.yaml"), "--report", str(tmp_path / "b.html"), "-o", "json")
    assert plain.returncode == 0 and strict.returncode == 1
    anomalies = json.loads(strict.stdout)["anomalies"]
    assert [(a["column"], a["kind"]) for a in anomalies if a["severity"] == "error"] == [("alcohol", "out_of_range")]
