"""Batch and transaction Bundles (FHIR R4 http.html#transaction): `POST [base]` with a Bundle.

A batch runs each entry on its own, in order, and answers each entry's outcome. A transaction is all or
nothing:
1. every entry is parsed and checked, and processed in the order the spec gives (DELETE, then POST, then
   PUT / PATCH, then GET / HEAD; the response keeps the Bundle's order);
2. ids are given to new resources, conditional entries (`ifNoneExist`, `PUT` / `PATCH` / `DELETE [type]?criteria`)
   and conditional references (`"reference": "Patient?identifier=..."`) are resolved by searches of the
   store as it is before the transaction;
3. references to another entry's `fullUrl` (`urn:uuid:`, `urn:oid:` or absolute), in `Reference.reference`
   and in `Attachment.url`, are rewritten to `Type/id`;
4. every write is planned (validated, version checked): nothing is written if any entry fails, and the
   OperationOutcome names the entry (`Bundle.entry[3]`);
5. the writes are committed together (storage/transactions.py), then the reads run.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..errors import BadRequest, Conflict, FhirError, NotFound, PayloadTooLarge, PreconditionFailed
from ..registry import RESOURCES
from ..storage.claims import Taken
from ..storage.resources import StoredVersion, VersionConflict
from ..storage.transactions import TransactionAborted, Transactions
from ..access.policy import record_id
from . import lifecycle, mhd
from .ids import new_id
from .resources import Planned, ResourceService, WriteResult
from .search import matching

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}
_INSTANCE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_ABSOLUTE_TAIL = re.compile(r"^[a-z][a-z0-9+.-]*://.+/([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")
_CONDITIONAL_REFERENCE = re.compile(r"([A-Z][A-Za-z]+)\?(.+)")
JSON_PATCH = "application/json-patch+json"

# A GET or HEAD entry's URL (relative to the base) -> the resource it answers; raises FhirError.
Reader = Callable[[str], dict]
# (resource type, SMART permissions such as "cs") -> None, or raises Forbidden (api/guard.py).
Permit = Callable[[str, str], None]


@dataclass
class Entry:
    index: int
    method: str
    url: str  # relative to the base, without a leading slash
    resource: dict | None
    full_url: str | None
    if_none_exist: str | None = None
    if_match: str | None = None
    planned: Planned | None = None
    target: tuple[str, str] | None = None  # (type, id) the entry writes
    response: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.url.partition("?")[0]

    @property
    def query(self) -> str:
        return self.url.partition("?")[2]


def process_bundle(service: ResourceService, transactions: Transactions, bundle: object, base: str,
                   read: Reader, max_entries: int, permit: Permit) -> dict:
    """The batch-response or transaction-response of `bundle`."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base takes a Bundle of type batch or transaction")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise BadRequest(f"A Bundle posted to the base must be a batch or a transaction, not {kind!r}")
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise BadRequest("Bundle.entry must be a list", code="structure")
    if len(raw) > max_entries:
        raise PayloadTooLarge(f"The Bundle has {len(raw)} entries; this server takes at most {max_entries}")
    if kind == "batch":
        return _batch(service, raw, base, read, permit)
    return _transaction(service, transactions, bundle, raw, base, read, permit)


def _batch(service: ResourceService, raw: list, base: str, read: Reader, permit: Permit) -> dict:
    responses = []
    for index, item in enumerate(raw):
        try:
            entry = _parse_entry(index, item, base)
            _permitted(entry, permit)
            if entry.method in ("GET", "HEAD"):
                responses.append(_read_response(entry, read))
                continue
            entry.planned = _plan(service, entry)
            written = service.commit(entry.planned)
            responses.append(_write_response(entry, written.version))
        except FhirError as error:
            responses.append({"response": {"status": f"{error.status}", "outcome": error.outcome()}})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": responses}


