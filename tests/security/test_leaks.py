"""Each way a curious professional read or learnt of what the record's rules keep from them (issue 17), tried
again: a Binary by pointer, the reference forms, orphan Binaries, inner searches, errors that tell, kept
pages. What one may not see must answer as what does not exist."""
from __future__ import annotations

import pytest
import requests

from fhir_server.access.membership import RECORD
from fhir_server.access.policy import WRITER
from fhir_server.search.values import index_fields
from fhir_server.storage.resources import ResourceStore

from ..api.test_mhd import provide_bundle
from .conftest import HEADERS, INS, JSON, PATCH, VISIBILITY, binary, block, document, new_record

RAW = {"Accept": "*/*"}


@pytest.fixture(scope="module")
def record(vendor_session, base, database, owners_app, callers):
    """A record whose patient blocked one physician, with a document hidden from professionals (MASQUE_PS)
    and an ordinary one, both with their Binary."""
    patient_id, ins, owner = new_record(vendor_session, base, database, owners_app)
    block(owner, base, patient_id, callers["blocked"].rpps)
    writer = callers["writer"]
    hidden_binary = binary(writer, base, b"hidden report")
    hidden = document(writer, base, {"reference": f"Patient/{patient_id}"}, "consultation", hidden_binary,
                      label="MASQUE_PS", description="Sérologie confidentielle",
                      identifier=[{"system": "urn:test", "value": f"secret-{patient_id}"}])
    assert hidden.status_code == 201, hidden.text
    shown_binary = binary(writer, base, b"shown report")
    shown = document(writer, base, {"reference": f"Patient/{patient_id}"}, "lab", shown_binary)
    assert shown.status_code == 201, shown.text
    return {"patient": patient_id, "ins": ins, "owner": owner, "hidden": hidden.json()["id"],
            "hidden_binary": hidden_binary, "shown": shown.json()["id"], "shown_binary": shown_binary}


def test_a_binary_is_not_read_through_a_pointer_from_another_record(vendor_session, base, database, owners_app,
                                                                    callers, record, db):
    doctor = callers["doctor"]
    assert doctor.get(f"{base}/Binary/{record['hidden_binary']}", headers=RAW).status_code == 404
    elsewhere, _, _ = new_record(vendor_session, base, database, owners_app)
    for subject in ({"reference": f"Patient/{elsewhere}"}, None):  # another record, or no record at all
        pointer = document(doctor, base, subject, "lab", record["hidden_binary"])
        assert pointer.status_code == 422, pointer.text
        assert "is not a Binary of this record that you may read" in pointer.text
    absolute = doctor.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{elsewhere}"},
        "content": [{"attachment": {"contentType": "text/plain", "url": f"{base}/Binary/{record['hidden_binary']}"}}]})
    assert absolute.status_code == 422 and "is not a Binary of this record" in absolute.text  # any URL to it
    unknown = document(doctor, base, {"reference": f"Patient/{elsewhere}"}, "lab", "no-such-binary")
    assert unknown.status_code == 422 and unknown.json()["issue"][0]["diagnostics"] == pointer.json()["issue"][0][
        "diagnostics"].replace(record["hidden_binary"], "no-such-binary")  # unknown or another's: same answer
    assert doctor.get(f"{base}/Binary/{record['hidden_binary']}", headers=RAW).status_code == 404
    # Even a pointer stored before these checks (written here below the API, as an older server could have)
    # shows nothing: only the documents of the Binary's own record count.
    store = ResourceStore(db)
    legacy = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{elsewhere}"},
              "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{record['hidden_binary']}"}}]}
    store.write("DocumentReference", f"legacy-{elsewhere}", legacy, 0, "POST", None,
                {**index_fields("DocumentReference", legacy), RECORD: f"Patient/{elsewhere}", WRITER: doctor.rpps})
    assert doctor.get(f"{base}/DocumentReference/legacy-{elsewhere}").status_code == 200
    assert doctor.get(f"{base}/Binary/{record['hidden_binary']}", headers=RAW).status_code == 404
    # A securityContext naming a document one may not read is refused as one naming nothing.
    refused = doctor.post(f"{base}/Binary", data=b"x", headers={
        "Content-Type": "text/plain", "X-Security-Context": f"DocumentReference/{record['hidden']}"})
    assert refused.status_code == 422 and "not a DocumentReference you may read" in refused.text


