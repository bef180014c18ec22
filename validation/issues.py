"""The one shape every validator reports problems in."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found in a resource, as an OperationOutcome.issue would state it.

    `code` is an IssueType code (structure, required, value, invariant, code-invalid, ...);
    `path` is a FHIRPath-style location such as ``Patient.name[0].given[1]`` ("" for the whole resource).
    """

    severity: str
    code: str
    path: str
    message: str

    def as_outcome_issue(self) -> dict:
        issue = {"severity": self.severity, "code": self.code, "diagnostics": self.message}
        if self.path:
            issue["expression"] = [self.path]
        return issue
