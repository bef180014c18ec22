"""`fhir-server import PATH...`: files or folders of any format `$ingest` takes, and FHIR NDJSON, loaded
straight into the database the server uses, each message or document as one transaction with the same
checks and rules as a push (validation, MHD checks, opposition and closed records, the patient's blocking of
the documents' authors), audited, and told to the patient as a professional's push is.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from mappers import cda, hl7v2, xds
from mappers.errors import MappingError

from ..access.policy import RecordAccess
from ..audit.events import Access, Actor
from ..errors import BadRequest, FhirError
from ..formats.fhir_json import loads
from .audit import AuditTrail
from .bundles import process_bundle
from .ingest import FORMATS, Format, already_stored, document_authors
from .resources import ResourceService

IMPORTER = Actor(kind="software", client_id="fhir-server import")
EXTENSIONS = {".hl7": "hl7v2", ".er7": "hl7v2", ".xml": None, ".json": "fhir", ".ndjson": "ndjson"}


@dataclass
class Report:
    imported: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (where, what was mapped with a loss)


def files(paths: list[Path]) -> list[Path]:
    """The files named, and those under the folders named (hidden ones left out), in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
        else:
            found.append(path)
    return found


def import_paths(service: ResourceService, transactions, audit: AuditTrail, paths: list[Path],
                 max_entries: int, progress: TextIO = sys.stderr) -> Report:
    report = Report()
    listed = files(paths)
    for number, path in enumerate(listed, 1):
        for where, bundle in _units(path, report):
            _store(service, transactions, audit, where, bundle, max_entries, report)
        _bar(progress, number, len(listed), path)
    return report


def _units(path: Path, report: Report) -> Iterator[tuple[str, dict]]:
    """(where, transaction Bundle) for each message, document or resource of a file."""
    try:
        body = path.read_bytes()
    except OSError as error:
        report.rejected.append((str(path), f"cannot read: {error.strerror}"))
        return
    name = EXTENSIONS.get(path.suffix.lower())
    if name == "ndjson":
        for line_number, line in enumerate(body.splitlines(), 1):
            if line.strip():
                yield from _mapped(f"{path}:{line_number}", lambda line=line: _resource_bundle(loads(line)), report)
        return
    found = _format(name, body)
    if found is None:
        report.rejected.append((str(path), "not a format this server takes (HL7 v2, CDA R2, XDS.b, FHIR)"))
        return
    if found.name == "hl7v2":  # a file or batch of messages: each one its own transaction
        try:
            messages = hl7v2.batch_messages(body)
        except MappingError as error:
            report.rejected.append((str(path), error.message))
            return
        for number, message in enumerate(messages, 1):
            where = f"{path}#{number}"
            warnings: list[MappingError] = []
            yield from _mapped(where, lambda message=message: hl7v2.to_fhir(message, warnings), report)
            report.warnings += [(where, warning.message) for warning in warnings]
        return
    yield from _mapped(str(path), lambda: _bundle_of(found, body), report)


def _format(name: str | None, body: bytes) -> Format | None:
    for candidate in FORMATS:
        if candidate.name == name or (name is None and candidate.sniff(body)):
            return candidate
    return None


def _mapped(where: str, build, report: Report) -> Iterator[tuple[str, dict]]:
    try:
        yield where, build()
    except (MappingError, ValueError) as error:
        report.rejected.append((where, str(getattr(error, "message", error))))


def _bundle_of(found: Format, body: bytes) -> dict:
    if found.name == "cda":
        return cda.to_fhir(body)
    if found.name == "xds":
        return xds.to_fhir(xds.parse_provide_and_register(body, "application/soap+xml"))
    resource = loads(body)
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle" and resource.get("type") == "transaction":
        return resource
    return _resource_bundle(resource)


def _resource_bundle(resource: object) -> dict:
    """A transaction writing one resource (PUT with its id, else POST); a batch or collection's entries."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ValueError("not a FHIR resource")
    if resource["resourceType"] == "Bundle" and resource.get("type") in ("batch", "collection"):
        entries = [e.get("resource") for e in resource.get("entry") or [] if isinstance(e, dict)]
    else:
        entries = [resource]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(r) for r in entries]}


def _entry(resource: object) -> dict:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ValueError("an entry holds no FHIR resource")
    if resource.get("id"):
        return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}
    return {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def _store(service: ResourceService, transactions, audit: AuditTrail, where: str, bundle: dict, max_entries: int,
           report: Report) -> None:
    outcome = store_transaction(service, transactions, audit, bundle, max_entries, IMPORTER, "import", where)
    if outcome == "imported":
        report.imported += 1
    elif outcome == "duplicate":
        report.duplicates += 1
    else:
        report.rejected.append((where, outcome))


def store_transaction(service: ResourceService, transactions, audit: AuditTrail, bundle: dict, max_entries: int,
                      actor: Actor, operation: str, where: str,
                      refused: list[FhirError] | None = None) -> str:
    """Stores a transaction Bundle as a push by software (the record's state and oppositions rule, and the
    patient's blocking of the documents' authors; the patient is told of new documents), audited as
    `operation` by `actor` for the first author named. Returns "imported", "duplicate" (everything was there
    already), or why it was refused (the refusal is also appended to `refused`: the MLLP listener answers
    it in HL7 terms)."""
    authors = document_authors(bundle)
    if authors:
        actor = replace(actor, kind="professional", practitioner=authors[0])
    rules = RecordAccess.for_job(service.store, service.records, operation, service.notify, pushed_for=authors)
    status, result = 200, "imported"
    try:
        if already_stored(service.store, rules, bundle):
            return "duplicate"
        response = process_bundle(service.acting_for(rules), transactions, bundle, "", _no_reads, max_entries,
                                  lambda *_: None)
        statuses = [str(e.get("response", {}).get("status", "")) for e in response.get("entry", [])]
        if statuses and all(s.startswith("200") for s in statuses):
            result = "duplicate"
    except FhirError as error:
        if refused is not None:
            refused.append(error)
        status = error.status
        issues = error.outcome().get("issue", [])
        duplicate = "XDSDuplicateUniqueIdInRegistry" in str(issues)
        result = "duplicate" if duplicate else "; ".join(str(i.get("diagnostics", "")) for i in issues)
    event = Access(interaction="operation", status=status, recorded=datetime.now(timezone.utc), actor=actor,
                   operation=operation, description=None if status < 400 else f"{where}: {result}"[:1000])
    for patient_id in list(rules.patients) or [None]:
        touched = [r for r, whose in rules.touched.items() if (patient_id in whose if patient_id else not whose)]
        audit.record(replace(event, entities=touched), patient_id)
    return result


def _no_reads(url: str) -> dict:
    raise BadRequest(f"An import writes: it cannot GET {url}")


def _bar(out: TextIO, done: int, total: int, path: Path) -> None:
    width = 30
    filled = width * done // max(total, 1)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {path.name[:40]:<40}")
    if done == total:
        out.write("\n")
    out.flush()
