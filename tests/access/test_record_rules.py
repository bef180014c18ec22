"""The patient's rules enforced on every interaction: a matrix of professions x document types x consent
states x interactions, checking what is returned and what is audited; then the record's lifecycle."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fhir_server.auth.backend_client import register
from fhir_server.audit.events import Access, Actor
from fhir_server.auth.clients import ClientRegistry
from fhir_server.service.audit import AuditTrail
from fhir_server.storage.records import Records
from fhir_server.storage.resources import ResourceStore
from mappers.hl7v2.consent import OPT_OUT
from tests.conftest import REPO_ROOT
from validation import validate_profile

from ..api.client import HEADERS, INS, JSON
from ..auth.test_patients import REDIRECT, activated, code_from, exchange, patient_app, pkce, sign_in  # noqa: F401
from ..auth.test_representatives import born, choose, link
from ..auth.test_representatives import record as minor

AUDIT_PROFILE = "https://fhir-server.org/StructureDefinition/record-audit-event"
LOINC = "http://loinc.org"
VISIBILITY = "urn:oid:1.2.250.1.213.1.1.4.13"
TYPES = {"consultation": "11488-4", "lab": "11502-2", "prescription": "57833-6", "discharge": "11490-0"}
# What each profession reads of those types (profiles/profession-access.json).
READS = {"10": set(TYPES), "21": {"lab", "prescription"}, "60": {"lab", "prescription"}, "70": set()}
STATES = ("none", "hidden", "blocked", "no-emergency", "closed")
SCOPES = "patient/*.cruds"
PATCH = {"Content-Type": "application/json-patch+json", "Accept": JSON}


def professional(db, base, profession: str, purpose: str = "TREAT"):
    rpps = str(uuid.uuid4().int % 10**11)
    client = register(db, base.removesuffix("/fhir"), f"Software of a {profession}", ["system/*.cruds"],
                      professional={"practitioner": rpps, "profession": profession, "purpose_of_use": purpose})
    session = requests.Session()
    session.headers.update({**client.headers(), "Accept": JSON})
    session.rpps = rpps
    return session


def patient_session(base, app_id: str, ins: str) -> requests.Session:
    verifier, challenge = pkce()
    code = code_from(sign_in(base.removesuffix("/fhir"), app_id, ins, challenge=challenge, scope=SCOPES))
    token = exchange(base.removesuffix("/fhir"), app_id, code, verifier).json()["access_token"]
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": JSON})
    return session


def document(writer, base, patient_id: str, kind: str) -> tuple[str, str]:
    """(DocumentReference id, Binary id) of a new document of `kind` for the patient."""
    binary = writer.post(f"{base}/Binary", data=f"{kind} report".encode(),
                         headers={"Content-Type": "text/plain"}).json()["id"]
    created = writer.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
        "type": {"coding": [{"system": LOINC, "code": TYPES[kind]}]},
        "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary}"}}]})
    assert created.status_code == 201, created.text
    return created.json()["id"], binary


def pushed(patient_id: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}


def consent(patient, base, patient_id: str, provision: dict) -> None:
    created = patient.post(f"{base}/Consent", headers=HEADERS, json={
        "resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{patient_id}"},
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}], "policyRule": OPT_OUT,
        "provision": {"type": "deny", **provision}})
    assert created.status_code == 201, created.text


@pytest.fixture(scope="module")
def readers(db, base):
    """(profession, purpose) -> a professional's session, none of whom wrote the documents."""
    return {(p, purpose): professional(db, base, p, purpose) for p in READS for purpose in ("TREAT", "ETREAT")}


@pytest.fixture(scope="module")
def owners_app(db):
    """A patient app allowed to write in its users' records (Consents, labels, the record's decisions)."""
    return ClientRegistry(db).add_public("Patient app (writes)", [REDIRECT], [SCOPES])