def _transaction(service: ResourceService, transactions: Transactions, bundle: dict, raw: list, base: str,
                 read: Reader, permit: Permit) -> dict:
    entries = [_in_entry(index, lambda: _parse_entry(index, item, base)) for index, item in enumerate(raw)]
    for entry in entries:
        _in_entry(entry.index, lambda: _permitted(entry, permit))
    ordered = sorted(entries, key=lambda e: (ORDER[e.method], e.index))
    taken = Taken()  # conditional creates' criteria, documents' unique ids: given back unless all is written
    with taken.given_back_on_failure():
        writes, planned, versions = _checked_and_written(service, transactions, bundle, entries, ordered, permit,
                                                         taken)
    service.created(versions)
    written = dict(zip((e.index for e in planned), versions))
    for entry in writes:
        version = written.get(entry.index, entry.planned.existing)
        entry.response = _write_response(entry, version)
    for entry in ordered:
        if entry.method in ("GET", "HEAD"):
            try:
                entry.response = _read_response(entry, read)
            except FhirError as error:  # the writes are committed: a failed read is that entry's answer
                entry.response = {"response": {"status": f"{error.status}", "outcome": error.outcome()}}
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": [e.response for e in entries]}


def _checked_and_written(service: ResourceService, transactions: Transactions, bundle: dict, entries: list[Entry],
                         ordered: list[Entry], permit: Permit,
                         taken: Taken) -> tuple[list[Entry], list[Entry], list[StoredVersion]]:
    """Resolves the transaction's targets and references, checks it (an MHD Provide Bundle as such), plans
    its writes and writes them all: (the write entries, those planned to write, the versions written).
    What it claims is in `taken`."""
    references = _assign_ids(service, ordered, taken)
    for entry in ordered:
        if entry.resource is not None:
            if entry.resource.get("resourceType") == "DocumentReference":
                _in_entry(entry.index, lambda: lifecycle.resolve_targets(service, entry.resource, ""))
            _in_entry(entry.index, lambda: _rewrite(service, entry.resource, references, permit))
    if mhd.is_provide_bundle(bundle, [e.resource for e in entries if e.resource is not None]):
        mhd.check_provide_bundle(service.store, service.access(), entries, taken)
    writes = [e for e in ordered if e.method not in ("GET", "HEAD")]
    service.access().expected.update({f"{e.target[0]}/{e.target[1]}": e.resource for e in writes
                                      if e.target and isinstance(e.resource, dict)})
    for entry in writes:
        entry.planned = _in_entry(entry.index, lambda: _plan(service, entry))
    _check_distinct(writes)
    planned = [e for e in writes if e.planned.write is not None]
    superseded = [_in_entry(e.index, lambda: _supersede(service, e, replaced, permit))
                  for e in planned if e.planned.write.type == "DocumentReference" and e.planned.write.resource
                  for replaced in lifecycle.replaced(e.planned.write.resource)]
    try:
        return writes, planned, transactions.write_all([e.planned.write for e in planned] +
                                                       [p.write for p in superseded])
    except VersionConflict as error:
        precondition = any(e.planned.if_match for e in planned)
        raise (PreconditionFailed if precondition else Conflict)(f"The transaction was not applied: {error}")
    except TransactionAborted as error:
        raise Conflict(f"The transaction was not applied: {error}; send it again")


def create(service: ResourceService, transactions: Transactions, resource_type: str, resource: object,
           if_none_exist: str | None, content: bytes | None, permit: Permit) -> WriteResult:
    """POST [type]. A DocumentReference that `replaces` another is written as a transaction of its own, so
    that the one it replaces is superseded with it, as through every other channel (service/lifecycle.py)."""
    if resource_type != "DocumentReference" or not isinstance(resource, dict) or not lifecycle.replaces(resource):
        return service.create(resource_type, resource, if_none_exist, content)
    request = {"method": "POST", "url": resource_type, **({"ifNoneExist": if_none_exist} if if_none_exist else {})}
    try:
        response = _transaction(service, transactions, {}, [{"resource": resource, "request": request}], "",
                                _no_reads, permit)
    except FhirError as error:
        error.diagnostics = error.diagnostics.removeprefix("Bundle.entry[0]: ")
        raise
    answered = response["entry"][0]["response"]
    _, resource_id, _, version = answered["location"].split("/")
    stored = service.store.version(resource_type, resource_id, int(version), reader=service.access())
    created = answered["status"].startswith("201")
    return WriteResult(stored, created=created, changed=created)


