"""Registry calls take the values users have at hand: numpy integers as versions (as read from
a DataFrame of versions), and the same defaults on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modelcycle as mc


@pytest.fixture(scope="module")
def small_model():
    X = np.arange(40.0).reshape(20, 2)
    return LogisticRegression().fit(X, (X[:, 0] > 20).astype(int)), X


@pytest.mark.parametrize("version", [np.int64(1), np.int32(1), np.uint8(1)])
def test_a_numpy_integer_is_a_version(tracking, small_model, version):
    model, X = small_model
    with mc.start_run(experiment="np-versions"):
        mc.log_model(model, "model", input_example=X[:3], registered_model_name="npv")
    assert tracking.store.get_model_version("npv", version).version == 1
    mc.set_alias("npv", "champion", version)
    assert mc.get_model_version("npv@champion").version == 1
    moved = mc.promote("npv", version, "staging").version
    assert (moved.version, moved.stage) == (1, mc.Stage.STAGING)
    tracking.store.set_model_version_tag("npv", version, "k", "v")
    assert tracking.store.get_model_version("npv", 1).tags == {"k": "v"}


@pytest.mark.parametrize("version", [True, 1.0, "1", np.float64(1.0), 0, -1, 2**31])
def test_what_is_not_a_version_is_still_refused(tracking, small_model, version):
    model, X = small_model
    with mc.start_run(experiment="np-versions"):
        mc.log_model(model, "model", input_example=X[:3], registered_model_name="npv")
    with pytest.raises(mc.InvalidInput, match="A model version is a positive integer"):
        tracking.store.get_model_version("npv", version)


def test_a_version_registered_without_a_description_has_an_empty_one_on_every_backend(tracking, small_model):
    model, X = small_model
    with mc.start_run(experiment="np-versions"):
        info = mc.log_model(model, "model", input_example=X[:3])
    assert mc.register_model(info, "nodesc", description=None).description == ""
    assert tracking.store.create_registered_model("nodesc2", description=None).description == ""


@pytest.mark.parametrize("alias", [" 1", "+1", "two words", "é"])
def test_an_alias_that_could_never_be_set_is_not_suggested(tracking, small_model, alias):
    model, X = small_model
    with mc.start_run(experiment="np-versions"):
        mc.log_model(model, "model", input_example=X[:3], registered_model_name="npv")
    with pytest.raises(mc.NotFound) as refused:
        mc.get_model_version(f"npv@{alias}")
    message = str(refused.value)
    assert "Set one with" not in message
    assert f"{alias!r} is not an alias name" in message and "champion" in message


def test_a_well_formed_unknown_alias_still_says_how_to_set_it(tracking, small_model):
    model, X = small_model
    with mc.start_run(experiment="np-versions"):
        mc.log_model(model, "model", input_example=X[:3], registered_model_name="npv")
    with pytest.raises(mc.NotFound, match=r"no alias 'champ'.*Set one with `modelcycle models alias npv champ VERSION`"):
        mc.get_model_version("npv@champ")
