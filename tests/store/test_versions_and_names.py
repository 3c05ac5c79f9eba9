"""Versions are read by one parser everywhere (digits that are not ASCII are InvalidInput, not a
ValueError); names that a URL cannot carry are refused when they are made. On every backend."""

from __future__ import annotations

import httpx
import pytest

from modelcycle import InvalidInput, NotFound
from modelcycle.store import validation
from tests.store.datasets import dataset_version

NOT_VERSIONS = ["²", "٣", "３", "-1", "0", "", " 3", "3 ", "3.0", "1e3", "0x3", "+3", "3\n", True, None, 2.0,
                2**31, "2147483648", "9" * 400]


@pytest.mark.parametrize("value, version", [("3", 3), (3, 3), ("007", 7), ("2147483647", 2**31 - 1)])
def test_the_version_parser_reads_ascii_digits_and_ints(value, version):
    assert validation.parse_version("dataset", value) == version


@pytest.mark.parametrize("value", NOT_VERSIONS)
def test_the_version_parser_refuses_anything_else(value):
    with pytest.raises(InvalidInput, match="A model version is a positive integer"):
        validation.parse_version("model", value)


@pytest.mark.parametrize("value", ["²", "٣", "1.5", "x"])
def test_versions_given_to_the_store_as_text_are_invalid_input(store, value):
    for call in (lambda: store.get_dataset("d", value), lambda: b"".join(store.open_dataset("d", value)),
                 lambda: store.get_model_version("m", value), lambda: store.dataset_uses(name="d", version=value)):
        with pytest.raises(InvalidInput, match="version is a positive integer"):
            call()


@pytest.mark.parametrize("ref", ["d@²", "d@٣", "d@0", "d@-1", "d@1.0"])
def test_dataset_references_with_other_digits_are_invalid_input(ref):
    from modelcycle.data.versions import parse_ref

    with pytest.raises(InvalidInput):
        parse_ref(ref)


def test_model_references_with_other_digits_are_invalid_input_or_an_alias(store, tmp_path):
    from modelcycle.models.uris import parse_ref, resolve_version

    with pytest.raises(InvalidInput):
        parse_ref("models:/m/²")
    run = store.create_run(store.create_experiment("e").id)
    store.create_model_version("m", run.id, "model", "ana")
    assert resolve_version(store, "m@1").version == 1
    with pytest.raises(NotFound, match="no alias '²'"):  # not a version: looked up as an alias
        resolve_version(store, "m@²")


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A3", "0", "-1", "%EF%BC%93", "1.0", "1e3"])
def test_the_server_answers_400_for_a_version_that_is_not_one(tracking_server, version):
    from tests.conftest import _truncate

    _truncate(tracking_server.store_uri)
    paths = [f"/api/datasets/d/versions/{version}"]
    if "." not in version and "e" not in version:  # the routes of integer versions read "1.0" as 1
        paths += [f"/api/datasets/d/versions/{version}/data", f"/api/registered-models/m/versions/{version}"]
    for path in paths:
        response = httpx.get(tracking_server.url + path)
        assert 400 <= response.status_code < 500 and response.status_code != 404, (path, response.text)
        assert response.json()["error"] == "INVALID_INPUT", path


# ---------------------------------------------------------------------------- names
@pytest.mark.parametrize("name", [".", ".."])
def test_model_names_a_url_cannot_carry_are_refused(store, name):
    run = store.create_run(store.create_experiment("e").id)
    for call in (lambda: store.create_registered_model(name), lambda: store.create_model_version(name, run.id, "m", "ana"),
                 lambda: store.get_registered_model(name)):
        with pytest.raises(InvalidInput, match="'.' or '..'"):
            call()
    assert store.list_registered_models() == []


@pytest.mark.parametrize("name", [".", ".."])
def test_dataset_names_a_url_cannot_carry_are_refused(store, tmp_path, name):
    with pytest.raises(InvalidInput, match="'.' or '..'"):
        store.log_dataset(name, **dataset_version(3, tmp_path))
    assert store.list_datasets() == []


@pytest.mark.parametrize("name", ["...", ".m", "m.", "a..b", "%2e", "%2e%2e", "a b", "?x#y"])
def test_names_with_dots_and_url_characters_go_everywhere(store, tmp_path, name):
    run = store.create_run(store.create_experiment("e").id)
    store.create_model_version(name, run.id, "model", "ana")
    assert store.get_registered_model(name).name == name
    assert store.get_model_version(name, 1).name == name
    store.set_registered_model_tag(name, "k", "v")
    assert store.model_history(name)[0].name == name
    version = dataset_version(3, tmp_path)
    store.log_dataset(name, **version)
    assert store.get_dataset(name, 1).name == name
    assert b"".join(store.open_dataset(name, 1)) == version["data_file"].read_bytes()