def _no_reads(url: str) -> dict:
    raise BadRequest(f"A single create reads nothing: {url}")


def _permitted(entry: Entry, permit: Permit) -> None:
    """The entry's interaction must be allowed by the caller's scopes (api/guard.py gives the rules)."""
    parts = entry.path.split("/")
    conditional = bool(entry.query) and len(parts) == 1
    if entry.method == "POST":
        needs = "c" + ("s" if entry.if_none_exist else "")
    elif entry.method in ("PUT", "PATCH"):
        needs = "u" + ("s" if conditional else "")
    elif entry.method == "DELETE":
        needs = "d" + ("s" if conditional else "")
    elif parts == ["metadata"]:
        return
    else:
        needs = "s" if len(parts) == 1 or parts[1] == "_history" else "r"
    permit(parts[0], needs)


def _in_entry(index: int, action: Callable):
    """Runs `action`; an error it raises names the entry (`Bundle.entry[i]`) in its OperationOutcome."""
    try:
        return action()
    except FhirError as error:
        where = f"Bundle.entry[{index}]"
        error.diagnostics = f"{where}: {error.diagnostics}"
        error.issues = [replace(issue, path=f"{where}.resource" + (f".{issue.path}" if issue.path else ""),
                                message=f"{where}: {issue.message}") for issue in error.issues]
        raise


def _parse_entry(index: int, item: object, base: str) -> Entry:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise BadRequest("The entry has no request", code="required")
    request = item["request"]
    method, url = request.get("method"), request.get("url")
    if method not in ORDER:
        raise BadRequest(f"request.method {method!r} is not one of {', '.join(ORDER)}")
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("request.url is required", code="required")
    for name, value in (("fullUrl", item.get("fullUrl")), ("request.ifNoneExist", request.get("ifNoneExist")),
                        ("request.ifMatch", request.get("ifMatch"))):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string", code="structure")
    resource = item.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise BadRequest("The entry's resource must be a resource (a JSON object)", code="structure")
    if method in ("POST", "PUT", "PATCH") and resource is None:
        raise BadRequest(f"A {method} entry needs a resource", code="required")
    entry = Entry(index, method, _relative(url.strip(), base), resource, item.get("fullUrl"),
                  request.get("ifNoneExist"), request.get("ifMatch"))
    resource_type = entry.path.split("/")[0]
    if method != "GET" and resource_type not in RESOURCES:
        raise BadRequest(f"'{resource_type}' is not a resource type this server stores", reason="type not stored")
    if resource is not None and method in ("POST", "PUT") and resource.get("resourceType") != resource_type:
        raise BadRequest(f"The resource is a {resource.get('resourceType')!r} but the request URL says "
                         f"{resource_type}")
    return entry


def _relative(url: str, base: str) -> str:
    if url.startswith(base.rstrip("/") + "/"):
        return url[len(base.rstrip("/")) + 1:]
    if urlsplit(url).scheme:
        raise BadRequest(f"request.url {url!r} is not on this server ({base})")
    return url.lstrip("/")


