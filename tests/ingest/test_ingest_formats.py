"""HL7 v2 and CDA R2 pushed to `$ingest`, files loaded with `fhir-server import`, messages sent over MLLP:
each stored as one transaction under the record's rules, audited, answered in the sender's own format."""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mappers import hl7v2
from fhir_server.storage.ferretdb import free_port
from tests.conftest import REPO_ROOT

from ..access.test_record_rules import cli
from ..api.client import INS
from ..mappers.hl7v2.support import GOLDEN, SHARED_BAD, SHARED_SAMPLES

MAPPERS = Path(__file__).resolve().parent.parent / "mappers"
V2 = MAPPERS / "hl7v2" / "fixtures"
CDA = MAPPERS / "cda" / "fixtures"
HL7 = {"Content-Type": "application/hl7-v2"}


def segment(ack: str, name: str) -> list[str]:
    return next(s for s in ack.replace("\n", "\r").split("\r") if s.startswith(name)).split("|")


def documents_of(http, base, ins: str) -> list[dict]:
    bundle = http.get(f"{base}/DocumentReference", params={"patient.identifier": f"{INS}|{ins}"}).json()
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_an_hl7_v2_result_is_stored_and_acknowledged(http, base, db):
    message = (V2 / "oru_r01_numeric.hl7").read_bytes()
    answer = http.post(f"{base}/$ingest", data=message, headers=HL7)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/hl7-v2")
    assert segment(answer.text, "MSA")[1] == "AA" and segment(answer.text, "MSA")[2] == "ORU-0001"
    unused = [s.split("|") for s in answer.text.split("\r") if s.startswith("ERR")]  # what it carries, not used
    assert [(err[2], err[3].split("^")[0], err[4]) for err in unused] == [
        (where, "207", "W") for where in ("MSH^1^15^1", "MSH^1^16^1", "PV1^1^2^1", "ORC^1^2^1", "ORC^1^3^1",
                                          "OBR^1^2^1", "OBR^1^16^1", "OBX^1^14^1")]
    assert unused[-1][8] == "OBX-14 (date/time of the observation) is not used by this server: left out"
    stored = documents_of(http, base, "279035121518989")
    assert len(stored) == 1 and stored[0]["type"]["coding"][0]["code"] == "24323-8"
    binary = http.get(f"{base}/{stored[0]['content'][0]['attachment']['url']}", headers={"Accept": "*/*"})
    assert binary.status_code == 200 and "Glucose" in binary.text and "5.4" in binary.text
    again = http.post(f"{base}/$ingest", data=message, headers=HL7)  # sent twice: accepted, stored once
    assert segment(again.text, "MSA")[1] == "AA" and len(documents_of(http, base, "279035121518989")) == 1
    patient = stored[0]["subject"]["reference"].split("/")[1]
    events = [json.loads(e["json"]) for e in db["AuditEvent"].find({"r:patient": f"Patient/{patient}"})]
    assert any(c.get("code") == "ingest" for e in events for c in e.get("subtype", []))