@pytest.fixture(scope="module")
def world(vendor, base, database, db, owners_app, readers):
    """A record per consent state, each with one document of every type, written by a physician."""
    writer = professional(db, base, "10")
    http = requests.Session()
    http.headers.update(vendor.headers())
    app = owners_app.client_id
    records = {}
    for state in STATES:
        patient_id, ins = activated(http, base, database)
        documents = {kind: document(writer, base, patient_id, kind) for kind in TYPES}
        owner = patient_session(base, app, ins)
        if state == "hidden":
            for document_id, _ in documents.values():
                label = [{"op": "add", "path": "/securityLabel", "value": [
                    {"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]}]}]
                assert owner.patch(f"{base}/DocumentReference/{document_id}", json=label,
                                   headers=PATCH).status_code == 200
        elif state == "blocked":
            consent(owner, base, patient_id, {"actor": [
                {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                      "code": "PRCP"}]},
                 "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": s.rpps}}}
                for s in readers.values()]})
        elif state == "no-emergency":
            consent(owner, base, patient_id, {"purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}]})
        elif state == "closed":
            assert owner.post(f"{base}/Patient/{patient_id}/$close-record").status_code == 200
        records[state] = {"patient": patient_id, "ins": ins, "documents": documents, "owner": owner}
    return {"writer": writer, "records": records}


def expected(profession: str, purpose: str, state: str) -> set[str]:
    if state in ("hidden", "blocked", "closed") or (state == "no-emergency" and purpose == "ETREAT"):
        return set()
    return READS[profession]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("purpose", ("TREAT", "ETREAT"))
@pytest.mark.parametrize("profession", sorted(READS))
def test_matrix(world, readers, base, db, profession, purpose, state):
    reader = readers[(profession, purpose)]
    record = world["records"][state]
    patient_id, documents = record["patient"], record["documents"]
    seen = expected(profession, purpose, state)
    for kind, (document_id, binary_id) in documents.items():
        status = 200 if kind in seen else 404
        assert reader.get(f"{base}/DocumentReference/{document_id}").status_code == status, (kind, state)
        assert reader.get(f"{base}/DocumentReference/{document_id}/_history").status_code == status
        assert reader.get(f"{base}/DocumentReference/{document_id}/_history/1").status_code == status
        assert reader.get(f"{base}/Binary/{binary_id}", headers={"Accept": "*/*"}).status_code == status
    ids = {documents[kind][0] for kind in seen}
    batch = reader.post(base, headers=HEADERS, json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"DocumentReference/{documents[kind][0]}"}} for kind in TYPES]}).json()
    assert [e["response"]["status"][:3] for e in batch["entry"]] == ["200" if k in seen else "404" for k in TYPES]
    search = reader.get(f"{base}/DocumentReference", params={"patient": patient_id}).json()
    assert search["total"] == len(ids) and {e["resource"]["id"] for e in search.get("entry", [])} == ids
    paged = reader.get(f"{base}/DocumentReference", params={"patient": patient_id, "_count": 1}).json()
    assert paged["total"] == len(ids)
    everywhere = reader.get(f"{base}/DocumentReference", params={"type": f"{LOINC}|{TYPES['lab']}"}).json()
    assert not ({e["resource"]["id"] for e in everywhere.get("entry", [])} & (set(d for d, _ in documents.values()) - ids))
    open_record = state not in ("blocked", "closed") and not (state == "no-emergency" and purpose == "ETREAT")
    patients = reader.get(f"{base}/Patient", params={"_id": patient_id,
                                                     "_revinclude": "DocumentReference:subject"}).json()
    assert patients["total"] == (1 if open_record else 0)
    included = {e["resource"]["id"] for e in patients.get("entry", []) if e["search"]["mode"] == "include"}
    assert included == ids
    everything = reader.get(f"{base}/Patient/{patient_id}/$everything")
    assert everything.status_code == (200 if open_record else 404)
    if open_record:
        types = [e["resource"]["resourceType"] for e in everything.json()["entry"]]
        found = {e["resource"]["id"] for e in everything.json()["entry"] if e["resource"]["resourceType"] == "DocumentReference"}
        assert found == ids and "Consent" not in types  # the patient's Consents are theirs
    # Audited: each read of the record, allowed or refused, with the professional and the outcome.
    document_id = documents["lab"][0]
    events = list(db["AuditEvent"].find({"r:patient": f"Patient/{patient_id}"}))
    mine = [e["json"].replace(" ", "") for e in events
            if reader.rpps in e["json"] and f"DocumentReference/{document_id}" in e["json"]]
    assert mine, "the reads of this document are audited in the patient's history"
    allowed = ['"outcome":"0"' in event for event in mine]
    assert any(allowed) if "lab" in seen else not any(allowed)


