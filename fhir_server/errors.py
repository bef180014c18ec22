"""Errors as FHIR sees them: each carries an HTTP status and becomes an OperationOutcome.

Code anywhere below the HTTP layer raises one of these; `api.errors` renders it. Nothing else may
reach the client, so no request ends in a bare 500 or a stack trace.
"""
from __future__ import annotations

from typing import Iterable

from validation.issues import Issue


class FhirError(Exception):
    """An error answered with `status` and an OperationOutcome of `issues`; `reason`, a short name of why
    (e.g. "validation", "patient opposed"), groups refusals in a summary (`fhir-server import`)."""

    status = 400
    code = "invalid"

    def __init__(self, diagnostics: str, *, issues: Iterable[Issue] = (), code: str | None = None,
                 headers: dict[str, str] | None = None, reason: str = "") -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.issues = list(issues)
        if code:
            self.code = code
        self.headers = headers or {}
        self.reason = reason

    def outcome(self) -> dict:
        issues = [i.as_outcome_issue() for i in self.issues]
        if not issues:
            issues = [{"severity": "error", "code": self.code, "diagnostics": self.diagnostics}]
        return operation_outcome(issues)


class DocumentRefused(FhirError):
    """A step of a document's life refused (service/lifecycle.py): its `reason` (one of REASONS) and XDS error
    code travel in the issue's details, so that each channel answers in its own terms."""

    SYSTEM = "https://github.com/fhir-server/CodeSystem/document-lifecycle-refusal"
    REASONS = {  # reason -> (HTTP status, XDS error code)
        "unknown": (422, "XDSRegistryMetadataError"),  # no such document (or none the writer may see)
        "not-current": (422, "XDSRegistryMetadataError"),  # replaced or withdrawn already: not the latest
        "other-record": (422, "XDSPatientIdDoesNotMatch"),  # the replacement is in another patient's record
        "not-author": (403, "XDSRegistryError"),  # only its author replaces or withdraws a document
    }

    def __init__(self, reason: str, diagnostics: str) -> None:
        super().__init__(diagnostics, code="forbidden" if reason == "not-author" else "business-rule")
        self.reason = reason
        self.status = self.REASONS[reason][0]

    def outcome(self) -> dict:
        return operation_outcome([{
            "severity": "error", "code": self.code, "diagnostics": self.diagnostics,
            "details": {"coding": [{"system": self.SYSTEM, "code": self.reason}], "text": self.REASONS[self.reason][1]}}])


class BadRequest(FhirError):
    status, code = 400, "invalid"


class Unauthorized(FhirError):
    """No valid access token: 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750)."""
    status, code = 401, "login"

    def __init__(self, diagnostics: str, error: str | None = None) -> None:
        challenge = 'Bearer realm="fhir"' + (f', error="{error}"' if error else "")
        super().__init__(diagnostics, headers={"WWW-Authenticate": challenge})


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    status, code = 422, "processing"


class ServiceUnavailable(FhirError):
    status, code = 503, "transient"


def operation_outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


def information(message: str) -> dict:
    """A one-issue OperationOutcome reporting success."""
    return operation_outcome([{"severity": "information", "code": "informational", "diagnostics": message}])
