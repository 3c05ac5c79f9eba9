"""The public names of modelcycle.data."""

from __future__ import annotations

import modelcycle.data as data


def test_all_lists_exactly_the_public_callables_and_types():
    assert sorted(data.__all__) == data.__all__ or sorted(data.__all__) == sorted(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name) is not None, name
    assert callable(data.profile) and callable(data.drift)  # the functions, not their modules
    assert data.profile.__module__ == "modelcycle.data.profile"