def test_professionals_write_nothing_in_a_closed_or_blocking_record(world, readers, base):
    physician = readers[("10", "TREAT")]
    for state, status, says in (("closed", 422, "closed"), ("blocked", 403, "choices")):
        refused = physician.post(f"{base}/DocumentReference", headers=HEADERS,
                                 json=pushed(world["records"][state]["patient"]))
        assert refused.status_code == status and says in refused.json()["issue"][0]["diagnostics"]
    assert physician.get(f"{base}/Consent").status_code == 403
    # A conditional create whose criteria match only a document hidden from them matches nothing, as if it did
    # not exist: their own document is created, and the hidden one is neither shown nor changed.
    hidden, _ = world["records"]["hidden"]["documents"]["lab"]
    before = world["writer"].get(f"{base}/DocumentReference/{hidden}").json()["meta"]["versionId"]
    matched = physician.post(f"{base}/DocumentReference", json=pushed(world["records"]["none"]["patient"]),
                             headers={**HEADERS, "If-None-Exist": f"_id={hidden}"})
    assert matched.status_code == 201 and matched.json()["id"] != hidden
    assert world["writer"].get(f"{base}/DocumentReference/{hidden}").json()["meta"]["versionId"] == before
    # A type's whole history spans every record: refused for documents, and a blocking patient's left out.
    assert physician.get(f"{base}/DocumentReference/_history").status_code == 403
    blocked = world["records"]["blocked"]["patient"]
    totals = [s.get(f"{base}/Patient/_history", params={"_count": 0}).json()["total"]
              for s in (world["writer"], physician)]
    assert totals[0] - totals[1] == 1  # the blocking patient's one version
    assert world["writer"].get(f"{base}/Patient/{blocked}/_history").status_code == 200
    assert physician.get(f"{base}/Patient/{blocked}/_history").status_code == 404
    assert physician.post(f"{base}/Consent", headers=HEADERS, json={
        "resourceType": "Consent", "status": "active", "scope": {"text": "x"}, "category": [{"text": "x"}],
        "policyRule": OPT_OUT, "patient": {"reference": f"Patient/{world['records']['none']['patient']}"}}).status_code == 403


def test_a_closed_record_takes_no_documents_from_its_patient_either(http, base, database, db, owners_app):
    """Closed, a record hides its documents, lists and Binaries from everyone, its patient included: it takes
    none from them either (they could not see what they filed), but its patient still writes their Consents."""
    patient_id, ins = activated(http, base, database)
    owner = patient_session(base, owners_app.client_id, ins)
    assert owner.post(f"{base}/Patient/{patient_id}/$close-record").status_code == 200
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": "eA==",
              "securityContext": {"reference": f"Patient/{patient_id}"}}
    for resource in (pushed(patient_id), binary):
        refused = owner.post(f"{base}/{resource['resourceType']}", headers=HEADERS, json=resource)
        assert refused.status_code == 422, refused.text
        assert "closed" in refused.json()["issue"][0]["diagnostics"]
    consent(owner, base, patient_id, {"purpose": [  # created (201): not content a closed record hides
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}]})
    assert owner.post(f"{base}/Patient/{patient_id}/$reopen-record").status_code == 200
    assert owner.get(f"{base}/DocumentReference", params={"patient": patient_id}).json()["total"] == 0
    assert db["Binary"].count_documents({"x:record": f"Patient/{patient_id}"}) == 0
    assert owner.post(f"{base}/DocumentReference", headers=HEADERS, json=pushed(patient_id)).status_code == 201
    nobody = {k: v for k, v in pushed(patient_id).items() if k != "subject"}  # a document of no record
    refused = owner.post(f"{base}/DocumentReference", headers=HEADERS, json=nobody)
    assert refused.status_code == 403 and "does not name them" in refused.text, refused.text


