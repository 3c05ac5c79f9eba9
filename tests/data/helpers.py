"""Seeded data sets for the data tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

LETTERS = list("abcdefghij")


def mixed_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """One column of every logical type, with missing values where a type allows them."""
    rng = np.random.default_rng(seed)
    floats = rng.normal(10.0, 2.0, rows)
    floats[rng.random(rows) < 0.05] = np.nan
    city = pd.Series(rng.choice(LETTERS, rows), dtype=object)
    city[rng.random(rows) < 0.03] = None
    return pd.DataFrame({
        "age": rng.integers(18, 90, rows),
        "income k€": floats,
        "city": city,
        "active": rng.random(rows) < 0.3,
        "signed up": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, rows), unit="s"),
        "comment": [f"note {i}" for i in rng.integers(0, 10 * rows, rows)],
    })


