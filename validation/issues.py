"""The one shape every validator reports problems in."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found in a resource, as an OperationOutcome.issue would state it.

    `code` is an IssueType code (structure, required, value, invariant, code-invalid, ...);
    `path` is a FHIRPath-style location such as ``Patient.name[0].given[1]`` ("" for the whole resource);
    `key` is the invariant that failed (``ele-1``), if any;
    `tolerated`: an error as the official validator judges it that a write accepts, because R4's own examples
    break the rule or HAPI accepts it by default (an unknown extension, an empty narrative...):
    ``validate_resource(..., lenient=True)`` reports it as a warning.
    """

    severity: str
    code: str
    path: str
    message: str
    key: str = ""
    tolerated: bool = False

    def as_outcome_issue(self) -> dict:
        """As an OperationOutcome.issue; a failed invariant's diagnostics as HAPI words them:
        ``Constraint failed: ele-1: 'All FHIR elements must have a @value or children' (defined in ...)``."""
        diagnostics = f"Constraint failed: {self.key}: {self.message}" if self.key else self.message
        issue = {"severity": self.severity, "code": self.code, "diagnostics": diagnostics}
        if self.path:
            issue["expression"] = [self.path]
        return issue
