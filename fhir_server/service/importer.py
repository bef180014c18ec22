"""`fhir-server import PATH...`: files or folders of any format `$ingest` takes, and FHIR NDJSON, loaded
straight into the database the server uses, each message, document, Bundle, batch entry or NDJSON line as
one transaction with the same checks and rules as a push (validation, MHD checks, opposition and closed
records, the patient's blocking of the documents' authors), audited, and told to the patient as a
professional's push is; in an order where what the input names is stored first (import_links.py).
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

from mappers import cda, hl7v2, xds
from mappers.errors import MappingError

from ..access.policy import RecordAccess
from ..audit.events import Access, Actor
from ..errors import BadRequest, DocumentRefused, FhirError
from ..formats.fhir_json import loads
from ..registry import RESOURCES
from .audit import AuditTrail
from .bundles import process_bundle
from .import_links import keep_unresolved, named, provided, providers_first
from .import_unstored import leave_out_unstored, summary
from .ingest import FORMATS, Format, already_stored, document_authors
from .resources import ResourceService
from .search import matching

IMPORTER = Actor(kind="software", client_id="fhir-server import")
EXTENSIONS = {".hl7": "hl7v2", ".er7": "hl7v2", ".xml": None, ".json": "fhir", ".ndjson": "ndjson"}
STATUS_REASONS = {400: "bad request", 403: "forbidden", 404: "not found", 409: "conflict",
                  412: "precondition failed", 413: "too large", 422: "unprocessable"}


@dataclass(frozen=True)
class Rejection:
    where: str  # file, `file:line` (NDJSON), `file#n` (HL7 v2 batch), `file entry[n]` (FHIR batch)
    reason: str  # a short name of why, grouping the summary ("validation", "patient opposed", ...)
    why: str  # what the server said


@dataclass
class Report:
    imported: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (where, what was mapped with a loss)

    def lines(self) -> list[str]:
        """The summary, the rejections grouped by reason (most frequent first), then the warnings."""
        counts = Counter(r.reason for r in self.rejected)
        lines = [f"imported: {self.imported}, duplicates: {self.duplicates}, rejected: {len(self.rejected)}"]
        if counts:
            lines.append(f"{len(self.rejected)} rejected: " + ", ".join(f"{r} ({n})" for r, n in counts.most_common()))
        ranks = {reason: rank for rank, (reason, _) in enumerate(counts.most_common())}
        lines += [f"rejected [{r.reason}] {r.where}: {r.why}"
                  for r in sorted(self.rejected, key=lambda r: ranks[r.reason])]
        return lines + [f"warning {where}: {what}" for where, what in self.warnings]


@dataclass(frozen=True)
class Stored:
    """How a transaction ended: "imported", "duplicate" or "rejected" (with the reason and what was wrong)."""
    outcome: str
    reason: str = ""
    why: str = ""
    error: FhirError | None = None  # the refusal, for a channel that answers it in its own terms (MLLP)


@dataclass
class _Unit:
    """What the first pass learnt of a unit: the keys of what it writes and names (import_links.py), how
    many resources it holds, and the index in the input of each of its entries (import_unstored.py)."""
    provides: set[str]
    names: set[str]
    size: int
    numbers: list[int] | None


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
    """Imports in two passes: the first reads every file and notes what each unit writes and names, the
    second stores them providers first (`_in_order`)."""
    report = Report()
    listed = files(paths)
    survey = [[_Unit(provided(bundle), named(bundle), len(bundle.get("entry") or []), numbers)
               for _, bundle, numbers in _units(path, report)] for path in listed]
    given = {key for units in survey for unit in units for key in unit.provides}
    answered = _answered(service, given)
    bar = _Bar(progress, sum(unit.size for units in survey for unit in units))
    for where, bundle, unit in _in_order(listed, survey, given, report):
        _store(service, transactions, audit, where, bundle, max_entries, report, answered, unit.numbers)
        bar.step(unit.size, Path(where).name)
    bar.end()
    return report


def _in_order(listed: list[Path], survey: list[list[_Unit]], given: set[str],
              report: Report) -> Iterator[tuple[str, dict, _Unit]]:
    """The units of the files, files and units providers first (import_links.py), each file read again (so
    that only one file's units are held at a time). A unit naming something of the input not given yet (files
    naming each other) waits for the end, where the waiting units go providers first too."""
    done: set[str] = set()  # keys of the units given so far
    waiting: list[tuple[str, dict, _Unit]] = []
    for number in providers_first([set().union(*(u.provides for u in units)) for units in survey],
                                  [set().union(*(u.names for u in units)) for units in survey]):
        units = survey[number]
        read = list(_units(listed[number], Report())) if units else []  # its rejections are told already
        if len(read) != len(units):
            report.rejected.append(Rejection(str(listed[number]), "unreadable", "the file changed during the import"))
            continue
        for index in providers_first([u.provides for u in units], [u.names for u in units]):
            where, bundle, _ = read[index]
            if any(key in given and key not in done for key in units[index].names):
                waiting.append((where, bundle, units[index]))
                continue
            yield where, bundle, units[index]
            done |= units[index].provides
    for index in providers_first([unit.provides for *_, unit in waiting], [unit.names for *_, unit in waiting]):
        yield waiting[index]


def _answered(service: ResourceService, given: set[str]) -> Callable[[str], bool]:
    """Whether the store holds what a key (`Type|system|value`) names, as the import sees it; what the
    input gives may be stored later in the run, so only its positive answers are kept."""
    rules = RecordAccess.for_job(service.store, service.records, "import", service.notify)
    seen: dict[str, bool] = {}

    def answered(key: str) -> bool:
        if seen.get(key) or (key in seen and key not in given):
            return seen[key]
        kind, system, value = key.split("|", 2)
        try:
            seen[key] = kind in RESOURCES and bool(matching(
                service.store, rules, kind, urlencode([("identifier", f"{system}|{value}")]), limit=1))
        except FhirError:  # not searchable so: the transaction says what is wrong
            seen[key] = True
        return seen[key]
    return answered


def _units(path: Path, report: Report) -> Iterator[tuple[str, dict, list[int] | None]]:
    """(where, transaction Bundle, index in the input of each entry when some were left out) for each message,
    document or resource of a file; the file's FHIR entries of types not stored left out (one warning)."""
    try:
        body = path.read_bytes()
    except OSError as error:
        report.rejected.append(Rejection(str(path), "unreadable", f"cannot read: {error.strerror}"))
        return
    name = EXTENSIONS.get(path.suffix.lower())
    left_out: Counter = Counter()
    if name == "ndjson":
        for line_number, line in enumerate(body.splitlines(), 1):
            if line.strip():
                yield from _stored_types(_mapped(f"{path}:{line_number}", lambda line=line: _resource_bundle(
                    loads(line)), report), left_out, report)
    else:
        yield from _file_units(path, name, body, report, left_out)
    if left_out:
        report.warnings.append((str(path), summary(left_out)))


