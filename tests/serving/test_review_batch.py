"""Batch scoring output paths found in review: a folder, and the input itself."""

from __future__ import annotations

import pytest

import modelcycle as mc
from modelcycle.exceptions import InvalidInput


@pytest.fixture
def fruit_csv(serving_store, tmp_path):
    path = tmp_path / "in.csv"
    serving_store.models["fruit"].X[:5].to_csv(path, index=False)
    return path


def test_an_output_that_is_a_folder_is_refused(serving_store, fruit_csv, tmp_path):
    folder = tmp_path / "scored.csv"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    with pytest.raises(InvalidInput, match="is a folder"):
        mc.predict_batch("fruit@production", str(fruit_csv), str(folder), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]  # nothing hidden left in it
    with pytest.raises(InvalidInput, match="is a folder"):
        mc.predict_batch("fruit@production", str(fruit_csv), str(tmp_path / "errors.csv"), progress=False,
                         errors=str(folder))


def test_the_input_is_never_overwritten_by_its_scores(serving_store, fruit_csv, tmp_path):
    before = fruit_csv.read_bytes()
    for same in (str(fruit_csv), f"file://{fruit_csv}", str(tmp_path / "." / "in.csv")):
        with pytest.raises(InvalidInput, match="is the input"):
            mc.predict_batch("fruit@production", str(fruit_csv), same, progress=False, id_columns=[])
    assert fruit_csv.read_bytes() == before