def test_a_document_keeps_the_confidentiality_it_was_given(world, base):
    """A document with no confidentiality label is labelled normal (N); one that has one, restricted (R) here,
    keeps it alone; a label with no coding (text only) is kept as it is."""
    writer, patient_id = world["writer"], world["records"]["none"]["patient"]
    confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    for given, kept in (([], {"N"}), ([{"coding": [{"system": confidentiality, "code": "R"}]}], {"R"}),
                        ([{"text": "Note de service"}], {"N"})):
        created = writer.post(f"{base}/DocumentReference", headers=HEADERS,
                              json={**pushed(patient_id), **({"securityLabel": given} if given else {})})
        assert created.status_code == 201, created.text
        labels = writer.get(f"{base}/DocumentReference/{created.json()['id']}").json()["securityLabel"]
        assert {c["code"] for label in labels for c in label.get("coding") or []
                if c["system"] == confidentiality} == kept, labels
        assert [label for label in labels if "coding" not in label] == [g for g in given if "coding" not in g]


def test_the_writer_still_sees_a_hidden_document_and_the_patient_sees_it_too(world, base):
    record = world["records"]["hidden"]
    document_id, _ = record["documents"]["discharge"]
    assert world["writer"].get(f"{base}/DocumentReference/{document_id}").status_code == 200
    assert record["owner"].get(f"{base}/DocumentReference/{document_id}").status_code == 200
    # The patient may show it again, but not change the professional's document otherwise.
    current = record["owner"].get(f"{base}/DocumentReference/{document_id}").json()
    changed = record["owner"].put(f"{base}/DocumentReference/{document_id}", headers=HEADERS,
                                  json={**current, "description": "mine now"})
    assert changed.status_code == 403


