"""Schemathesis over the model server's own /openapi.json, on a real server: whatever it sends
(valid bodies and not), the server answers without a 5xx, with a documented status, content
type and body. Bounded: 15 cases per operation and model, about half a minute in all."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance, negative_data_rejection, not_a_server_error, response_headers_conformance,
    response_schema_conformance, status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module", params=["cancer", "fruit", "digits"])
def model_server(request, served_models):
    from modelcycle.serving.app import ServerThread, StaticHolder, create_app
    from modelcycle.serving.settings import ServingSettings

    app = create_app(StaticHolder(served_models[request.param]), ServingSettings(max_body_bytes=1 << 20))
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="module")
def served_schema(model_server):
    return schemathesis.openapi.from_url(f"{model_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=CHECKS, timeout=10)
