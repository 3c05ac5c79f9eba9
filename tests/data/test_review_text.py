"""Text that is not valid Unicode (a lone UTF-16 surrogate, as JSON or a broken decode can
leave in a frame) is InvalidInput naming the column, wherever data comes in."""

from __future__ import annotations

import pandas as pd
import pytest

import modelcycle as mc


@pytest.mark.parametrize("frame, column", [
    (pd.DataFrame({"city": pd.Series(["Paris", "\ud800"], dtype=object)}), "city"),
    (pd.DataFrame({"n": [1, 2], "city": pd.Series(["a", "b\udfff"], dtype=object)}), "city"),
    (pd.DataFrame([[1.0]], columns=pd.Index(["bad\ud83d"], dtype=object)), "bad"),
], ids=["value", "second-column", "name"])
def test_a_lone_surrogate_in_a_frame_is_refused_naming_the_column(tracking, frame, column):
    with pytest.raises(mc.InvalidInput, match=rf"{column}.*surrogate"):
        mc.log_dataset(frame, "cities")
    reference = mc.log_dataset(pd.DataFrame({"city": ["Paris", "Lyon"]}), "cities")
    with pytest.raises(mc.InvalidInput, match=rf"{column}.*surrogate"):
        mc.validate(frame, f"cities@{reference.version}")