@pytest.mark.parametrize("code", ["INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"])
def test_a_patient_hides_even_their_own_document_from_professionals_only(world, base, code):
    """Not visible to the patient or to legal representatives is a professional's decision (ANS), even on a
    document the patient wrote; hiding it from professionals is the patient's."""
    record = world["records"]["none"]
    owner = record["owner"]
    document_id, _ = document(owner, base, record["patient"], "lab")
    refused = owner.patch(f"{base}/DocumentReference/{document_id}", headers=PATCH, json=[
        {"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": VISIBILITY, "code": code}]}}])
    assert refused.status_code == 403, refused.text
    labels = owner.get(f"{base}/DocumentReference/{document_id}").json()["securityLabel"]
    assert {c["code"] for label in labels for c in label["coding"]} == {"N"}
    hidden = owner.patch(f"{base}/DocumentReference/{document_id}", headers=PATCH, json=[
        {"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]}}])
    assert hidden.status_code == 200, hidden.text


def test_not_visible_to_the_patient_until_told(world, base):
    record = world["records"]["none"]
    document_id, binary_id = document(world["writer"], base, record["patient"], "lab")
    label = [{"op": "add", "path": "/securityLabel", "value": [
        {"coding": [{"system": VISIBILITY, "code": "INVISIBLE_PATIENT"}]}]}]
    assert world["writer"].patch(f"{base}/DocumentReference/{document_id}", json=label,
                                 headers=PATCH).status_code == 200
    labels = world["writer"].get(f"{base}/DocumentReference/{document_id}").json()["securityLabel"]
    assert {c["code"] for label in labels for c in label["coding"]} == {"INVISIBLE_PATIENT", "N"}  # N by default
    owner = record["owner"]
    assert owner.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    assert owner.get(f"{base}/Binary/{binary_id}", headers={"Accept": "*/*"}).status_code == 404
    listed = owner.get(f"{base}/DocumentReference", params={"patient": record["patient"]}).json()
    assert document_id not in {e["resource"]["id"] for e in listed.get("entry", [])}
    assert world["writer"].get(f"{base}/DocumentReference/{document_id}").status_code == 200


def test_the_patient_reads_their_activity_history_newest_first(world, base, readers):
    record = world["records"]["none"]
    readers[("10", "TREAT")].get(f"{base}/Patient/{record['patient']}")
    history = record["owner"].get(f"{base}/AuditEvent", params={"patient": record["patient"]}).json()
    events = [e["resource"] for e in history["entry"] if e["search"]["mode"] == "match"]
    recorded = [event["recorded"] for event in events]
    assert recorded == sorted(recorded, reverse=True) and len(recorded) >= 2
    for event in events:  # each claims the shared record's AuditEvent profile, and conforms to it
        assert event["meta"]["profile"] == [AUDIT_PROFILE]
        assert [i for i in validate_profile(event, AUDIT_PROFILE) if i.severity == "error"] == [], event
    reads = record["owner"].get(f"{base}/AuditEvent", params={"patient": record["patient"], "action": "R"}).json()
    assert all(e["resource"]["action"] == "R" for e in reads.get("entry", []) if e["search"]["mode"] == "match")
    # Paged: the search ran on their record alone (its self link says so), and its next link can be followed.
    first = record["owner"].get(f"{base}/AuditEvent", params={"_count": 1}).json()
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert parse_qs(urlsplit(links["self"]).query)["patient"] == [f"Patient/{record['patient']}"]
    following = record["owner"].get(links["next"])
    assert following.status_code == 200, following.text
    [newest], [next_one] = ([e["resource"] for e in page["entry"]] for page in (first, following.json()))
    assert next_one["id"] != newest["id"] and next_one["recorded"] <= newest["recorded"]
    other = world["records"]["hidden"]["patient"]
    assert record["owner"].get(f"{base}/AuditEvent", params={"patient": other}).json()["total"] == 0
    # Only the types of a record's own content are searchable with a patient's token (api/guard.py).
    assert record["owner"].get(f"{base}/Binary", params={"_id": "x"}).status_code == 403


def test_notifications_are_queued_and_break_glass_is_audited_as_such(world, db, readers, base):
    record = world["records"]["none"]
    queued = {n["kind"] for n in db["notifications"].find({"patient": record["patient"]})}
    assert {"record-created", "document-changed"} <= queued
    emergency, normal = readers[("10", "ETREAT")], readers[("10", "TREAT")]

    def told_of(reader) -> bool:
        """Whether the patient is told of an emergency access by this reader."""
        return any(reader.rpps in n["_id"] for n in db["notifications"].find(
            {"patient": record["patient"], "kind": "emergency-access"}))

    assert normal.get(f"{base}/Patient/{record['patient']}").status_code == 200
    assert not told_of(normal)  # an access in care is no emergency
    assert emergency.get(f"{base}/Patient/{record['patient']}").status_code == 200
    assert told_of(emergency)
    history = record["owner"].get(f"{base}/AuditEvent", params={
        "patient": record["patient"], "agent:identifier": f"urn:oid:1.2.250.1.71.4.2.1|{emergency.rpps}"}).json()
    events = [e["resource"] for e in history.get("entry", []) if e["search"]["mode"] == "match"]
    assert events and all(emergency.rpps in str(e["agent"]) for e in events)
    reasons = {c["code"] for e in events for p in e.get("purposeOfEvent", []) for c in p["coding"]}
    assert {"ETREAT", "BTG"} <= reasons


def test_a_representative_does_not_see_what_is_kept_from_legal_representatives(http, base, database, db,
                                                                                patient_app):  # noqa: F811
    writer = professional(db, base, "10")
    parent, parent_ins = activated(http, base, database)
    child = minor(http, base, born(10), "Enfant")
    link(http, base, child, parent_ins)
    shown, _ = document(writer, base, child, "lab")
    kept, kept_binary = document(writer, base, child, "consultation")
    label = [{"op": "add", "path": "/securityLabel", "value": [
        {"coding": [{"system": VISIBILITY, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}]}]
    assert writer.patch(f"{base}/DocumentReference/{kept}", json=label, headers=PATCH).status_code == 200
    origin = base.removesuffix("/fhir")
    answer = choose(origin, patient_app.client_id, parent_ins, lambda values: child)
    token = exchange(origin, patient_app.client_id, code_from(answer), answer.verifier).json()["access_token"]
    acting = {"Authorization": f"Bearer {token}", "Accept": JSON}
    assert requests.get(f"{base}/DocumentReference/{shown}", headers=acting).status_code == 200
    assert requests.get(f"{base}/DocumentReference/{kept}", headers=acting).status_code == 404
    assert requests.get(f"{base}/Binary/{kept_binary}", headers={**acting, "Accept": "*/*"}).status_code == 404
    listed = requests.get(f"{base}/DocumentReference", headers=acting, params={"patient": child}).json()
    assert listed["total"] == 1 and listed["entry"][0]["resource"]["id"] == shown
    everything = requests.get(f"{base}/Patient/{child}/$everything", headers=acting).json()
    assert kept not in {e["resource"]["id"] for e in everything["entry"]}


def cli(database, *args: str, **env: str) -> subprocess.CompletedProcess:
    uri, name = database
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name, **env})


def test_blocking_one_professional_leaves_emergency_access_to_others(http, base, database, db, owners_app):
    """A Consent blocking one professional decides that alone: emergency access stays open to the others until the
    patient opposes it."""
    writer, blocked = professional(db, base, "10"), professional(db, base, "10")
    urgentist = professional(db, base, "10", "ETREAT")
    patient_id, ins = activated(http, base, database)
    document_id, _ = document(writer, base, patient_id, "lab")
    owner = patient_session(base, owners_app.client_id, ins)
    consent(owner, base, patient_id, {"actor": [
        {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
         "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": blocked.rpps}}}]})
    assert blocked.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    assert urgentist.get(f"{base}/DocumentReference/{document_id}").status_code == 200


def test_a_professional_refused_consultation_adds_documents_but_reads_none(http, base, database, db, owners_app):
    """A Consent denying one professional the `access` action alone: they may still file their reports in the
    record, and read nothing of it."""
    writer, refused = professional(db, base, "10"), professional(db, base, "10")
    patient_id, ins = activated(http, base, database)
    document_id, _ = document(writer, base, patient_id, "lab")
    owner = patient_session(base, owners_app.client_id, ins)
    consent(owner, base, patient_id, {
        "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}]}],
        "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                        "code": "PRCP"}]},
                   "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": refused.rpps}}}]})
    assert refused.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    assert refused.get(f"{base}/DocumentReference", params={"patient": patient_id}).json()["total"] == 0
    document(refused, base, patient_id, "lab")  # filed (201)
    assert writer.get(f"{base}/DocumentReference/{document_id}").status_code == 200


