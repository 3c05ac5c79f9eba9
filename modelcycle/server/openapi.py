"""The OpenAPI schema as the server answers, not as FastAPI would describe it."""

from __future__ import annotations

from fastapi import FastAPI

from modelcycle.server import wire


def declare_errors(app: FastAPI) -> None:
    """The OpenAPI schema says what the server answers to invalid input: a 400 with the error
    body, where FastAPI would document a 422 with its own."""
    fastapi_schema = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = fastapi_schema()
            for item in schema["paths"].values():
                for operation in item.values():
                    responses = operation["responses"]
                    if responses.pop("422", None) is not None or "requestBody" in operation:
                        responses["400"] = wire.error_response(400)
                    operation["responses"] = dict(sorted(responses.items()))
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for fastapi_only in ("HTTPValidationError", "ValidationError"):
                components.pop(fastapi_only, None)
            components.setdefault("ErrorBody", wire.ErrorBody.model_json_schema())
            _exact_bounds(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_INT64_BOUNDS = {float(b): b for b in (wire.INT64["minimum"], wire.INT64["maximum"])}


def _exact_bounds(node: object) -> None:
    """FastAPI's OpenAPI model keeps numeric bounds as floats, and no float is 2**63 - 1: give
    the integer bounds back."""
    if isinstance(node, dict):
        for key in ("minimum", "maximum"):
            value = node.get(key)
            if isinstance(value, float) and value.is_integer():
                node[key] = _INT64_BOUNDS.get(value, int(value))
        for child in node.values():
            _exact_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _exact_bounds(child)
