"""The `fhir-validate` command: FHIR R4 files checked as the server's $validate checks a resource, offline.

For vendors' CI pipelines: no server, no database, no Flask. Each file is one resource (a Bundle counts as
one), in FHIR JSON or FHIR XML, told apart by content; the checks and the OperationOutcome are those of
`POST [base]/$validate` (service/validate.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from validation import Issue

BOM = b"\xef\xbb\xbf"

DESCRIPTION = """\
Validate FHIR R4 resources in files, as the server's POST [base]/$validate does: against the R4 definitions
(any R4 resource type; the checks are described in validation/README.md), then against each --profile and
each of the server's own profiles the resource claims in meta.profile. Nothing is sent anywhere.

Each FILE holds one resource (a Bundle is one resource) in FHIR JSON or FHIR XML: a file whose first
non-space character is '<' is read as XML, any other as JSON (UTF-8). A file that is not well-formed JSON or
FHIR XML gets one fatal issue of code structure.

As the official HL7 validator judges it by default; with --lenient, as the server judges a write (and
$validate with mode=create or update): the errors a write tolerates are warnings (an extension whose
definition is unknown, an empty narrative, a relative canonical URL...: see validation/README.md)."""

EPILOG = """\
output:
  text  one line per issue, 'FILE: severity code path: message' (path: the element's FHIRPath, or the
        resource type when the issue is about the whole resource), then a summary line on stdout:
        'N files: E errors, W warnings, I information (F files with errors)' (fatal issues count as errors)
  json  one JSON object on stdout mapping each FILE, as given, to its OperationOutcome (each issue with
        severity, code, diagnostics, and expression and location when it concerns an element; an
        information issue 'No problems found' when there is none), as the server's $validate answers

exit status:
  0  no issue of severity error or fatal in any file
  1  at least one error or fatal issue
  2  usage error: bad arguments, or a FILE missing or unreadable (reported on stderr; the other files are
     still validated and, in json, the file's OperationOutcome holds one fatal issue)

examples:
  fhir-validate patient.json bundle.xml
  fhir-validate --lenient document-bundle.json   # would the server store it?
  fhir-validate --profile https://fhir-server.org/StructureDefinition/record-patient patient.json
  fhir-validate --format json out/*.json | jq 'map_values([.issue[] | select(.severity == "error")])'"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .service.validate import outcome, outcome_issue, resource_issues

    results: dict[str, dict] = {}
    failed_to_read = failed = False
    counts = {"fatal": 0, "error": 0, "warning": 0, "information": 0}
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as e:
            failed_to_read = True
            counts["fatal"] += 1
            reason = e.strerror or str(e)
            print(f"fhir-validate: {name}: cannot read the file: {reason}", file=sys.stderr)
            code = "not-found" if isinstance(e, FileNotFoundError) else "exception"
            results[name] = outcome([{"severity": "fatal", "code": code,
                                      "diagnostics": f"cannot read the file: {reason}"}])
            continue
        resource, issues = _parse(data)
        if resource is not None:
            issues = resource_issues(resource, None, args.profile, args.lenient)
        failed = failed or any(i.severity in ("error", "fatal") for i in issues)
        entries = [outcome_issue(i) for i in issues]
        for issue, entry in zip(issues, entries):
            counts[issue.severity] = counts.get(issue.severity, 0) + 1
            if args.format == "text":  # the diagnostics, as the OperationOutcome gives them
                print(f"{name}: {issue.severity} {issue.code} {_where(issue, resource)}: {entry['diagnostics']}")
        results[name] = outcome(entries)
    if args.format == "json":
        json.dump(results, sys.stdout, indent=2, ensure_ascii=False, default=str)
        print()
    else:
        with_errors = sum(1 for o in results.values()
                          if any(i["severity"] in ("error", "fatal") for i in o["issue"]))
        print(f"{_count(len(results), 'file')}: {_count(counts['error'] + counts['fatal'], 'error')}, "
              f"{_count(counts['warning'], 'warning')}, {counts['information']} information "
              f"({_count(with_errors, 'file')} with errors)")
    return 2 if failed_to_read else 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-validate", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="a FHIR R4 resource in JSON or XML")
    parser.add_argument("--profile", action="append", default=[], metavar="URL",
                        help="also check against this profile (repeatable); the server's own profiles "
                             "(profiles/structure-definitions, e.g. https://fhir-server.org/StructureDefinition/"
                             "record-patient) are known; an unknown URL is an error issue of code not-found")
    parser.add_argument("--lenient", action="store_true",
                        help="judge as the server judges a write: the errors it tolerates are warnings")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default): one line per issue and a summary; json: {FILE: OperationOutcome}")
    return parser


def _parse(data: bytes) -> tuple[object, list[Issue]]:
    """The resource in a file's bytes (XML when its first non-space character is '<'), or why there is none."""
    from .formats import FhirFormatError, fhir_json

    text = data[len(BOM):] if data.startswith(BOM) else data
    if not text.strip():
        return None, [Issue("fatal", "structure", "", "The file is empty")]
    if text.lstrip()[:1] == b"<":
        from .formats.xml import xml_to_json
        try:
            return xml_to_json(text.lstrip()), []  # the space before an XML declaration is forgiven
        except FhirFormatError as e:
            return None, [Issue("fatal", "structure", e.path, f"Not valid FHIR XML: {e.message}")]
    try:
        return fhir_json.loads(text), []
    except fhir_json.JsonSyntaxError as e:
        return None, [Issue("fatal", "structure", "", f"Not valid JSON: {e}")]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _where(issue: Issue, resource: object) -> str:
    if issue.path:
        return issue.path
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) and kind else "-"


if __name__ == "__main__":
    sys.exit(main())