def test_a_block_is_lifted_by_making_its_consent_inactive_and_names_rpps_numbers_only(
        http, base, database, db, owners_app):
    """Only an active deny Consent decides, and it names professionals by their RPPS number: the same digits in
    another identifier system name nobody the record knows."""
    writer, named = professional(db, base, "10"), professional(db, base, "10")
    patient_id, ins = activated(http, base, database)
    document_id, _ = document(writer, base, patient_id, "lab")
    owner = patient_session(base, owners_app.client_id, ins)
    role = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}
    consent(owner, base, patient_id, {"actor": [
        {"role": role, "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.9", "value": named.rpps}}}]})
    assert named.get(f"{base}/DocumentReference/{document_id}").status_code == 200  # not an RPPS number
    consent(owner, base, patient_id, {"actor": [
        {"role": role, "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": named.rpps}}}]})
    assert named.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    found = owner.get(f"{base}/Consent", params={"patient": patient_id}).json()
    [block] = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "match"
               and "4.2.1" in json.dumps(e["resource"]["provision"])]
    lifted = owner.put(f"{base}/Consent/{block['id']}", headers=HEADERS, json={**block, "status": "inactive"})
    assert lifted.status_code == 200, lifted.text
    assert named.get(f"{base}/DocumentReference/{document_id}").status_code == 200


def test_purging_a_record_leaves_what_other_records_keep_that_names_its_patient(http, base, database, db):
    """An AuditEvent of a child's record may name the parent (their Patient as an entity); purging the parent's
    record (an opposition here) erases what is kept with that record only: the child's history stays whole."""
    parent, parent_ins = activated(http, base, database)
    child = minor(http, base, born(9), "Enfant")
    kept = AuditTrail(ResourceStore(db)).record(
        Access("read", 200, datetime.now(timezone.utc), Actor(kind="software", client_id="test"),
               entities=[f"Patient/{parent}", f"Patient/{child}"]), child)
    assert db["AuditEvent"].count_documents({"r:patient": f"Patient/{parent}"}) >= 1  # it names the parent
    opposed = cli(database, "records", "oppose", f"{INS}|{parent_ins}")
    assert opposed.returncode == 0, opposed.stdout + opposed.stderr
    assert http.get(f"{base}/Patient/{parent}").status_code == 404
    assert db["AuditEvent"].count_documents({"_id": kept["id"]}) == 1
    assert http.get(f"{base}/Patient/{child}").status_code == 200
    verified = cli(database, "audit", "verify")
    assert verified.returncode == 0, verified.stdout