def _file_units(path: Path, name: str | None, body: bytes, report: Report,
                left_out: Counter) -> Iterator[tuple[str, dict, list[int] | None]]:
    found = _format(name, body)
    if found is None:
        report.rejected.append(Rejection(str(path), "unknown format",
                                         "not a format this server takes (HL7 v2, CDA R2, XDS.b, FHIR)"))
        return
    if found.name == "hl7v2":  # a file or batch of messages: each one its own transaction
        try:
            messages = hl7v2.batch_messages(body)
        except MappingError as error:
            report.rejected.append(Rejection(str(path), "not understood", error.message))
            return
        for number, message in enumerate(messages, 1):
            where = f"{path}#{number}"
            warnings: list[MappingError] = []
            yield from ((*unit, None) for unit in _mapped(
                where, lambda message=message: hl7v2.to_fhir(message, warnings), report))
            report.warnings += [(where, warning.message) for warning in warnings]
        return
    if found.name == "fhir":
        yield from _stored_types(_fhir_units(path, body, report), left_out, report)
        return
    yield from ((*unit, None) for unit in _mapped(str(path), lambda: _bundle_of(found, body), report))


def _stored_types(units: Iterator[tuple[str, dict]], left_out: Counter,
                  report: Report) -> Iterator[tuple[str, dict, list[int] | None]]:
    """FHIR units without their entries of types not stored (counted in `left_out`; a unit left empty is not
    stored), each POST of a resource with an identifier made conditional on it (`_once`)."""
    for where, bundle in units:
        kept = leave_out_unstored(bundle)
        left_out.update(kept.left_out)
        report.warnings += [(where, warning) for warning in kept.warnings]
        if kept.left_out and not kept.bundle["entry"]:
            continue
        _once(kept.bundle)
        yield where, kept.bundle, kept.numbers if kept.left_out else None


