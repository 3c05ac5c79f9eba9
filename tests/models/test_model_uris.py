"""What load_model says when it is given something it cannot load: each message names what was
given, what is wrong with it, and what to pass instead."""

from __future__ import annotations

import re

import pytest

import modelcycle as mc

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)

FORMS = r"runs:/<run_id>/<path>, models:/<name>@<version\|alias\|stage> or the path of a local model folder"


@pytest.mark.parametrize("uri, error, message", [
    ("", mc.InvalidInput, rf"The model URI is empty\. Pass {FORMS}\."),
    ("   ", mc.InvalidInput, rf"The model URI is empty\. Pass {FORMS}\."),
    ("/no/such/dir", mc.NotFound, r"No model folder at '/no/such/dir': the path does not exist\."),
    ("./no/such/dir", mc.NotFound, r"No model folder at './no/such/dir': the path does not exist\."),
    ("~/no-such-model-folder", mc.NotFound, r"No model folder at '~/no-such-model-folder' \(.*no-such-model-folder\): "
                                            r"the path does not exist\."),
    ("file:///no/such/dir", mc.NotFound, r"No model folder at 'file:///no/such/dir': the path does not exist\."),
    ("s3://bucket/models/fraud", mc.InvalidInput,
     r"Cannot load a model from 's3://bucket/models/fraud': s3:// is not a model URI\. Pass " + FORMS
     + r"\. A model logged to a store whose artifacts are on s3 loads by its runs:/ or models:/ URI\."),
    ("https://example.com/model", mc.InvalidInput, r"Cannot load a model from 'https://example.com/model': https://"),
    ("models://fraud/1", mc.InvalidInput, r"'models://fraud/1' has one '/' too many: write models:/fraud/1\."),
    ("runs://" + "a" * 32 + "/model", mc.InvalidInput, r".* has one '/' too many: write runs:/a{32}/model\."),
])
def test_what_cannot_be_loaded_says_why_and_what_to_pass(tracking, uri, error, message):
    with pytest.raises(error) as caught:
        mc.load_model(uri)
    assert re.match(message, str(caught.value)), str(caught.value)


def test_a_file_is_not_a_model_folder(tracking, tmp_path):
    (tmp_path / "model.yaml").write_text("flavor: sklearn\n")
    (tmp_path / "weights.bin").write_bytes(b"0")
    with pytest.raises(mc.InvalidInput, match=rf"'{re.escape(str(tmp_path / 'model.yaml'))}' is a file, not a model "
                                              rf"folder: pass the folder that holds it \('{re.escape(str(tmp_path))}'\)"):
        mc.load_model(str(tmp_path / "model.yaml"))
    with pytest.raises(mc.InvalidInput, match=r"is a file, not a model folder: pass the folder that holds "
                                              r"model\.yaml\."):
        mc.load_model(str(tmp_path / "weights.bin"))


def test_a_bare_name_is_still_a_registered_model(tracking):
    with pytest.raises(mc.NotFound, match="No registered model named 'fraud'"):
        mc.load_model("fraud")
    with pytest.raises(mc.NotFound, match="No registered model named 'fraud'"):
        mc.load_model("fraud@production")
