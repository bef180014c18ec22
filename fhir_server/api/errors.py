"""Renders every error as an OperationOutcome with its status; nothing else reaches the client."""
from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..errors import FhirError, NotAcceptable, ServiceUnavailable, operation_outcome
from ..storage import DatabaseError
from .negotiation import JSON, render, response_format

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def _outcome_response(outcome: dict, status: int, headers: dict | None = None) -> Response:
    """The outcome in the format asked for, else (none acceptable, or XML cannot carry it) in JSON."""
    try:
        return render(outcome, response_format(request), status, headers)
    except NotAcceptable:
        return render(outcome, JSON, status, headers)


def fhir_error(error: FhirError) -> Response:
    return _outcome_response(error.outcome(), error.status, error.headers)


def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = error.description or error.name
    if status == 404:
        message = f"No FHIR interaction at {request.method} {request.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    outcome = operation_outcome([{"severity": "error", "code": _HTTP_CODES.get(status, "exception"),
                                  "diagnostics": message}])
    headers = {"Allow": error.response.headers["Allow"]} if error.response is not None and status == 405 else None
    return _outcome_response(outcome, status, headers)


def database_error(error: Exception) -> Response:
    log.error("Database error on %s %s: %s", request.method, request.path, error)
    return fhir_error(ServiceUnavailable("The database is unavailable; try again later",
                                         headers={"Retry-After": "5"}))


def unexpected_error(error: Exception) -> Response:
    log.exception("Unexpected error on %s %s", request.method, request.path)
    outcome = operation_outcome([{"severity": "fatal", "code": "exception",
                                  "diagnostics": "Internal server error; it has been logged"}])
    return _outcome_response(outcome, 500)


def register(app: Flask) -> None:
    app.register_error_handler(FhirError, fhir_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(DatabaseError, database_error)
    app.register_error_handler(Exception, unexpected_error)
