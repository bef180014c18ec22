"""`fhir-server import` of exports written elsewhere (Synthea-like FHIR Bundles, bulk-data NDJSON): whatever the
order of files and lines, references within the input resolve; a reference to what neither the server nor the
input holds is kept as a logical reference, with a warning; entries of types not stored are left out, with a
warning; an export loaded again copies nothing; progress counts resources; rejections are grouped."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from fhir_server.service.records import RecordLifecycle
from fhir_server.storage.resources import ResourceStore

from ..access.test_record_rules import cli
from ..api.client import HEADERS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SYNTHEA = "https://github.com/synthetichealth/synthea"
NPI = "http://hl7.org/fhir/sid/us-npi"
ANNA, BRUNO = "7f1c2a64-0b3e-4c55-8d1a-3e9b7a2c5d10", "b2e4c6a8-1f3d-4e5a-9b7c-2d4f6a8c0e12"
CARLA, NURSE = "c3f5a7b9-2a4c-4e6a-8c0e-3f5b7d9f1a23", "0b4c6d8e-0f2a-4b6c-8d0e-2f4a6b8c0d02"
CHLOE = "d4a6c8e0-3b5d-4f7a-9c1e-4a6c8e0b2d34"


def documents_of(http, base, identifier: str) -> list[dict]:
    bundle = http.get(f"{base}/DocumentReference", params={"patient.identifier": identifier}).json()
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def one(http, base, kind: str, identifier: str) -> dict:
    found = http.get(f"{base}/{kind}", params={"identifier": identifier}).json()
    assert found["total"] == 1, found
    return found["entry"][0]["resource"]


def test_a_synthea_export_is_imported_whatever_the_file_order(tmp_path, http, base, database):
    shutil.copytree(FIXTURES / "synthea", tmp_path / "fhir")  # patients sort before their practitioners
    done = cli(database, "import", str(tmp_path / "fhir"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "imported: 4, duplicates: 0, rejected: 0", done.stdout

    practitioner = one(http, base, "Practitioner", f"{NPI}|9999990011")
    organization = one(http, base, "Organization", f"{SYNTHEA}|5c2e3b5a-1d7e-3f0a-9b55-2a8e1c4d6f01")
    annas = documents_of(http, base, f"{SYNTHEA}|{ANNA}")
    assert len(annas) == 2 and all(
        d["author"][0]["reference"] == f"Practitioner/{practitioner['id']}"
        and d["custodian"]["reference"] == f"Organization/{organization['id']}" for d in annas), annas

    [brunos] = documents_of(http, base, f"{SYNTHEA}|{BRUNO}")  # its author is nowhere: kept by identifier
    assert brunos["author"] == [{"type": "Practitioner", "identifier": {"system": NPI, "value": "9999999999"},
                                 "display": "Dr. Paul Nowhere"}], brunos["author"]
    assert brunos["custodian"]["reference"] == f"Organization/{organization['id']}"
    bruno_file = tmp_path / "fhir" / "Bruno_Petit_b2e4c6a8-1f3d-4e5a-9b7c-2d4f6a8c0e12.json"
    assert (f"warning {bruno_file}: entry[1] DocumentReference.author[0]: Practitioner?identifier={NPI}|9999999999 "
            f"is neither stored nor in the input: kept as a logical reference (identifier)") in done.stdout.splitlines()
    assert sum(line.startswith("warning ") for line in done.stdout.splitlines()) == 1, done.stdout

    assert "7/7 resources" in done.stderr, done.stderr  # 3 + 2 in the patients' Bundles, 1 + 1 beside them


def test_bulk_ndjson_is_imported_with_documents_before_their_patients(tmp_path, http, base, database):
    shutil.copytree(FIXTURES / "bulk", tmp_path / "bulk")  # DocumentReference.ndjson sorts first
    encounters = tmp_path / "bulk" / "Encounter.ndjson"  # a type not stored: left out whole
    encounters.write_text("\n".join(json.dumps({
        "resourceType": "Encounter", "id": str(uuid.uuid4()), "status": "finished",
        "subject": {"reference": f"Patient/{CARLA}"}}) for _ in range(2)))
    done = cli(database, "import", str(tmp_path / "bulk"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["imported: 4, duplicates: 0, rejected: 0", f"warning {encounters}: 2 Encounter "
                                        "left out: this server does not store these types"], done.stdout
    stored = documents_of(http, base, f"{SYNTHEA}|{CARLA}")
    assert sorted(d["subject"]["reference"] for d in stored) == [f"Patient/{CARLA}"] * 2
    assert {d["author"][0]["reference"] for d in stored} == {f"Practitioner/{NURSE}"}
    assert "4/4 resources" in done.stderr

    again = cli(database, "import", str(tmp_path / "bulk"))  # written by id: the same resources, no copies
    assert again.returncode == 0 and len(documents_of(http, base, f"{SYNTHEA}|{CARLA}")) == 2, again.stdout


def test_rejections_are_grouped_by_reason(tmp_path, http, base, database, db):
    opposed = str(uuid.uuid4())
    assert cli(database, "records", "oppose", f"{SYNTHEA}|{opposed}").returncode == 0
    (tmp_path / "opposed.json").write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{opposed}", "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "identifier": [{"system": SYNTHEA, "value": opposed}]}}]}))
    (tmp_path / "practitioners.ndjson").write_text("\n".join(json.dumps(p) for p in [
        {"resourceType": "Practitioner", "gender": "robot"},
        {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": str(uuid.uuid4().int % 10**10)}]},
        {"resourceType": "Practitioner", "active": "yes"}]) + "\n")
    closed = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=HEADERS).json()["id"]
    RecordLifecycle(ResourceStore(db)).close(closed)
    (tmp_path / "closed.json").write_text(json.dumps({
        "resourceType": "DocumentReference", "id": str(uuid.uuid4()), "status": "current",
        "subject": {"reference": f"Patient/{closed}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}))
    done = cli(database, "import", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["imported: 1, duplicates: 0, rejected: 4",
                         "4 rejected: validation (2), record closed (1), patient opposed (1)"], lines
    rejected = sorted(lines[2:6])
    assert rejected[0].startswith(f"rejected [patient opposed] {tmp_path / 'opposed.json'}: ")
    assert "opposed the creation of their shared health record" in rejected[0]
    assert rejected[1].startswith(f"rejected [record closed] {tmp_path / 'closed.json'}: ")
    assert rejected[2].startswith(f"rejected [validation] {tmp_path / 'practitioners.ndjson'}:1: ")
    assert rejected[3].startswith(f"rejected [validation] {tmp_path / 'practitioners.ndjson'}:3: ")
    assert http.get(f"{base}/DocumentReference", params={"patient": closed}).json()["total"] == 0


def test_files_naming_each_other_are_imported_whole(tmp_path, http, base, database):
    patient, practitioner, npi = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4().int % 10**10)

    def document(author: str) -> dict:
        return {"resourceType": "DocumentReference", "id": str(uuid.uuid4()), "status": "current",
                "subject": {"reference": f"Patient/{patient}"}, "author": [{"reference": author}],
                "content": [{"attachment": {"contentType": "text/plain", "data": "Q1I="}}]}
    (tmp_path / "a.ndjson").write_text("\n".join(json.dumps(r) for r in [  # names b's practitioner
        {"resourceType": "Patient", "id": patient, "identifier": [{"system": SYNTHEA, "value": patient}]},
        document(f"Practitioner?identifier={NPI}|{npi}")]))
    (tmp_path / "b.ndjson").write_text("\n".join(json.dumps(r) for r in [  # names a's patient
        {"resourceType": "Practitioner", "id": practitioner, "identifier": [{"system": NPI, "value": npi}]},
        document(f"Practitioner/{practitioner}")]))
    done = cli(database, "import", str(tmp_path))
    assert done.returncode == 0 and done.stdout == "imported: 4, duplicates: 0, rejected: 0\n", done.stdout
    stored = documents_of(http, base, f"{SYNTHEA}|{patient}")
    assert [d["author"] for d in stored] == [[{"reference": f"Practitioner/{practitioner}"}]] * 2, stored


def test_a_synthea_patient_bundle_is_imported_without_the_types_not_stored_and_only_once(tmp_path, http, base,
                                                                                         database):
    shutil.copytree(FIXTURES / "synthea_patient", tmp_path / "fhir")  # Encounter, Observation, Claim beside them
    done = cli(database, "import", str(tmp_path / "fhir"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "imported: 2, duplicates: 0, rejected: 0", done.stdout
    chloe = tmp_path / "fhir" / f"Chloe_Roux_{CHLOE}.json"
    encounter, observation = "e5b7d9f1-4c6e-4a8b-8d2f-5b7d9f1c3e45", "f6c8e0a2-5d7f-4b9c-9e3a-6c8e0a2d4f56"
    organization = f"{SYNTHEA}|9a1b2c3d-0000-4000-8000-00000000f00d"
    assert sorted(line for line in lines if line.startswith("warning ")) == sorted([
        f"warning {chloe}: 2 Observation, 1 Encounter, 1 Claim left out: this server does not store these types",
        f"warning {chloe}: entry[5] DocumentReference.context.encounter[0]: urn:uuid:{encounter} (Encounter): "
        f"this server does not store that type: kept as a logical reference (identifier)",
        f"warning {chloe}: entry[5] DocumentReference.context.related[0]: urn:uuid:{observation} (Observation): "
        f"this server does not store that type: dropped (nothing identifies it without the reference)",
        f"warning {chloe}: entry[5] DocumentReference.custodian: Organization?identifier={organization} is neither "
        f"stored nor in the input: kept as a logical reference (identifier)"]), done.stdout
    assert "3/3 resources" in done.stderr, done.stderr  # those stored: Patient, DocumentReference, Practitioner

    patient = one(http, base, "Patient", f"{SYNTHEA}|{CHLOE}")
    practitioner = one(http, base, "Practitioner", f"{NPI}|9999990077")
    [document] = documents_of(http, base, f"{SYNTHEA}|{CHLOE}")
    assert document["subject"]["reference"] == f"Patient/{patient['id']}"
    assert document["author"] == [{"reference": f"Practitioner/{practitioner['id']}", "display": "Dr. Hugo Lefèvre"}]
    assert document["context"]["encounter"] == [
        {"type": "Encounter", "identifier": {"system": SYNTHEA, "value": encounter}}], document["context"]
    assert "related" not in document["context"], document["context"]  # dropped; the rest of the context kept
    assert document["context"]["period"] == {"start": "2024-06-03T10:00:00+02:00", "end": "2024-06-03T10:30:00+02:00"}
    assert http.get(f"{base}/Encounter", params={"identifier": f"{SYNTHEA}|{encounter}"}).status_code == 404

    again = cli(database, "import", str(tmp_path / "fhir"))  # plain POSTs: made conditional on their identifier
    assert again.returncode == 0 and again.stdout.splitlines()[0] == "imported: 0, duplicates: 2, rejected: 0", \
        again.stdout
    assert one(http, base, "Patient", f"{SYNTHEA}|{CHLOE}")["id"] == patient["id"]
    assert [d["id"] for d in documents_of(http, base, f"{SYNTHEA}|{CHLOE}")] == [document["id"]]