def _assign_ids(service: ResourceService, ordered: list[Entry], taken: Taken) -> dict[str, str]:
    """Gives every write its target (new ids, conditional matches, whose criteria are claimed in `taken`);
    fullUrl -> `Type/id` for the rewrite."""
    references: dict[str, str] = {}
    for entry in ordered:
        if entry.method in ("GET", "HEAD"):
            continue
        resource_type, _, rest = entry.path.partition("/")
        if entry.method == "POST":
            entry.target = (resource_type, _in_entry(entry.index, lambda: _if_none_exist(
                service, resource_type, entry, taken)))
        elif entry.query and not rest:
            entry.target = _in_entry(entry.index, lambda: _conditional_target(service, resource_type, entry, taken))
        else:
            match = _INSTANCE.fullmatch(entry.path)
            if not match:
                raise BadRequest(f"Bundle.entry[{entry.index}]: {entry.method} needs [type]/[id] or "
                                 f"[type]?criteria, not {entry.url!r}")
            entry.target = (match[1], match[2])
        if entry.full_url and entry.target:
            reference = f"{entry.target[0]}/{entry.target[1]}"
            references[entry.full_url] = reference
            tail = _ABSOLUTE_TAIL.search(entry.full_url)
            if tail and entry.method == "POST":  # `Patient/a2` in the Bundle means the entry `.../Patient/a2`
                references.setdefault(tail[1], reference)
    return references


def _if_none_exist(service: ResourceService, resource_type: str, entry: Entry, taken: Taken) -> str:
    """A POST entry's target id: its conditional match, or a new id (its criteria claimed in `taken`)."""
    resource_id = new_id()
    if entry.if_none_exist:
        match = service.if_none_exist(resource_type, entry.if_none_exist, resource_id, taken)
        if match is not None:
            entry.planned = Planned(None, existing=match)
            return match.id
    return resource_id


def _conditional_target(service: ResourceService, resource_type: str, entry: Entry,
                        taken: Taken) -> tuple[str, str] | None:
    """PUT, PATCH or DELETE [type]?criteria: the one match; for a PUT matching none, the id it creates (its
    criteria claimed in `taken`, as a conditional create's: a racing write of them made meanwhile is the match)."""
    matches = lifecycle.conditional_matches(service, resource_type, entry.query)
    if len(matches) > 1:
        raise PreconditionFailed(f"'{entry.url}' matches more than one {resource_type}")
    if matches:
        return resource_type, matches[0].id
    if entry.method == "DELETE":
        entry.planned = Planned(None, message=f"No {resource_type} matches '{entry.query}': nothing was deleted")
        return None
    if entry.method == "PATCH":  # a patch creates nothing
        lifecycle.check_status_patch(resource_type, _patch_document(entry), entry.query)
        raise NotFound(f"No {resource_type} matches '{entry.query}': there is nothing to patch")
    lifecycle.check_withdrawal(resource_type, entry.resource, entry.query)
    resource_id = (entry.resource or {}).get("id") or new_id()
    match = service.if_none_exist(resource_type, entry.query, resource_id, taken)
    return resource_type, match.id if match is not None else resource_id


def _rewrite(service: ResourceService, value: object, references: dict[str, str], permit: Permit) -> None:
    """Rewrites, in place, references to other entries and conditional references (see the docstring)."""
    if isinstance(value, list):
        for item in value:
            _rewrite(service, item, references, permit)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == "reference" and isinstance(item, str):
            value[key] = _resolved(service, item, references, permit)
        elif key == "url" and isinstance(item, str) and item in references and "contentType" in value:
            value[key] = references[item]  # an Attachment holding another entry (MHD: the Binary)
        else:
            _rewrite(service, item, references, permit)


def _resolved(service: ResourceService, reference: str, references: dict[str, str], permit: Permit) -> str:
    if reference in references:
        return references[reference]
    if reference.startswith(("urn:uuid:", "urn:oid:")):
        raise BadRequest(f"Reference {reference!r} names no entry of the transaction", code="not-found",
                         reason="unresolved reference")
    conditional = _CONDITIONAL_REFERENCE.fullmatch(reference)
    if conditional and conditional[1] in RESOURCES:
        permit(conditional[1], "s")
        matches = matching(service.store, service.access(), conditional[1], conditional[2], limit=2)
        if len(matches) != 1:
            raise PreconditionFailed(f"Conditional reference {reference!r} matches "
                                     f"{'no' if not matches else 'more than one'} {conditional[1]}",
                                     reason="unresolved reference")
        references[reference] = f"{conditional[1]}/{matches[0].id}"
        return references[reference]
    return reference


