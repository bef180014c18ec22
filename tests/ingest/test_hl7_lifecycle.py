"""A document's life through HL7 v2 (ANS CI-SIS volet "transmission de documents CDA en HL7 v2"), end to end
through `$ingest` and the MLLP listener: initial transmission, replacement superseding the old version,
deletion taking the document out of everyone's view but its author's; refusals answered AE with the ANS
application error code (ERR-5); the visibility flags as labels; what is not acted on named in the ACK."""
from __future__ import annotations

import base64
import uuid

import pytest

from fhir_server.auth.backend_client import register
from fhir_server.auth.clients import ClientRegistry

from ..auth.test_patients import REDIRECT, activated
from ..mappers.hl7v2.support import fixture
from ..security.conftest import SCOPES, patient_session, professional
from .test_ingest_formats import mllp_exchange, segment

HL7 = {"Content-Type": "application/hl7-v2"}
EXAMPLE_INS = "279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO"
RADIO, BIO = "1.2.250.1.999.8.2.", "1.2.250.1.999.8.3."
RFC3986 = "urn:ietf:rfc:3986"
# the fields of the ANS-modelled fixtures this server does not use, named in the ACK (ERR of severity W)
MDM_UNUSED = ["EVN-2", "PID-18", "PID-31", "PID-32", "PV1-2", "PV1-3", "PV1-19", "OBR-4", "TXA-3", "TXA-22",
              "PRT-2", "PRT-4", "PRT-5", "PRT-8", "PRT[2]-2", "PRT[2]-4", "PRT[2]-5", "PRT[2]-15"]
ORU_UNUSED = ["PID-18", "PID-31", "PID-32", "PV1-2", "PV1-3", "PV1-19", "ORC-2", "ORC-3", "ORC-4", "ORC-9",
              "ORC-10", "OBR-2", "OBR-10", "OBR-16", "OBR-32", "PRT-2", "PRT-4", "PRT-5", "PRT-8"]


@pytest.fixture(scope="module")
def people(db, base) -> dict:
    """The professional who writes the documents and another one, each pushing with their own software."""
    return {"author": professional(db, base, "10"), "other": professional(db, base, "10")}


@pytest.fixture(scope="module")
def owners_app(db):
    return ClientRegistry(db).add_public("Patient app (HL7 v2 lifecycle)", [REDIRECT], [SCOPES])


@pytest.fixture()
def record(http, base, database, owners_app) -> dict:
    """A new patient's record, the patient signed in, and fresh document ids for the fixtures."""
    patient_id, ins = activated(http, base, database)
    n = uuid.uuid4().int % 10**9 + 1
    return {"patient": patient_id, "ins": ins, "owner": patient_session(base, owners_app.client_id, ins),
            "ids": {RADIO: f"1.2.250.1.999.8.{n}.", BIO: f"1.2.250.1.999.9.{n}."}}


def message(name: str, record: dict, *changes: tuple[str, str]) -> bytes:
    """The fixture for this record's patient, its document ids renewed (in the HL7 fields and in the CDA it
    carries) and `changes` made to its segments."""
    swaps = [*record["ids"].items(), (EXAMPLE_INS, f"{record['ins']}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"),
             *changes]
    segments = []
    for text in fixture(name).decode("utf-8").split("\r"):
        fields = text.split("|")
        if text.startswith("OBX|1|ED|"):  # the CDA (base64 has no '.', '|' nor '^' to be mistaken for an id)
            parts = fields[5].split("^")
            parts[4] = base64.b64encode(renewed(base64.b64decode(parts[4]).decode("utf-8"), swaps).encode()).decode()
            fields[5] = "^".join(parts)
        segments.append(renewed("|".join(fields), swaps))
    return "\r".join(segments).encode("utf-8")