def test_definitive_deletion_purges_everything(http, base, database, db, owners_app):
    writer = professional(db, base, "10")
    patient_id, ins = activated(http, base, database)
    document_id, binary_id = document(writer, base, patient_id, "lab")
    owner = patient_session(base, owners_app.client_id, ins)
    # Closed: nobody reads its content, the patient included; reopened: as before.
    assert owner.post(f"{base}/Patient/{patient_id}/$reopen-record").status_code == 400  # not closed
    assert owner.post(f"{base}/Patient/{patient_id}/$close-record").status_code == 200
    assert writer.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    assert owner.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    assert writer.post(f"{base}/Patient/{patient_id}/$reopen-record").status_code == 403  # the owner's alone
    assert owner.post(f"{base}/Patient/{patient_id}/$reopen-record").status_code == 200
    assert writer.get(f"{base}/DocumentReference/{document_id}").status_code == 200
    assert owner.post(f"{base}/Patient/{patient_id}/$delete-record").status_code == 400  # confirm=true
    deleted = owner.post(f"{base}/Patient/{patient_id}/$delete-record", params={"confirm": "true"})
    assert deleted.status_code == 200, deleted.text
    for reference in (f"Patient/{patient_id}", f"DocumentReference/{document_id}", f"Binary/{binary_id}"):
        assert writer.get(f"{base}/{reference}").status_code == 404
    assert db["history"].count_documents({"rid": {"$in": [patient_id, document_id, binary_id]}}) == 0
    assert not any(ins in str(d) for d in db["postings"].find({}))
    left = [e["json"] for e in db["AuditEvent"].find({"r:patient": f"Patient/{patient_id}"})]
    assert any("delete-record" in e for e in left)  # the purge's trace, in the server's chain
    assert not any(document_id in e or binary_id in e for e in left)
    assert db["audit_chain"].count_documents({"key": patient_id}) == 0
    trace = db["records"].find_one({"_id": patient_id})
    assert trace["state"] == "deleted" and set(trace) == {"_id", "state", "purged", "erased"}
    assert cli(database, "audit", "verify").returncode == 0


def test_retention_and_opposition(http, base, database, db):
    writer = professional(db, base, "10")
    patient_id, ins = activated(http, base, database)
    document_id, _ = document(writer, base, patient_id, "lab")
    db["records"].update_one({"_id": patient_id}, {"$set": {"state": "closed", "retain_until": db["records"].find_one(
        {"_id": patient_id})["opened"]}})
    ran = cli(database, "retention", "run")
    assert ran.returncode == 0 and "records purged: " in ran.stdout
    assert db["DocumentReference"].find_one({"_id": document_id}) is None
    # An opposition purges the record of whoever holds that identifier, and refuses every later push.
    patient_id, ins = activated(http, base, database)
    document_id, _ = document(writer, base, patient_id, "lab")
    opposed = cli(database, "records", "oppose", f"{INS}|{ins}")
    assert opposed.returncode == 0 and "records purged: 1" in opposed.stdout
    assert writer.get(f"{base}/DocumentReference/{document_id}").status_code == 404
    refused = writer.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}]})
    assert refused.status_code == 422 and "opposed" in refused.json()["issue"][0]["diagnostics"]
    by_insured = {**pushed(patient_id), "subject": {"identifier": {"system": INS, "value": ins}}}
    for document_push in (pushed(patient_id), by_insured):  # the purged Patient is no one's record any more
        refused = writer.post(f"{base}/DocumentReference", headers=HEADERS, json=document_push)
        assert refused.status_code == 422 and "DocumentReference.subject" in refused.json()["issue"][0]["diagnostics"]
    assert db["Patient"].count_documents({"t:identifier": f"{INS}|{ins}"}) == 0
    assert db["DocumentReference"].count_documents({"r:patient": f"Patient/{patient_id}"}) == 0
    assert cli(database, "records", "withdraw-opposition", f"{INS}|{ins}").returncode == 0
    assert writer.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}]}).status_code == 201