def test_a_patient_without_ins_is_filed_under_the_senders_identifier_with_warnings(http, base):
    message = (V2 / "oru_r01_local_ids.hl7").read_bytes()
    answer = http.post(f"{base}/$ingest", data=message, headers=HL7)
    assert answer.status_code == 200 and segment(answer.text, "MSA")[1] == "AA", answer.text
    warned = [s.split("|") for s in answer.text.split("\r") if s.startswith("ERR")]
    assert [(err[2], err[3].split("^")[0], err[4]) for err in warned] == [
        ("PID^1^8^1", "103", "W"), ("PID^1^7^1", "102", "W"), ("PID^1^3^1^4", "103", "W"),
        ("OBR^1^2^1", "207", "W")]  # the placer order number, not used
    local = {"identifier": "urn:id:CITYLAB:MRN|A-55012"}
    patients = http.get(f"{base}/Patient", params=local).json()
    assert patients["total"] == 1
    patient = patients["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "DOE" and "gender" not in patient and "birthDate" not in patient
    documents = http.get(f"{base}/DocumentReference", params={"patient.identifier": local["identifier"]}).json()
    assert documents["total"] == 1 and documents["entry"][0]["resource"]["masterIdentifier"]["system"] == \
        "urn:id:CITYLAB:LIS"
    again = http.post(f"{base}/$ingest", data=message, headers=HL7)  # sent twice: stored once
    assert segment(again.text, "MSA")[1] == "AA"
    assert http.get(f"{base}/DocumentReference", params={"patient.identifier": local["identifier"]}).json()[
        "total"] == 1
    # another lab's MRN A-55012 is another patient: local identifiers of two senders never mix
    other = message.replace(b"|CITYLAB|", b"|TOWNLAB|").replace(b"CITY-0001", b"TOWN-0001")
    assert segment(http.post(f"{base}/$ingest", data=other, headers=HL7).text, "MSA")[1] == "AA"
    theirs = http.get(f"{base}/Patient", params={"identifier": "urn:id:TOWNLAB:MRN|A-55012"}).json()
    assert theirs["total"] == 1 and theirs["entry"][0]["resource"]["id"] != patient["id"]
    assert http.get(f"{base}/Patient", params=local).json()["total"] == 1


@pytest.mark.parametrize("path", SHARED_SAMPLES, ids=lambda path: path.name)
def test_each_shared_sample_is_stored_or_refused_as_its_golden_file_says(http, base, path):
    """The shared HL7 v2 samples through $ingest: every message whose golden file holds a Bundle is
    acknowledged AA and its resources are found; every refused one gets the golden file's error code."""
    golden = json.loads((GOLDEN / f"{path.stem}.json").read_text(encoding="utf-8"))
    if "error" in golden:  # the file itself is no message: sent whole, it is refused with that code
        answer = http.post(f"{base}/$ingest", data=path.read_bytes(), headers=HL7)
        assert answer.status_code == 400 and segment(answer.text, "ERR")[3].split("^")[0] == golden["error"]["code"]
        return
    for message, expected in zip(hl7v2.batch_messages(path.read_bytes()), golden["messages"]):
        answer = http.post(f"{base}/$ingest", data=message, headers=HL7)
        if "error" in expected:
            assert segment(answer.text, "MSA")[1] in ("AE", "AR")
            assert segment(answer.text, "ERR")[3].split("^")[0] == expected["error"]["code"]
            continue
        assert answer.status_code == 200 and segment(answer.text, "MSA")[1] == "AA", answer.text
        patient = expected["bundle"]["entry"][0]
        criteria = patient["request"].get("ifNoneExist") or patient["request"]["url"].partition("?")[2]
        found = http.get(f"{base}/Patient?{criteria}").json()
        assert found["total"] == 1, criteria
        names = patient["resource"].get("name", [{}])[0]
        assert found["entry"][0]["resource"].get("name", [{}])[0].get("family") == names.get("family")


@pytest.mark.parametrize("path", SHARED_BAD, ids=lambda path: path.name)
def test_inputs_that_broke_other_parsers_are_refused_in_an_ack_and_nothing_is_stored(http, base, db, path):
    before = [db[kind].count_documents({}) for kind in ("Patient", "DocumentReference", "Binary")]
    answer = http.post(f"{base}/$ingest", data=path.read_bytes(), headers=HL7)
    assert answer.status_code == 400 and segment(answer.text, "MSA")[1] in ("AE", "AR"), answer.text
    assert [db[kind].count_documents({}) for kind in ("Patient", "DocumentReference", "Binary")] == before


def test_a_broken_hl7_message_is_refused_in_an_ack_and_nothing_is_stored(http, base, db):
    before = db["DocumentReference"].count_documents({})
    broken = b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|BAD-1|P|2.5\rPID|1||\rOBR|1\rOBX|1|NM|x||notanumber"
    answer = http.post(f"{base}/$ingest", data=broken, headers=HL7)
    assert answer.status_code == 400 and segment(answer.text, "MSA")[1] in ("AE", "AR")
    assert segment(answer.text, "ERR")  # with the reason
    garbage = http.post(f"{base}/$ingest", data=b"\x00\xff not hl7", headers=HL7)
    assert garbage.status_code == 400 and segment(garbage.text, "MSA")[1] == "AR"
    assert db["DocumentReference"].count_documents({}) == before


def test_a_push_for_a_patient_who_opposed_is_refused_in_the_senders_format(http, base, database, db):
    message = (V2 / "mdm_t02_latin1.hl7").read_bytes()
    parsed = hl7v2.to_fhir(message)
    patient = next(e["resource"] for e in parsed["entry"] if e["resource"]["resourceType"] == "Patient")
    ins = next(i for i in patient["identifier"] if i["system"].startswith("urn:oid:1.2.250.1.213.1.4."))
    assert cli(database, "records", "oppose", f"{ins['system']}|{ins['value']}").returncode == 0
    before = db["DocumentReference"].count_documents({})
    answer = http.post(f"{base}/$ingest", data=message, headers=HL7)
    assert segment(answer.text, "MSA")[1] == "AE" and "opposed" in answer.text
    assert db["DocumentReference"].count_documents({}) == before


def test_a_cda_document_is_stored_unchanged(http, base, db):
    document = (CDA / "cisis_restricted_pdf.xml").read_bytes()
    answer = http.post(f"{base}/$ingest", data=document, headers={"Content-Type": "application/cda+xml"})
    assert answer.status_code == 201 and answer.json()["type"] == "transaction-response", answer.text
    nia = f"urn:oid:1.2.250.1.213.1.4.9|785047512300699"
    bundle = http.get(f"{base}/DocumentReference", params={"patient.identifier": nia}).json()
    stored = [e["resource"] for e in bundle.get("entry", [])]
    assert len(stored) == 1 and stored[0]["securityLabel"][0]["coding"][0]["code"] == "R"
    binary = http.get(f"{base}/{stored[0]['content'][0]['attachment']['url']}", headers={"Accept": "*/*"})
    assert binary.content == document
    again = http.post(f"{base}/$ingest", data=document, headers={"Content-Type": "text/xml"})  # sniffed as CDA
    assert again.status_code == 200 and http.get(f"{base}/DocumentReference", params={
        "patient.identifier": nia}).json()["total"] == 1
    before = db["DocumentReference"].count_documents({})
    replacing = http.post(f"{base}/$ingest", data=(CDA / "cisis_ldl_ses.xml").read_bytes(),
                          headers={"Content-Type": "application/cda+xml"})
    assert replacing.status_code == 422, replacing.text  # its parent is unknown: said so in the sender's terms
    assert "relatesTo[0].target: no document with identifier" in replacing.text and "stored first" in replacing.text
    not_cda = http.post(f"{base}/$ingest", data=b"<note>hello</note>", headers={"Content-Type": "application/cda+xml"})
    assert not_cda.status_code == 422 and not_cda.json()["resourceType"] == "OperationOutcome"
    assert db["DocumentReference"].count_documents({}) == before


def test_import_loads_a_folder_and_says_what_it_did(tmp_path, http, base, database):
    shutil.copy(V2 / "batch_adt.hl7", tmp_path / "admissions.hl7")
    report = (CDA / "cisis_restricted_pdf.xml").read_bytes()  # another document: its own id
    (tmp_path / "report.xml").write_bytes(report.replace(b"0F2C9E1A-5B7D-4C3E-9A8B-6D4E2F1A0B3C",
                                                         b"0F2C9E1A-5B7D-4C3E-9A8B-6D4E2F1A0B3D"))
    (tmp_path / "practitioners.ndjson").write_text("\n".join(json.dumps({
        "resourceType": "Practitioner", "id": f"imp-{n}-{os.getpid()}",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": f"8100{n}"}]}) for n in range(3)) + "\n")
    (tmp_path / "lab.hl7").write_bytes((V2 / "oru_r01_local_ids.hl7").read_bytes().replace(b"RES-2024-77", b"RES-IMP-1"))
    (tmp_path / "notes.txt").write_text("not a health document")
    (tmp_path / ".hidden.hl7").write_text("ignored")
    first = cli(database, "import", str(tmp_path))
    assert first.returncode == 1, first.stdout + first.stderr  # the text file is rejected
    summary = first.stdout.splitlines()[0]
    messages = len(hl7v2.batch_messages((V2 / "batch_adt.hl7").read_bytes()))
    assert summary == f"imported: {messages + 1 + 1 + 3}, duplicates: 0, rejected: 1"
    assert "notes.txt" in first.stdout and "[" in first.stderr  # the reason, and the progress bar
    assert f"warning {tmp_path / 'lab.hl7'}#1: PID-8 sex '1' is not in HL7 table 0001" in first.stdout
    assert http.get(f"{base}/Practitioner/imp-2-{os.getpid()}").status_code == 200
    (tmp_path / "notes.txt").unlink()
    second = cli(database, "import", str(tmp_path / "report.xml"))
    assert second.returncode == 0 and second.stdout.splitlines()[0] == "imported: 0, duplicates: 1, rejected: 0"
    assert cli(database, "import", str(tmp_path / "missing")).returncode == 2


@contextmanager
def mllp_listener(database: tuple[str, str], client_id: str) -> Iterator[int]:
    """A `fhir-server mllp` listener started for `client_id`: its port."""
    uri, name = database
    port = free_port()
    listener = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "mllp", f"--client-id={client_id}",
                                 "--port", str(port)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name})
    try:
        assert "MLLP listener" in listener.stdout.readline()
        yield port
    finally:
        listener.terminate()
        listener.wait(timeout=15)


def mllp_exchange(database: tuple[str, str], client_id: str, messages: list[bytes]) -> list[str]:
    """The ACKs a listener answers to messages sent on one connection."""
    with mllp_listener(database, client_id) as port, socket.create_connection(("127.0.0.1", port),
                                                                                timeout=60) as connection:
        stream = connection.makefile("rwb")
        for message in messages:
            stream.write(hl7v2.frame(message))
        stream.flush()
        acks = hl7v2.read_frames(stream)
        return [next(acks).decode("utf-8") for _ in messages]


def test_the_mllp_listener_acknowledges_each_message(database, db, base, vendor):
    answers = mllp_exchange(database, vendor.client_id,
                            [(V2 / fixture).read_bytes() for fixture in ("oru_r01_pdf.hl7", "adt_a04_escapes.hl7")])
    assert [segment(a, "MSA")[1] for a in answers] == ["AA", "AA"]
    assert segment(answers[0], "MSA")[2] == "ORU-PDF-42"
    document = db["DocumentReference"].find_one({"t:type": "http://loinc.org|18748-4", "t:identifier": {
        "$regex": "RX-2024-42"}})
    assert document is not None
    pdf = json.loads(db["Binary"].find_one({"_id": json.loads(document["json"])["content"][0]["attachment"][
        "url"].split("/")[1]})["json"])
    assert pdf["contentType"] == "application/pdf"


def test_broken_framing_is_answered_once_then_the_connection_closes(database, vendor):
    """Bytes outside an MLLP block: one AR naming the framing fault, then the listener hangs up."""
    with mllp_listener(database, vendor.client_id) as port, socket.create_connection(("127.0.0.1", port),
                                                                                     timeout=60) as connection:
        connection.sendall(b"MSH|^~\\&|not framed\r")
        stream = connection.makefile("rb")
        [answer] = [frame.decode("utf-8") for frame in hl7v2.read_frames(stream)]  # then end of stream
    assert segment(answer, "MSA")[1] == "AR" and "outside a block" in answer, answer


def test_a_v2_system_pulls_a_document_as_mdm_and_it_reads_back_the_same(http, base):
    # an initial transmission (the fixture's TXA-13 names a parent this server does not hold)
    message = (V2 / "mdm_t02_cda_ins.hl7").read_bytes().replace(b"|1.2.250.1.999.3.4.20240520.7|", b"||")
    assert segment(http.post(f"{base}/$ingest", data=message, headers=HL7).text, "MSA")[1] == "AA"
    mapped = hl7v2.to_fhir(message)
    sent = next(e["resource"] for e in mapped["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    master = sent["masterIdentifier"]
    found = http.get(f"{base}/DocumentReference", params={"identifier": f"{master['system']}|{master['value']}"})
    document_id = found.json()["entry"][0]["resource"]["id"]
    pulled = http.get(f"{base}/DocumentReference/{document_id}", headers={"Accept": "application/hl7-v2"})
    assert pulled.status_code == 200 and pulled.headers["Content-Type"].startswith("application/hl7-v2")
    assert segment(pulled.content.decode("utf-8"), "MSH")[8].startswith("MDM^T02")
    again = hl7v2.to_fhir(pulled.content)
    back = next(e["resource"] for e in again["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    assert back["masterIdentifier"] == master and back["type"] == sent["type"]
    content = [base64.b64decode(next(e["resource"]["data"] for e in bundle["entry"]
                                     if e["resource"]["resourceType"] == "Binary")) for bundle in (mapped, again)]
    assert content[0] == content[1]
    unknown = http.get(f"{base}/DocumentReference/no-such-document", headers={"Accept": "application/hl7-v2"})
    assert unknown.status_code == 404
