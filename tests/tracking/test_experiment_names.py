"""An experiment given as text is a name, even when the text is digits; an id is given as an
integer. On SQLite, PostgreSQL and through the server."""

from __future__ import annotations

import numpy as np
import pytest

import modelcycle as mc
from modelcycle import InvalidInput, NotFound


@pytest.fixture
def first(tracking):
    """An experiment with id 1, so that the text "1" could be mistaken for it."""
    experiment = tracking.create_experiment("first")
    assert experiment.id == 1
    return experiment


def test_a_run_in_an_experiment_named_with_digits_creates_that_experiment(tracking, first):
    with mc.start_run(experiment="2024") as run:
        pass
    assert tracking.get_experiment(run.experiment_id).name == "2024"
    with mc.start_run(experiment="1") as named_one:
        pass
    assert named_one.experiment_id != first.id
    assert tracking.get_experiment(named_one.experiment_id).name == "1"
    with mc.start_run(experiment=1) as by_id:
        pass
    assert by_id.experiment_id == first.id


def test_set_experiment_with_digits_is_a_name(tracking, first):
    mc.set_experiment("7")
    with mc.start_run() as run:
        pass
    assert tracking.get_experiment(run.experiment_id).name == "7"


def test_the_client_reads_text_as_a_name_and_integers_as_ids(tracking, first):
    named = tracking.create_experiment("1")
    assert tracking.get_experiment("1") == named
    assert tracking.get_experiment(1) == first
    assert tracking.get_experiment(np.int32(1)) == first
    with pytest.raises(NotFound, match="No experiment named '999'"):
        tracking.get_experiment("999")
    for wrong in (True, 1.0, None):
        with pytest.raises(InvalidInput):
            tracking.get_experiment(wrong)
    run = tracking.create_run("1")
    assert run.experiment_id == named.id
    assert [r.id for r in tracking.search_runs("1").runs] == [run.id]
    assert tracking.search_runs(1).runs == []
    assert [r.id for r in tracking.search_all_runs(["1", first.id])] == [run.id]
    tracking.rename_experiment("1", "one")
    assert tracking.get_experiment(named.id).name == "one" and tracking.get_experiment(1).name == "first"
    tracking.set_experiment_tag("one", "k", "v")
    tracking.delete_experiment("one")
    assert tracking.get_experiment(named.id).deleted and not tracking.get_experiment(1).deleted