def _plan(service: ResourceService, entry: Entry) -> Planned:
    if entry.planned is not None:  # a conditional entry that writes nothing
        return entry.planned
    resource_type = entry.path.split("/")[0]
    target_id = entry.target[1] if entry.target else None
    if entry.method == "POST":
        if entry.target is None:  # a batch entry
            return service.plan_create(resource_type, entry.resource, entry.if_none_exist)
        return service.plan_create(resource_type, entry.resource, resource_id=target_id)
    if entry.method == "DELETE":
        if entry.target is None and entry.query:
            return service.plan_conditional_delete(resource_type, entry.query)
        return service.plan_delete(resource_type, target_id or _instance_id(entry))
    if entry.method == "PATCH":
        return service.plan_patch(resource_type, target_id or _instance_id(entry), _patch_document(entry),
                                  entry.if_match)
    if entry.target is None and entry.query:
        return service.plan_conditional_update(resource_type, entry.query, entry.resource, entry.if_match)
    resource = dict(entry.resource or {})
    resource_id = target_id or _instance_id(entry)
    if entry.query:  # a conditional update's target: the match, or a new resource
        resource["id"] = resource_id
    return service.plan_update(resource_type, resource_id, resource, entry.if_match)


def _supersede(service: ResourceService, entry: Entry, replaced: str, permit: Permit) -> Planned:
    """The write marking a document the entry's DocumentReference `replaces` superseded."""
    permit("DocumentReference", "u")
    write = entry.planned.write
    return lifecycle.supersede(service, replaced, record_id("DocumentReference", write.id, write.index))


def _instance_id(entry: Entry) -> str:
    match = _INSTANCE.fullmatch(entry.path)
    if not match:
        raise BadRequest(f"{entry.method} needs [type]/[id], not {entry.url!r}")
    return match[2]


def _patch_document(entry: Entry) -> object:
    """A PATCH entry carries its JSON Patch as a Binary (R4 http.html#patch, transaction)."""
    binary = entry.resource or {}
    if binary.get("resourceType") != "Binary" or binary.get("contentType") != JSON_PATCH:
        raise BadRequest(f"A PATCH entry's resource is a Binary of {JSON_PATCH}")
    try:
        from ..formats.fhir_json import loads
        return loads(base64.b64decode(binary.get("data") or "", validate=True))
    except (binascii.Error, ValueError) as error:
        raise BadRequest(f"The PATCH entry's Binary does not hold a JSON Patch document: {error}")


def _check_distinct(writes: list[Entry]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in writes:
        if entry.target is None:
            continue
        if entry.target in seen:
            raise BadRequest(f"Bundle.entry[{entry.index}] and Bundle.entry[{seen[entry.target]}] both write "
                             f"{entry.target[0]}/{entry.target[1]}: a transaction writes a resource once")
        seen[entry.target] = entry.index


def _write_response(entry: Entry, version: StoredVersion | None) -> dict:
    planned = entry.planned
    if entry.method == "DELETE":
        return {"response": {"status": STATUS_TEXT[204]}}
    if version is None:
        return {"response": {"status": STATUS_TEXT[200]}}
    status = 201 if planned and planned.write is not None and planned.created else 200
    return {"response": {"status": STATUS_TEXT[status],
                         "location": f"{version.type}/{version.id}/_history/{version.version}",
                         "etag": f'W/"{version.version}"', "lastModified": version.last_updated_text}}


def _read_response(entry: Entry, read: Reader) -> dict:
    resource = read(entry.url)
    response = {"status": STATUS_TEXT[200]}
    meta = resource.get("meta") or {}
    if "versionId" in meta and resource.get("resourceType") != "Bundle":
        response["etag"] = f'W/"{meta["versionId"]}"'
    if entry.method == "HEAD":
        return {"response": response}
    return {"resource": resource, "response": response}
