"""Random records, every caller, every route: what a route returns is exactly what the one visibility function
(access/policy.py `RecordAccess.visible`) allows, and that function agrees with the record's rules written
out plainly here (`allowed`).

Records: open, blocking one physician, opposing emergency access, a minor's (read by their legal
representative), closed. Documents: every reference form naming the patient, each document type, each
visibility label, some deleted by the patient. Callers: each record's owner, the representative, the writing
physician, the blocked physician, another physician, a pharmacist, an emergency physician. Routes: read,
vread, instance history, Binary download, search by patient (entries and `_summary=count`), `_has`,
`_revinclude`, batch Bundle reads, the MDM^T02 pull, `$everything`."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import pytest
import requests

from fhir_server.access.policy import RecordAccess
from fhir_server.audit.events import Actor
from fhir_server.storage.records import Records
from fhir_server.storage.resources import ResourceStore
from fhir_server.storage.readers import ServerLookup

LOOKUP = ServerLookup("the test's own check")

from ..auth.test_patients import activated, code_from, exchange, patient_app  # noqa: F401
from ..auth.test_representatives import born, choose, link
from ..auth.test_representatives import record as minor_record
from .conftest import RPPS, TYPES, Renewing, binary, block, consent, document, new_record
from .test_leaks import reference_forms

SEED = int(os.environ.get("SECURITY_SEED", random.randrange(10**6)))
LABELS = (None, "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
READS = {"10": set(TYPES), "21": {"lab", "prescription"}}  # profiles/profession-access.json
RAW = {"Accept": "*/*"}
HL7_V2 = "application/hl7-v2"


@dataclass
class Doc:
    id: str
    binary: str
    kind: str
    label: str | None
    writer: str
    form: str
    deleted: bool = False


@dataclass
class Record:
    state: str  # open, blocking, no-emergency, minor, closed
    patient: str
    owner: requests.Session
    documents: list[Doc] = field(default_factory=list)


def allowed(caller: str, profession: str | None, record: Record, doc: Doc, callers: dict) -> bool:
    """The record's rules, written out: whether `caller` may see `doc` (its Binary included)."""
    if caller not in ("owner", "representative") and (
            record.state == "closed" or (record.state == "blocking" and caller == "blocked")
            or (record.state == "no-emergency" and caller == "emergency")):
        return False  # the record is not open to them
    if doc.deleted:  # its Binary, pointed at by no document: its writer's and its record's owner's
        return caller == doc.writer or (caller in ("owner", "representative") and record.state != "closed")
    if caller in ("owner", "representative"):
        hidden = {"INVISIBLE_PATIENT"} | ({"INVISIBLE_REPRESENTANTS_LEGAUX"} if caller == "representative" else set())
        return record.state != "closed" and doc.label not in hidden
    if caller == doc.writer:
        return True
    return doc.label != "MASQUE_PS" and doc.kind in READS[profession]