def reference_forms(base: str, patient_id: str, ins: str) -> dict[str, dict]:
    """Every form naming the patient a DocumentReference may use (elements to add to the document)."""
    return {
        "absolute": {"subject": {"reference": f"{base}/Patient/{patient_id}"}},
        "versioned": {"subject": {"reference": f"Patient/{patient_id}/_history/1"}},
        "identifier": {"subject": {"identifier": {"system": INS, "value": ins}}},
        "typed identifier": {"subject": {"type": "Patient", "identifier": {"system": INS, "value": ins}}},
        "contained": {"contained": [{"resourceType": "Patient", "id": "p",
                                     "identifier": [{"system": INS, "value": ins}]}],
                      "subject": {"reference": "#p"}},
        "author": {"author": [{"reference": f"Patient/{patient_id}"}]},
        "source patient": {"context": {"sourcePatientInfo": {"reference": f"Patient/{patient_id}"}}},
    }


def test_every_reference_form_keeps_a_document_in_its_record(base, callers, record):
    writer, blocked, doctor = callers["writer"], callers["blocked"], callers["doctor"]
    made = {}
    for form, elements in reference_forms(base, record["patient"], record["ins"]).items():
        created = document(writer, base, elements.get("subject"), "lab",
                           **{k: v for k, v in elements.items() if k != "subject"})
        assert created.status_code == 201, f"{form}: {created.text}"
        made[form] = created.json()["id"]
    mine = record["owner"].get(f"{base}/DocumentReference", params={"patient": record["patient"], "_count": 100})
    listed = {e["resource"]["id"] for e in mine.json().get("entry", [])}
    for form, document_id in made.items():
        assert document_id in listed, f"{form}: the patient's own search misses it"
        assert blocked.get(f"{base}/DocumentReference/{document_id}").status_code == 404, form
        assert doctor.get(f"{base}/DocumentReference/{document_id}").status_code == 200, form
    for params in ({"_id": ",".join(made.values())}, {"type": "11502-2", "_count": 200}):
        found = blocked.get(f"{base}/DocumentReference", params=params).json()
        assert not set(made.values()) & {e["resource"]["id"] for e in found.get("entry", [])}
    # A List whose source is the patient is in the record too.
    listing = writer.post(f"{base}/List", headers=HEADERS, json={
        "resourceType": "List", "status": "current", "mode": "working",
        "source": {"reference": f"Patient/{record['patient']}"}})
    assert listing.status_code == 201, listing.text
    assert blocked.get(f"{base}/List/{listing.json()['id']}").status_code == 404
    assert doctor.get(f"{base}/List/{listing.json()['id']}").status_code == 200


def test_a_patient_the_server_cannot_resolve_is_refused_naming_the_element(base, vendor_session, database,
                                                                            owners_app, callers, record):
    writer = callers["writer"]
    other, _, _ = new_record(vendor_session, base, database, owners_app)
    refused = {
        "another server's Patient": ({"reference": "https://elsewhere.example/fhir/Patient/1"}, "DocumentReference.subject"),
        "unknown id": ({"reference": "Patient/no-such-patient"}, "DocumentReference.subject"),
        "unknown INS": ({"identifier": {"system": INS, "value": "1999999999999"}}, "DocumentReference.subject"),
        "typed, nothing to resolve": ({"type": "Patient", "display": "Jeanne"}, "DocumentReference.subject"),
        "contained, unknown": ({"reference": "#p"}, "DocumentReference.subject"),
    }
    for case, (subject, element) in refused.items():
        extra = {"contained": [{"resourceType": "Patient", "id": "p", "identifier": [
            {"system": INS, "value": "1888888888888"}]}]} if case.startswith("contained") else {}
        answer = document(writer, base, subject, **extra)
        assert answer.status_code == 422 and element in answer.text, f"{case}: {answer.text}"
    two = document(writer, base, {"reference": f"Patient/{record['patient']}"},
                   author=[{"reference": f"Patient/{other}"}])
    assert two.status_code == 422 and "belongs to one patient's record" in two.text