def test_a_patient_whose_opposition_is_recorded_gets_no_record_before_the_purge(http, base, db):
    """An opposition is recorded, then the records of whoever holds that identifier are purged: between the two
    (or when a crash interrupts the purge), a Patient with no record yet is still stored, and no document may
    open their record."""
    writer = professional(db, base, "10")
    ins = str(uuid.uuid4().int % 10**13)
    created = http.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}]})
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    assert Records(db).oppose(INS, ins, datetime.now(timezone.utc))  # recorded; the purge not run yet
    refused = writer.post(f"{base}/DocumentReference", headers=HEADERS, json=pushed(patient_id))
    assert refused.status_code == 422 and "opposed" in refused.json()["issue"][0]["diagnostics"], refused.text
    assert db["DocumentReference"].count_documents({"r:patient": f"Patient/{patient_id}"}) == 0
    assert Records(db).get(patient_id) is None  # no record opened


def test_refusals_are_audited_too(base, db):
    asked = f"Patient/{uuid.uuid4()}"
    assert requests.get(f"{base}/{asked}").status_code == 401  # no token
    [event] = [json.loads(e["json"]) for e in db["AuditEvent"].find({"r:patient": asked})]
    assert event["outcome"] == "4" and event["subtype"][0]["code"] == "read"
    assert {e["what"]["reference"] for e in event["entity"]} == {asked}


def test_audit_verify_finds_a_tampered_event(http, base, database, db):
    patient = http.post(f"{base}/Patient", headers=HEADERS, json={"resourceType": "Patient"}).json()
    http.get(f"{base}/Patient/{patient['id']}")
    assert cli(database, "audit", "verify", "--patient", patient["id"]).returncode == 0
    event = db["AuditEvent"].find_one({"r:patient": f"Patient/{patient['id']}"})
    forged = {**json.loads(event["json"]), "recorded": "2020-01-01T00:00:00Z"}  # an access moved in time
    db["AuditEvent"].update_one({"_id": event["_id"]}, {"$set": {"json": json.dumps(forged)}})
    broken = cli(database, "audit", "verify", "--patient", patient["id"])
    assert broken.returncode == 1 and patient["id"] in broken.stdout


def test_deleting_a_blocking_consent_lifts_the_block(http, base, database, db, owners_app):
    patient_id, ins = activated(http, base, database)
    owner = patient_session(base, owners_app.client_id, ins)
    doctor = professional(db, base, "10")
    assert doctor.get(f"{base}/Patient/{patient_id}").status_code == 200
    consent(owner, base, patient_id, {"actor": [{
        "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
        "reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": doctor.rpps}}}]})
    assert doctor.get(f"{base}/Patient/{patient_id}").status_code == 404
    found = owner.get(f"{base}/Consent", params={"patient": patient_id}).json()
    [consent_id] = [e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "match"]
    assert owner.delete(f"{base}/Consent/{consent_id}").status_code in (200, 204)
    assert doctor.get(f"{base}/Patient/{patient_id}").status_code == 200


def test_an_emergency_search_that_finds_nothing_is_still_an_emergency_access(vendor, base, database, db, owners_app):
    """Searching a record in an emergency (break-glass) opens it even when nothing matches (the professional
    learns there is no such document): the patient is told, and the search is audited as an emergency."""
    http = requests.Session()
    http.headers.update(vendor.headers())
    patient_id, ins = activated(http, base, database)
    owner = patient_session(base, owners_app.client_id, ins)
    emergency = professional(db, base, "10", "ETREAT")
    found = emergency.get(f"{base}/DocumentReference", params={"patient": patient_id, "status": "entered-in-error"})
    assert found.status_code == 200 and found.json()["total"] == 0
    assert [n for n in db["notifications"].find({"patient": patient_id, "kind": "emergency-access"})
            if emergency.rpps in n["_id"]]
    trail = owner.get(f"{base}/AuditEvent", params={
        "patient": patient_id, "agent:identifier": f"urn:oid:1.2.250.1.71.4.2.1|{emergency.rpps}"}).json()
    reasons = {c["code"] for e in trail.get("entry", []) for p in e["resource"].get("purposeOfEvent", [])
               for c in p["coding"]}
    assert {"ETREAT", "BTG"} <= reasons
