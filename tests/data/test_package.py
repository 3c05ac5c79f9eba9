"""The public names of modelcycle.data."""

from __future__ import annotations

from modelcycle import data


def test_all_lists_the_public_callables_and_types():
    assert data.__all__ == sorted(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name).__module__.startswith("modelcycle.data."), name
    # the functions, not their modules of the same name
    assert callable(data.profile) and callable(data.drift) and callable(data.validate)
