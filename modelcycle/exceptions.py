"""The one exception hierarchy. Each class maps once to an HTTP status and a CLI exit code."""

from __future__ import annotations


class ModelcycleError(Exception):
    """Root of every error modelcycle raises on purpose."""

    code = "INTERNAL_ERROR"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ModelcycleError):
    code = "INVALID_INPUT"
    http_status = 400
    exit_code = 2


class NotFound(ModelcycleError):
    code = "NOT_FOUND"
    http_status = 404
    exit_code = 3


class AlreadyExists(ModelcycleError):
    code = "ALREADY_EXISTS"
    http_status = 409
    exit_code = 4


class Conflict(ModelcycleError):
    """The request is well formed but contradicts stored state (e.g. a write-once param)."""

    code = "CONFLICT"
    http_status = 409
    exit_code = 5


class StoreUnavailable(ModelcycleError):
    code = "STORE_UNAVAILABLE"
    http_status = 503
    exit_code = 6


ERRORS_BY_CODE: dict[str, type[ModelcycleError]] = {
    cls.code: cls
    for cls in (ModelcycleError, InvalidInput, NotFound, AlreadyExists, Conflict, StoreUnavailable)
}