def _once(bundle: dict) -> None:
    """Makes, in place, each POST without `ifNoneExist` of a resource with an identifier conditional on its
    first identifier: an export loaded again (Synthea's patients and documents are plain POSTs) writes no
    second Patient nor copies of its documents."""
    for entry in bundle.get("entry") or []:
        request, resource = entry.get("request"), entry.get("resource")
        if not (isinstance(request, dict) and request.get("method") == "POST" and "ifNoneExist" not in request
                and isinstance(resource, dict) and isinstance(resource.get("identifier"), list)):
            continue
        identifier = next((i for i in resource["identifier"]
                           if isinstance(i, dict) and isinstance(i.get("system"), str) and i.get("system")
                           and isinstance(i.get("value"), str) and i.get("value")), None)
        if identifier is not None:
            request["ifNoneExist"] = urlencode([("identifier", f"{identifier['system']}|{identifier['value']}")])


def _format(name: str | None, body: bytes) -> Format | None:
    for candidate in FORMATS:
        if candidate.name == name or (name is None and candidate.sniff(body)):
            return candidate
    return None


def _mapped(where: str, build, report: Report) -> Iterator[tuple[str, dict]]:
    try:
        yield where, build()
    except (MappingError, ValueError) as error:
        report.rejected.append(Rejection(where, "not understood", str(getattr(error, "message", error))))


def _bundle_of(found: Format, body: bytes) -> dict:
    if found.name == "cda":
        return cda.to_fhir(body)
    return xds.to_fhir(xds.parse_provide_and_register(body, "application/soap+xml"))


def _fhir_units(path: Path, body: bytes, report: Report) -> Iterator[tuple[str, dict]]:
    """A batch's entries each as its own transaction (they are independent, FHIR http.html#transaction);
    anything else as one."""
    try:
        resource = loads(body)
    except ValueError as error:
        report.rejected.append(Rejection(str(path), "not understood", str(error)))
        return
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle" and resource.get("type") == "batch":
        for number, item in enumerate(resource.get("entry") or []):
            yield from _mapped(f"{path} entry[{number}]", lambda item=item: _transaction([item]), report)
        return
    yield from _mapped(str(path), lambda: _resource_bundle(resource), report)


def _resource_bundle(resource: object) -> dict:
    """A transaction Bundle as it is; a transaction of a collection's entries, or of one resource."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ValueError("not a FHIR resource")
    if resource["resourceType"] == "Bundle" and resource.get("type") == "transaction":
        return resource
    if resource["resourceType"] == "Bundle" and resource.get("type") in ("batch", "collection"):
        return _transaction(resource.get("entry") or [])
    return _transaction([{"resource": resource}])


def _transaction(items: list) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(item) for item in items]}


def _entry(item: object) -> dict:
    """A transaction entry writing a Bundle entry's resource: as its (batch) request says, else by PUT with its
    id (POST without one); its fullUrl kept, so that the other entries' references to it resolve."""
    resource = item.get("resource") if isinstance(item, dict) else None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise ValueError("an entry holds no FHIR resource")
    request = item.get("request")
    if not isinstance(request, dict):
        kind, given = resource["resourceType"], resource.get("id")
        request = {"method": "PUT", "url": f"{kind}/{given}"} if given else {"method": "POST", "url": kind}
    entry = {"resource": resource, "request": request}
    if isinstance(item.get("fullUrl"), str):
        entry["fullUrl"] = item["fullUrl"]
    return entry