def test_orphan_binaries_are_their_writers_and_owners_only(base, callers, record):
    writer, doctor, owner = callers["writer"], callers["doctor"], record["owner"]
    early = binary(writer, base, b"posted before its document")
    assert doctor.get(f"{base}/Binary/{early}", headers=RAW).status_code == 404
    assert writer.get(f"{base}/Binary/{early}", headers=RAW).content == b"posted before its document"
    content = binary(writer, base, b"deleted later")
    created = document(writer, base, {"reference": f"Patient/{record['patient']}"}, "lab", content)
    assert doctor.get(f"{base}/Binary/{content}", headers=RAW).status_code == 200
    assert owner.delete(f"{base}/DocumentReference/{created.json()['id']}").status_code == 200
    assert doctor.get(f"{base}/Binary/{content}", headers=RAW).status_code == 404
    assert owner.get(f"{base}/Binary/{content}", headers=RAW).content == b"deleted later"
    assert writer.get(f"{base}/Binary/{content}", headers=RAW).status_code == 200
    # Pointed at by an absolute URL to this server, it joins the record too (its owner reads it).
    by_url = binary(writer, base, b"pointed at by URL")
    assert owner.get(f"{base}/Binary/{by_url}", headers=RAW).status_code == 404
    assert writer.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{record['patient']}"},
        "content": [{"attachment": {"contentType": "text/plain", "url": f"{base}/Binary/{by_url}"}}]}).status_code == 201
    assert owner.get(f"{base}/Binary/{by_url}", headers=RAW).content == b"pointed at by URL"