def renewed(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def unique(record: dict, prefix: str, suffix: str) -> str:
    return f"urn:oid:{record['ids'][prefix]}{suffix}"


def push(session, base: str, data: bytes) -> tuple[str, list[list[str]]]:
    """MSA-1 and the ERR segments of the ACK."""
    answer = session.post(f"{base}/$ingest", data=data, headers=HL7)
    errs = [s.split("|") for s in answer.text.split("\r") if s.startswith("ERR")]
    return segment(answer.text, "MSA")[1], errs


def warned(errs: list[list[str]]) -> list[str]:
    """The locations the ERR segments of an AA name (`PRT[2]-5` for ERR-2 `PRT^2^5^1`), each of severity W."""
    assert all(err[4] == "W" for err in errs), errs
    named = [err[2].split("^") for err in errs]
    return [f"{name}{f'[{seq}]' if seq != '1' else ''}-{field}" for name, seq, field, *_ in named]


def found(session, base: str, record: dict, value: str) -> list[dict]:
    """The documents with this unique id the caller may see in the record."""
    bundle = session.get(f"{base}/DocumentReference", params={"patient": record["patient"],
                                                              "identifier": f"{RFC3986}|{value}"}).json()
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_a_replacement_supersedes_and_a_deletion_withdraws_for_everyone_but_the_author(base, people, record):
    author, other, owner = people["author"], people["other"], record["owner"]
    first, second = unique(record, RADIO, "71024000081"), unique(record, RADIO, "71024000082")

    status, errs = push(author, base, message("mdm_t02_cisis_flags.hl7", record))
    assert status == "AA" and warned(errs) == ["OBX[8]-3", "OBX[12]-3", *MDM_UNUSED]  # DESTMSSANTEPS, CORPSMAIL_PS
    assert "DESTMSSANTEPS" in errs[0][8] and "CORPSMAIL_PS" in errs[1][8]
    stored = found(other, base, record, first)
    assert len(stored) == 1 and stored[0]["type"]["coding"][0] == {
        "system": "http://loinc.org", "code": "18748-4", "display": "CR d'imagerie médicale"}
    assert stored[0]["contained"][0]["identifier"][0]["value"] == "801234564895"  # the CDA's author, IDNPS
    assert found(owner, base, record, first) == []  # INVISIBLE_PATIENT: the patient does not see it

    status, errs = push(author, base, message("mdm_t10_cisis_replacement.hl7", record))
    assert status == "AA" and warned(errs) == ["OBX[10]-3", *MDM_UNUSED] and "ACK_RECEPTION" in errs[0][8]
    old = found(author, base, record, first)[0]
    new = found(other, base, record, second)[0]
    assert old["status"] == "superseded" and new["status"] == "current"
    assert new["relatesTo"][0]["code"] == "replaces"
    assert new["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{old['id']}"
    assert [d["id"] for d in found(owner, base, record, second)] == [new["id"]]  # its flags are N

    deletion = message("mdm_t04_cisis_deletion.hl7", record)
    status, errs = push(other, base, deletion)  # not theirs to delete
    assert status == "AE" and errs[0][3].startswith("207^") and errs[0][5].startswith("901^")
    assert "Only the author" in errs[0][8]
    assert found(other, base, record, second)[0]["status"] == "current"

    status, errs = push(author, base, deletion)
    assert status == "AA" and warned(errs) == MDM_UNUSED
    assert found(other, base, record, second) == [] and found(owner, base, record, second) == []
    assert other.get(f"{base}/DocumentReference/{new['id']}").status_code == 404
    assert found(author, base, record, second)[0]["status"] == "entered-in-error"
    assert push(author, base, deletion) == (status, errs)  # sent again: done already


def test_a_replacement_or_deletion_of_what_is_unknown_or_not_current_is_refused_with_the_reason(
        base, people, record):
    author = people["author"]
    status, errs = push(author, base, message("mdm_t10_cisis_replacement.hl7", record))  # its parent was never sent
    assert status == "AE" and errs[0][5].startswith("906^") and "stored first" in errs[0][8]
    status, errs = push(author, base, message("mdm_t04_cisis_deletion.hl7", record))
    assert status == "AE" and errs[0][5].startswith("906^") and "nothing to withdraw" in errs[0][8]
    assert found(author, base, record, unique(record, RADIO, "71024000082")) == []

    assert push(author, base, message("mdm_t02_cisis_flags.hl7", record))[0] == "AA"
    assert push(author, base, message("mdm_t10_cisis_replacement.hl7", record))[0] == "AA"
    # replacing the first version again: it is not the latest one
    again = message("mdm_t10_cisis_replacement.hl7", record, ("71024000082", "71024000083"))
    status, errs = push(author, base, again)
    assert status == "AE" and errs[0][5].startswith("900^") and "not current" in errs[0][8]
    assert found(author, base, record, unique(record, RADIO, "71024000083")) == []


def test_an_oru_lifecycle_names_its_documents_by_the_cda_it_carries(base, people, record):
    author, other = people["author"], people["other"]
    first, second = unique(record, BIO, "12"), unique(record, BIO, "13")
    initial = message("oru_r01_cisis_replacement.hl7", record, ("ORC|RO|", "ORC|NW|"), ("||||||C|", "||||||F|"),
                      (f"{record['ids'][BIO]}13", f"{record['ids'][BIO]}12"))
    status, errs = push(author, base, initial)
    assert status == "AA" and warned(errs) == ORU_UNUSED
    assert [d["status"] for d in found(other, base, record, first)] == ["current"]

    mismatch = message("oru_r01_cisis_replacement.hl7", record, ("||||||C|", "||||||D|"))
    status, errs = push(author, base, mismatch)
    assert status == "AE" and errs[0][2] == "OBX^1^11^1" and errs[0][5].startswith("906^")
    assert "disagrees" in errs[0][8] and found(author, base, record, second) == []

    status, errs = push(author, base, message("oru_r01_cisis_replacement.hl7", record))
    assert status == "AA" and warned(errs) == ORU_UNUSED
    assert found(author, base, record, first)[0]["status"] == "superseded"
    status, errs = push(author, base, message("oru_r01_cisis_deletion.hl7", record))
    assert status == "AA" and warned(errs) == ORU_UNUSED
    assert found(other, base, record, second) == []
    assert found(author, base, record, second)[0]["status"] == "entered-in-error"


def test_the_mllp_listener_answers_a_lifecycle_as_ingest_does(database, base, vendor, record):
    """Over MLLP the push is made for the CDA's author: another author's deletion is refused (901)."""
    not_theirs = ("801234564895", "801234599999")  # the deletion's CDA names another author
    answers = mllp_exchange(database, vendor.client_id, [
        message("mdm_t02_cisis_flags.hl7", record),
        message("mdm_t04_cisis_deletion.hl7", record, ("71024000082", "71024000081"), not_theirs),
        message("mdm_t04_cisis_deletion.hl7", record, ("71024000082", "71024000081"))])
    assert [segment(a, "MSA")[1] for a in answers] == ["AA", "AE", "AA"]
    refused = segment(answers[1], "ERR")
    assert refused[3].startswith("207^") and refused[5].startswith("901^") and "Only the author" in refused[8]


def test_the_mllp_listener_never_acknowledges_what_was_refused(database, db, base, people, record):
    """A closed record refuses the push (AE with the reason); software that is no longer referenced is refused
    (AR) whatever it sends; in neither case is anything stored."""
    assert record["owner"].post(f"{base}/Patient/{record['patient']}/$close-record").status_code == 200
    software = register(db, base.removesuffix("/fhir"), "Lab software (MLLP refusals)", ["system/*.cruds"])
    [closed] = mllp_exchange(database, software.client_id, [message("mdm_t02_cisis_flags.hl7", record)])
    assert segment(closed, "MSA")[1] == "AE" and "closed" in segment(closed, "ERR")[8], closed
    assert record["owner"].post(f"{base}/Patient/{record['patient']}/$reopen-record").status_code == 200
    ClientRegistry(db).set_status(software.client_id, "suspended")
    [suspended] = mllp_exchange(database, software.client_id, [message("mdm_t02_cisis_flags.hl7", record)])
    assert segment(suspended, "MSA")[1] == "AR" and "not a referenced client" in suspended, suspended
    assert found(people["author"], base, record, unique(record, RADIO, "71024000081")) == []