@pytest.fixture(scope="module")
def world(vendor_session, base, database, db, owners_app, callers, patient_app):  # noqa: F811
    rng = random.Random(SEED)
    http = vendor_session
    records = []
    for state in ("open", "blocking", "no-emergency", "minor", "closed"):
        if state == "minor":
            parent, parent_ins = activated(http, base, database)
            patient = minor_record(http, base, born(9), "Enfant")
            ins = http.get(f"{base}/Patient/{patient}").json()["identifier"][0]["value"]
            link(http, base, patient, parent_ins)
            owner = representative(base, patient_app.client_id, parent_ins, patient)
        else:
            patient, ins, owner = new_record(http, base, database, owners_app)
        record = Record(state, patient, owner)
        forms = reference_forms(base, patient, ins)
        for n in range(5):
            writer = rng.choice(["writer", "pharmacist"])
            kind, label, form = rng.choice(sorted(TYPES)), rng.choice(LABELS), rng.choice(sorted(forms))
            content = binary(callers[writer], base, f"{state} {n}".encode())
            elements = forms[form]
            created = document(callers[writer], base, elements.get("subject"), kind, content, label,
                               **{k: v for k, v in elements.items() if k != "subject"})
            assert created.status_code == 201, created.text
            record.documents.append(Doc(created.json()["id"], content, kind, label, writer, form))
        deletable = [d for d in record.documents if d.label != "INVISIBLE_PATIENT"]  # what the patient sees
        if state not in ("minor", "closed"):  # the representative's token here only reads
            for doc in rng.sample(deletable, min(2, len(deletable))):
                assert owner.delete(f"{base}/DocumentReference/{doc.id}").status_code == 200
                assert owner.get(f"{base}/DocumentReference/{doc.id}").status_code == 410
                doc.deleted = True
        if state == "blocking":
            block(owner, base, patient, callers["blocked"].rpps)
        elif state == "no-emergency":
            consent(owner, base, patient, {"purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}]})
        elif state == "closed":
            assert owner.post(f"{base}/Patient/{patient}/$close-record").status_code == 200
        records.append(record)
    return records


def representative(base: str, app_id: str, parent_ins: str, child: str) -> Renewing:
    """The parent signed in, acting for their child (signing in again when the token is to be renewed)."""
    origin = base.removesuffix("/fhir")

    def token() -> str:
        answer = choose(origin, app_id, parent_ins, lambda values: child)
        return exchange(origin, app_id, code_from(answer), answer.verifier).json()["access_token"]
    return Renewing(token)


def actor(caller: str, session: requests.Session, record: Record) -> Actor:
    """The caller as the server's visibility function knows them (api/guard.py `actor`)."""
    if caller in ("owner", "representative"):
        return Actor(kind="patient" if caller == "owner" else "representative", patient=record.patient,
                     representative="someone" if caller == "representative" else None)
    profession = "21" if caller == "pharmacist" else "10"
    return Actor(kind="professional", practitioner=f"{RPPS}|{session.rpps}", profession=profession,
                 purpose_of_use="ETREAT" if caller == "emergency" else "TREAT")


def sessions(world: list[Record], callers: dict):
    """(caller name, profession, session, record) for every caller of every record."""
    for record in world:
        for name, session in callers.items():
            yield name, "21" if name == "pharmacist" else "10", session, record
        yield ("representative" if record.state == "minor" else "owner"), None, record.owner, record


def test_every_route_shows_what_the_visibility_function_allows(world, callers, base, db):
    store, records = ResourceStore(db), Records(db)
    print(f"SECURITY_SEED={SEED}")  # rerun a failure with the same world
    for name, profession, session, record in sessions(world, callers):
        rules = RecordAccess(store, records, actor(name, session, record))
        where = f"seed {SEED}, {name} on the {record.state} record"
        seen = set()
        for doc in record.documents:
            stored = store.current("DocumentReference", doc.id, reader=LOOKUP)
            expected = allowed(name, profession, record, doc, callers)
            if not doc.deleted:
                assert rules.visible(stored) == expected, f"{where}: the function disagrees on {doc}"
                seen.update([doc.id] if expected else [])
                read = session.get(f"{base}/DocumentReference/{doc.id}")
                assert read.status_code == (200 if expected else 404), f"{where}: read {doc}"
                for path in (f"{doc.id}/_history/1", f"{doc.id}/_history"):
                    answer = session.get(f"{base}/DocumentReference/{path}")
                    assert answer.status_code == (200 if expected else 404), f"{where}: {path} {doc}"
                pulled = session.get(f"{base}/DocumentReference/{doc.id}", headers={"Accept": HL7_V2})
                assert pulled.status_code == (200 if expected else 404), f"{where}: MDM pull {doc}: {pulled.text}"
            else:
                gone = session.get(f"{base}/DocumentReference/{doc.id}")
                assert gone.status_code == (410 if rules.visible(stored) else 404), f"{where}: deleted {doc}"
            content = session.get(f"{base}/Binary/{doc.binary}", headers=RAW)
            binary_seen = rules.visible(store.current("Binary", doc.binary, reader=LOOKUP))
            assert binary_seen == expected, f"{where}: the function disagrees on Binary of {doc}"
            assert content.status_code == (200 if expected else 404), f"{where}: Binary of {doc}"
        found = session.get(f"{base}/DocumentReference", params={"patient": record.patient, "_count": 100})
        listed = {e["resource"]["id"] for e in found.json().get("entry", [])} if found.status_code == 200 else set()
        assert listed == seen, f"{where}: search"
        total = session.get(f"{base}/DocumentReference", params={"patient": record.patient, "_summary": "count"})
        assert (total.json()["total"] if total.status_code == 200 else 0) == len(seen), f"{where}: count"
        if name not in ("owner", "representative"):  # patients' tokens make no Bundles, includes or _has
            batch = session.post(f"{base}", json={"resourceType": "Bundle", "type": "batch", "entry": [
                {"request": {"method": "GET", "url": f"DocumentReference/{d.id}"}} for d in record.documents]})
            statuses = [e["response"]["status"] for e in batch.json()["entry"]]
            assert [s.startswith("200") for s in statuses] == [d.id in seen for d in record.documents], where
            included = session.get(f"{base}/Patient", params={"_id": record.patient, "_count": 100,
                                                              "_revinclude": "DocumentReference:patient"}).json()
            assert {e["resource"]["id"] for e in included.get("entry", []) if e["search"]["mode"] == "include"
                    } == seen, f"{where}: _revinclude"
            for doc in record.documents:
                has = session.get(f"{base}/Patient", params={"_id": record.patient, "_summary": "count",
                                                              "_has:DocumentReference:patient:_id": doc.id})
                assert has.json()["total"] == (1 if doc.id in seen else 0), f"{where}: _has {doc}"
        everything = session.get(f"{base}/Patient/{record.patient}/$everything", params={"_count": 500})
        entries = {e["resource"]["id"] for e in everything.json().get("entry", [])} \
            if everything.status_code == 200 else set()
        assert entries & {d.id for d in record.documents} == seen, f"{where}: $everything"
        assert entries & {d.binary for d in record.documents} == {
            d.binary for d in record.documents if d.id in seen}, f"{where}: $everything Binaries"