@pytest.mark.parametrize("left_by", ["deletion", "update"])
def test_a_binary_left_by_a_document_kept_from_the_patient_stays_kept_from_them(base, callers, record, left_by):
    writer, owner = callers["writer"], record["owner"]
    content = binary(writer, base, b"announced in person first")
    created = document(writer, base, {"reference": f"Patient/{record['patient']}"}, "lab", content,
                       label="INVISIBLE_PATIENT")
    assert created.status_code == 201, created.text
    assert owner.get(f"{base}/Binary/{content}", headers=RAW).status_code == 404
    if left_by == "deletion":
        assert writer.delete(f"{base}/DocumentReference/{created.json()['id']}").status_code == 200
    else:  # the document now points at another Binary
        changed = {**created.json(), "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
        assert writer.put(f"{base}/DocumentReference/{changed['id']}", json=changed,
                          headers=HEADERS).status_code == 200
    assert owner.get(f"{base}/Binary/{content}", headers=RAW).status_code == 404
    assert writer.get(f"{base}/Binary/{content}", headers=RAW).content == b"announced in person first"


def test_a_binary_stays_in_the_record_it_was_first_written_in(base, vendor_session, database, owners_app,
                                                               callers, record):
    writer = callers["writer"]
    elsewhere, _, _ = new_record(vendor_session, base, database, owners_app)
    content = binary(writer, base, b"report", f"Patient/{record['patient']}")
    moved = writer.put(f"{base}/Binary/{content}", headers=HEADERS, json={
        "resourceType": "Binary", "id": content, "contentType": "text/plain", "data": "cmVwb3J0",
        "securityContext": {"reference": f"Patient/{elsewhere}"}})
    assert moved.status_code == 422 and "stays in the record it was first written in" in moved.text
    kept = writer.put(f"{base}/Binary/{content}", headers=HEADERS, json={
        "resourceType": "Binary", "id": content, "contentType": "text/plain", "data": "cmVwb3J0Mg=="})
    assert kept.status_code == 200  # an update naming no context keeps its record
    assert record["owner"].get(f"{base}/Binary/{content}", headers=RAW).content == b"report2"


def count(session: requests.Session, base: str, resource_type: str, params: dict) -> int:
    answer = session.get(f"{base}/{resource_type}", params={**params, "_summary": "count"})
    assert answer.status_code == 200, answer.text
    return answer.json()["total"]


def test_inner_searches_run_under_the_callers_rules(base, callers, record):
    doctor, writer = callers["doctor"], callers["writer"]
    patient = record["patient"]
    probes = [{"_has:DocumentReference:subject:security-label": f"{VISIBILITY}|MASQUE_PS"},
              {"_has:DocumentReference:subject:identifier": f"urn:test|secret-{patient}"},
              {"_has:DocumentReference:subject:description": "Sérologie"},
              {"_has:DocumentReference:subject:type": "11488-4"}]
    for probe in probes:
        assert count(writer, base, "Patient", {"_id": patient, **probe}) == 1, probe  # its writer sees it
        assert count(doctor, base, "Patient", {"_id": patient, **probe}) == 0, probe
    assert count(doctor, base, "Patient", {"_id": patient, "_has:DocumentReference:subject:type": "11502-2"}) == 1
    chained = {"subject:Patient.identifier": f"{INS}|{record['ins']}", "identifier": f"urn:test|secret-{patient}"}
    assert count(writer, base, "DocumentReference", chained) == 1 and count(doctor, base, "DocumentReference",
                                                                             chained) == 0
    assert count(callers["blocked"], base, "DocumentReference", {"patient.identifier": f"{INS}|{record['ins']}"}) == 0


def same_answer(first: requests.Response, second: requests.Response, hidden: str, unknown: str) -> None:
    """Two answers alike but for the id they name: status, body and the headers a client reads."""
    assert first.status_code == second.status_code, (first.text, second.text)
    assert first.text.replace(hidden, unknown) == second.text
    for header in ("ETag", "Location", "Last-Modified", "Content-Location"):
        assert (header in first.headers) == (header in second.headers), header


def test_errors_say_nothing_of_what_one_may_not_see(base, callers, record):
    doctor, hidden = callers["doctor"], record["hidden"]
    unknown = "no-such-document"
    for method, url, kwargs in (
            ("get", "DocumentReference/{}", {}),
            ("get", "DocumentReference/{}/_history/1", {}),
            ("get", "DocumentReference/{}/_history/7", {}),
            ("get", "DocumentReference/{}/_history", {}),
            ("delete", "DocumentReference/{}", {}),
            ("patch", "DocumentReference/{}", {"json": [{"op": "replace", "path": "/status", "value": "superseded"}],
                                               "headers": PATCH}),
    ):
        answers = [getattr(doctor, method)(f"{base}/{url.format(i)}", **kwargs) for i in (hidden, unknown)]
        same_answer(*answers, hidden, unknown)
    stale = {"resourceType": "DocumentReference", "status": "current", "content": [
        {"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
    answers = [doctor.put(f"{base}/DocumentReference/{i}", json={**stale, "id": i},
                          headers={**HEADERS, "If-Match": 'W/"1"'}) for i in (hidden, unknown)]
    assert answers[0].status_code == 404 and '"2"' not in answers[0].text  # its version is not told
    assert answers[1].status_code == 412
    assert record["owner"].get(f"{base}/DocumentReference/{hidden}").json()["status"] == "current"
    # A conditional create matching it matches nothing: the caller's own document is created.
    mine = {**stale, "subject": {"reference": f"Patient/{record['patient']}"}}
    matched = doctor.post(f"{base}/DocumentReference", json=mine, headers={
        **HEADERS, "If-None-Exist": f"identifier=urn:test|secret-{record['patient']}"})
    assert matched.status_code == 201 and matched.json()["id"] != hidden
    # A Patient whose record the caller may not reach is neither shown nor created twice.
    refusals_before = refusals(record["owner"], base, record["patient"], callers["blocked"].rpps)
    blocked = callers["blocked"].post(f"{base}/Patient", json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": record["ins"]}]},
        headers={**HEADERS, "If-None-Exist": f"identifier={INS}|{record['ins']}"})
    assert blocked.status_code == 403 and record["patient"] not in blocked.text
    in_transaction = callers["blocked"].post(base, headers=HEADERS, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "Patient", "identifier": [{"system": INS, "value": record["ins"]}]},
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={INS}|{record['ins']}"}}]})
    assert in_transaction.status_code == 403 and record["patient"] not in in_transaction.text
    # A conditional update by INS (HL7 v2 A08 and A31 send one) matching only that Patient neither: it
    # created a second Patient, splitting the person's record.
    same_person = {"resourceType": "Patient", "identifier": [{"system": INS, "value": record["ins"]}]}
    updated = callers["blocked"].put(f"{base}/Patient", params={"identifier": f"{INS}|{record['ins']}"},
                                     json=same_person, headers=HEADERS)
    assert updated.status_code == 403 and record["patient"] not in updated.text, updated.text
    in_transaction = callers["blocked"].post(base, headers=HEADERS, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": same_person,
            "request": {"method": "PUT", "url": f"Patient?identifier={INS}|{record['ins']}"}}]})
    assert in_transaction.status_code == 403 and record["patient"] not in in_transaction.text
    assert count(callers["writer"], base, "Patient", {"identifier": f"{INS}|{record['ins']}"}) == 1
    # Each attempt is in the patient's activity history, as a refusal.
    refused = refusals(record["owner"], base, record["patient"], callers["blocked"].rpps)
    new = sorted(code for event_id, code in refused.items() if event_id not in refusals_before)
    assert new == ["create", "transaction", "transaction", "update"], new


def refusals(owner: requests.Session, base: str, patient_id: str, rpps: str) -> dict[str, str]:
    """The refusals (outcome 4, minor failure) of the professional `rpps` in the patient's activity history,
    as the patient reads it: event id -> interaction."""
    trail = owner.get(f"{base}/AuditEvent", params={"patient": patient_id, "_count": 500}).json()
    return {e["resource"]["id"]: e["resource"]["subtype"][0]["code"] for e in trail.get("entry", [])
            if e["resource"]["outcome"] == "4" and rpps in str(e["resource"]["agent"])}


def test_replacing_a_document_one_may_not_see_answers_as_replacing_none(base, callers, record):
    """An MHD Provide Document Bundle whose document `replaces` a document hidden from the caller gets the
    answer one replacing an unknown document gets, and the hidden document stays current."""
    doctor, hidden, unknown = callers["doctor"], record["hidden"], "no-such-document"
    answers = [doctor.post(base, headers=HEADERS, json=provide_bundle(record["ins"], replaces=f"DocumentReference/{i}"))
               for i in (hidden, unknown)]
    assert answers[0].status_code == answers[1].status_code == 422, answers[0].text
    issues = [[i["diagnostics"] for i in a.json()["issue"]] for a in answers]
    assert [d.replace(hidden, unknown) for d in issues[0]] == issues[1]
    assert record["owner"].get(f"{base}/DocumentReference/{hidden}").json()["status"] == "current"


def test_kept_pages_are_their_callers_only(base, callers, record):
    writer, doctor = callers["writer"], callers["doctor"]
    first = writer.get(f"{base}/DocumentReference", params={"patient": record["patient"], "_count": 1}).json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert writer.get(following).status_code == 200
    stolen = doctor.get(following)
    assert stolen.status_code == 410 and "unknown or has expired" in stolen.text
    everything = writer.get(f"{base}/Patient/{record['patient']}/$everything", params={"_count": 1}).json()
    page = next(link["url"] for link in everything["link"] if link["relation"] == "next")
    assert doctor.get(page).status_code == 410


def test_odd_ids_are_answered_and_audited(base, callers, db):
    doctor = callers["doctor"]
    for odd in ("x:y", '{"$gt":""}'):
        before = db["AuditEvent"].count_documents({})
        answer = doctor.get(f"{base}/Patient", params={"_id": odd})
        assert answer.status_code == 200 and answer.json()["total"] == 0
        assert db["AuditEvent"].count_documents({}) > before


def test_xml_and_json_agree(base, callers, record):
    """The same rules in either format (a reader through XML learns no more)."""
    answer = callers["doctor"].get(f"{base}/DocumentReference/{record['hidden']}",
                                   headers={"Accept": "application/fhir+xml"})
    assert answer.status_code == 404
    assert callers["doctor"].get(f"{base}/DocumentReference/{record['shown']}", headers={
        "Accept": JSON}).status_code == 200


def test_type_history_spans_records_only_where_the_rules_allow(base, callers, record):
    """A type's whole history: the resources of no record (Practitioners...) for professionals; Patients but
    those whose record is not open to them; never the types of records' content."""
    blocked = callers["blocked"]
    assert blocked.get(f"{base}/Practitioner/_history", params={"_count": 1}).status_code == 200
    for resource_type in ("DocumentReference", "List", "Binary"):
        assert blocked.get(f"{base}/{resource_type}/_history").status_code == 403
    since = callers["writer"].get(f"{base}/Patient/{record['patient']}/_history").json()["entry"][-1]["response"][
        "lastModified"]  # its first version: the history since then is short whatever the database holds
    for session, listed in ((callers["writer"], True), (blocked, False)):
        patients = session.get(f"{base}/Patient/_history", params={"_since": since, "_count": 1000}).json()
        assert (record["patient"] in {e["fullUrl"].rsplit("/", 1)[-1] for e in patients["entry"]}) is listed
    assert callers["writer"].get(f"{base}/Patient/{record['patient']}/_history").status_code == 200


@pytest.mark.parametrize("binary_first", [True, False])
def test_a_transactions_binary_joins_its_documents_record_in_any_order(base, callers, record, binary_first):
    """A Binary and its document in one transaction (as MHD and HL7 v2 pushes send them), the Binary naming
    the document as its securityContext, in either order: both land in the patient's record."""
    binary = {"fullUrl": "urn:uuid:0c1d2e3f-0000-4000-8000-000000000001", "request": {"method": "POST", "url": "Binary"},
              "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "cmVwb3J0",
                           "securityContext": {"reference": "urn:uuid:0c1d2e3f-0000-4000-8000-000000000002"}}}
    document = {"fullUrl": "urn:uuid:0c1d2e3f-0000-4000-8000-000000000002",
                "request": {"method": "POST", "url": "DocumentReference"},
                "resource": {"resourceType": "DocumentReference", "status": "current",
                             "subject": {"reference": f"Patient/{record['patient']}"},
                             "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
                             "content": [{"attachment": {"contentType": "text/plain",
                                                         "url": "urn:uuid:0c1d2e3f-0000-4000-8000-000000000001"}}]}}
    entries = [binary, document] if binary_first else [document, binary]
    answer = callers["writer"].post(base, json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                                    headers=HEADERS)
    assert answer.status_code == 200, answer.text
    locations = [e["response"]["location"].rsplit("/_history", 1)[0] for e in answer.json()["entry"]]
    binary_url = next(url for url in locations if url.startswith("Binary/"))
    assert callers["doctor"].get(f"{base}/{binary_url}", headers=RAW).content == b"report"
    assert callers["blocked"].get(f"{base}/{binary_url}", headers=RAW).status_code == 404


def test_a_unique_id_held_by_a_document_one_may_not_see_is_taken_as_unused(base, callers, record):
    """A Provide Document Bundle reusing the unique id (masterIdentifier) of a document hidden from the caller
    is answered as one with an id never used: it is stored. The writer of the hidden document, who sees it,
    is still refused the id (XDSDuplicateUniqueIdInRegistry)."""
    writer, doctor = callers["writer"], callers["doctor"]
    hidden = provide_bundle(record["ins"])
    hidden["entry"][1]["resource"]["securityLabel"].append({"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]})
    assert writer.post(base, headers=HEADERS, json=hidden).status_code == 200
    unique = hidden["entry"][1]["resource"]["masterIdentifier"]["value"]

    def reusing(session, value: str):
        bundle = provide_bundle(record["ins"])
        bundle["entry"][1]["resource"]["masterIdentifier"]["value"] = value
        return session.post(base, headers=HEADERS, json=bundle)
    fresh, reused = reusing(doctor, f"{unique}.9"), reusing(doctor, unique)
    assert fresh.status_code == reused.status_code == 200, reused.text
    refused = reusing(writer, unique)
    assert refused.status_code == 422 and "XDSDuplicateUniqueIdInRegistry" in refused.text, refused.text