def _store(service: ResourceService, transactions, audit: AuditTrail, where: str, bundle: dict, max_entries: int,
           report: Report, answered: Callable[[str], bool], numbers: list[int] | None) -> None:
    report.warnings += [(where, warning) for warning in keep_unresolved(bundle, answered, numbers)]
    stored = store_transaction(service, transactions, audit, bundle, max_entries, IMPORTER, "import", where)
    if stored.outcome == "imported":
        report.imported += 1
    elif stored.outcome == "duplicate":
        report.duplicates += 1
    else:
        report.rejected.append(Rejection(where, stored.reason, stored.why))


def store_transaction(service: ResourceService, transactions, audit: AuditTrail, bundle: dict, max_entries: int,
                      actor: Actor, operation: str, where: str) -> Stored:
    """Stores a transaction Bundle as a push by software (the record's state and oppositions rule, and the
    patient's blocking of the documents' authors; the patient is told of new documents), audited as
    `operation` by `actor` for the first author named: imported, a duplicate (everything was there
    already), or rejected, and why."""
    authors = document_authors(bundle)
    if authors:
        actor = replace(actor, kind="professional", practitioner=authors[0])
    rules = RecordAccess.for_job(service.store, service.records, operation, service.notify, pushed_for=authors)
    status, result = 200, Stored("imported")
    try:
        if already_stored(service.store, rules, bundle):
            return Stored("duplicate")
        response = process_bundle(service.acting_for(rules), transactions, bundle, "", _no_reads, max_entries,
                                  lambda *_: None)
        statuses = [str(e.get("response", {}).get("status", "")) for e in response.get("entry", [])]
        if statuses and all(s.startswith("200") for s in statuses):
            result = Stored("duplicate")
    except FhirError as error:
        status = error.status
        issues = error.outcome().get("issue", [])
        duplicate = "XDSDuplicateUniqueIdInRegistry" in str(issues)
        result = Stored("duplicate") if duplicate else Stored(
            "rejected", _reason(error), "; ".join(str(i.get("diagnostics", "")) for i in issues), error)
    event = Access(interaction="operation", status=status, recorded=datetime.now(timezone.utc), actor=actor,
                   operation=operation, description=None if status < 400 else f"{where}: {result.why}"[:1000])
    for patient_id in list(rules.patients) or [None]:
        touched = [r for r, whose in rules.touched.items() if (patient_id in whose if patient_id else not whose)]
        audit.record(replace(event, entities=touched), patient_id)
    return result


def _reason(error: FhirError) -> str:
    """The short name of why a transaction was refused: the error's own, else its kind."""
    if isinstance(error, DocumentRefused):
        return f"document {error.reason}"
    return error.reason or STATUS_REASONS.get(error.status, f"HTTP {error.status}")


def _no_reads(url: str) -> dict:
    raise BadRequest(f"An import writes: it cannot GET {url}")


@dataclass
class _Bar:
    """The progress bar on stderr: resources stored (or refused) of all those the files hold, redrawn at most
    ten times a second."""
    out: TextIO
    total: int
    done: int = 0
    width: int = 30
    drawn: float = 0.0

    def step(self, resources: int, name: str) -> None:
        self.done += resources
        if self.done < self.total and time.monotonic() - self.drawn < 0.1:
            return
        self.drawn = time.monotonic()
        filled = self.width * self.done // max(self.total, 1)
        self.out.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} resources "
                       f"{name[:40]:<40}")
        self.out.flush()

    def end(self) -> None:
        if not self.drawn:  # nothing to import
            self.step(0, "")
        self.out.write("\n")
        self.out.flush()
