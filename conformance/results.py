"""A check's outcome, the rule it tests, and the request/response shown when it failed."""
from __future__ import annotations

from dataclasses import dataclass

import requests

SHOWN = 2000  # characters of a body kept in a report


@dataclass
class Result:
    tag: str
    scenario: str
    check: str
    status: str  # pass | fail | skip
    reason: str = ""
    exchange: str = ""  # the request and response, for a failure
    rule: str = ""  # what the check tests: a FHIR R4 page and section, an IHE or ANS specification


def exchange(response: requests.Response | None) -> str:
    if response is None:
        return ""
    request = response.request
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else (request.body or "")
    headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "authorization")
    return (f"{request.method} {request.url}\n{headers}\n\n{body[:SHOWN]}\n\n--> {response.status_code} "
            f"{response.reason}\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            + f"\n\n{response.text[:SHOWN]}")
