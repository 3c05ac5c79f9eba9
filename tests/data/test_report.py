"""Reports: JSON with every score and threshold; a self-contained HTML page without raw rows."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from modelcycle.data.drift import drift
from modelcycle.data.profile import profile
from modelcycle.data.report import render_html, to_json
from modelcycle.data.schema import infer_schema
from modelcycle.data.validate import validate
from modelcycle.exceptions import InvalidInput
from tests.data.helpers import mixed_frame


@pytest.fixture(scope="module")
def reports():
    reference = mixed_frame(4_000, seed=1)
    current = mixed_frame(3_000, seed=2)
    current["income k€"] = current["income k€"] + 3
    current["<script>alert(1)</script>"] = 1.0
    schema = infer_schema(reference)
    validation = validate(current, schema, profile(reference))
    return reference, current, validation


def test_json_has_every_score_and_threshold(reports):
    _, _, validation = reports
    data = json.loads(to_json(validation))
    columns = data["drift"]["columns"]
    assert {c["column"] for c in columns} == {"age", "income k€", "city", "active", "signed up", "comment"}
    for column in columns:
        assert {"score", "threshold", "direction", "drifted", "method"} <= set(column)
    assert [c["column"] for c in columns if c["drifted"]] == ["income k€"]
    assert data["drift"]["rule"].startswith("A column drifts when its score")
    # A shift of 1.5 standard deviations is drift (a warning), within the inferred range: no error.
    assert (data["ok"], data["errors"], data["warnings"]) == (True, 0, 2)
    assert [(a["column"], a["kind"], a["severity"]) for a in data["anomalies"]] == [
        ("<script>alert(1)</script>", "unexpected_column", "warning"), ("income k€", "drift", "warning")]
    income = next(a for a in data["anomalies"] if a["kind"] == "drift")
    assert income["details"]["score"] == next(c["score"] for c in columns if c["column"] == "income k€")
    json.loads(to_json(profile(reports[0])))  # a profile's summary too


def test_html_is_one_self_contained_page_without_raw_rows(reports):
    reference, current, validation = reports
    html = render_html(validation)
    assert html.startswith("<!doctype html>") and html.count("<svg") == 5  # text is not compared
    assert "<script" not in html and "&lt;script&gt;" in html  # column names are escaped
    assert not re.search(r"(src|href)=\"(http|//)", html)  # nothing loaded from elsewhere
    for frame in (reference, current):
        for value in frame["income k€"].dropna().sample(50, random_state=0):
            assert repr(float(value)) not in html and f"{value:.6f}" not in html
        for text in frame["comment"].sample(50, random_state=0):
            assert text not in html
    assert "income k€" in html and "drifted" in html


def test_html_for_a_drift_report_alone():
    rng = np.random.default_rng(3)
    a = pd.DataFrame({"x": rng.normal(size=2_000), "when": pd.Timestamp("2024-01-01")
                      + pd.to_timedelta(rng.integers(0, 10**7, 2_000), unit="s")})
    b = a.assign(x=a["x"] + 1)
    html = render_html(drift(a, b), title="Weekly check")
    assert "<title>Weekly check</title>" in html and html.count("<svg") == 2 and "2024-" in html
    with pytest.raises(InvalidInput, match="render_html takes"):
        render_html({"not": "a report"})
