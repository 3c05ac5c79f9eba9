"""Seeded data sets shared by the data tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data.helpers import mixed_frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return mixed_frame(5_000)
