"""The patient's DMP consent collected in care (IHE PAM France ADT with ZFA), loaded by the establishment's
systems (`fhir-server import`, as the MLLP listener pushes): an opposition to feeding refuses later pushes
without erasing the record, a refusal of consultation keeps the stay's professionals out until the patient
consents, "not collected" changes nothing, and malformed statements are refused with the reason."""
from __future__ import annotations

import uuid

from ..access.test_record_rules import cli, professional
from ..api.client import INS
from ..auth.test_patients import new_patient
from .test_ingest_formats import HL7, segment
from .test_pushes_for_authors import mdm

PS = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"


def adt(ins: str, feeding: str, consultation: str, attending: str = "") -> str:
    """An ADT^A01 (modelled on the ANS PAM-FR 2.11 example) with this ZFA-9 and ZFA-11 for the patient."""
    doctor = f"{attending}^MEDECIN^ALICE^^^^^^{PS}^D^^^IDNPS" if attending else ""
    return "\r".join([
        r"MSH|^~\&|GAM|CHU-TEST^1.2.250.1.999.7.1^ISO|DPI|CHU-TEST|20250306111154||ADT^A01^ADT_A01|"
        f"Z{uuid.uuid4().hex[:12]}|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20250306111154||||20250306110000",
        f"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||NOM^PRENOM||19800412|F",
        f"PV1|1|I|^^^CHU-TEST&1.2.250.1.999.7.1&ISO^O^^|R|||{doctor}||||||||||N|{doctor}||V42",
        f"ZFA|ACTIF|20250306111154|||||||{feeding}|20250306111154|{consultation}|20250306111154"]) + "\r"


def load(database, tmp_path, message: str, name: str):
    (tmp_path / name).write_text(message)
    return cli(database, "import", str(tmp_path / name))


def push(http, base, ins: str) -> str:
    """A document pushed for the patient over `$ingest`: its ACK."""
    name = f"D{uuid.uuid4().int % 10**9}"
    return http.post(f"{base}/$ingest", data=mdm(ins, str(uuid.uuid4().int % 10**11), name), headers=HL7).text


def documents(http, base, patient_id: str) -> list[dict]:
    found = http.get(f"{base}/DocumentReference", params={"patient": patient_id}).json()
    return [e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == "match"]


def test_an_opposition_to_feeding_refuses_later_pushes_keeps_the_record_and_is_lifted(
        http, base, database, db, tmp_path):
    patient_id, ins = new_patient(http, base)
    assert segment(push(http, base, ins), "MSA")[1] == "AA"
    assert load(database, tmp_path, adt(ins, "IO", ""), "io.hl7").returncode == 0

    refused = push(http, base, ins)
    assert segment(refused, "MSA")[1] == "AE" and "opposed feeding" in refused, refused
    assert len(documents(http, base, patient_id)) == 1  # what the record held stays
    events = [e for e in db["AuditEvent"].find({"r:patient": f"Patient/{patient_id}"}) if "Consent/" in e["json"]]
    assert events, "the Consent written by the import is in the patient's activity history"

    not_collected = load(database, tmp_path, adt(ins, "NA", "NA"), "na.hl7")
    assert not_collected.returncode == 0 and "not collected: nothing changed" in not_collected.stdout
    assert segment(push(http, base, ins), "MSA")[1] == "AE"  # NA did not lift it

    assert load(database, tmp_path, adt(ins, "INO", ""), "ino.hl7").returncode == 0
    assert segment(push(http, base, ins), "MSA")[1] == "AA"
    assert len(documents(http, base, patient_id)) == 2


def test_a_refusal_of_consultation_keeps_the_stays_doctor_out_until_the_patient_consents(
        http, base, database, db, tmp_path):
    patient_id, ins = new_patient(http, base)
    doctor, colleague = professional(db, base, "10"), professional(db, base, "10")
    assert segment(push(http, base, ins), "MSA")[1] == "AA"
    assert load(database, tmp_path, adt(ins, "", "INC", doctor.rpps), "inc.hl7").returncode == 0

    assert doctor.get(f"{base}/Patient/{patient_id}").status_code == 404
    assert documents(doctor, base, patient_id) == []
    assert doctor.get(f"{base}/DocumentReference", params={"patient.identifier": f"{INS}|{ins}"}).json().get(
        "total", 0) == 0
    assert len(documents(colleague, base, patient_id)) == 1  # only the stay's professionals are refused
    written = load(database, tmp_path, mdm(ins, doctor.rpps, f"W{uuid.uuid4().int % 10**9}"), "written.hl7")
    assert written.returncode == 0, written.stdout  # refused consultation, not feeding: their report is filed

    assert load(database, tmp_path, adt(ins, "", "IC", doctor.rpps), "ic.hl7").returncode == 0
    assert doctor.get(f"{base}/Patient/{patient_id}").status_code == 200
    assert len(documents(doctor, base, patient_id)) == 2


def test_a_malformed_statement_is_refused_with_the_reason_and_changes_nothing(http, base, database, db, tmp_path):
    _, ins = new_patient(http, base)
    before = db["Consent"].count_documents({})
    answer = http.post(f"{base}/$ingest", data=adt(ins, "OUI", "IC"), headers=HL7)
    assert segment(answer.text, "MSA")[1] == "AE" and segment(answer.text, "ERR")[2] == "ZFA^1^9^1"
    assert "'OUI' is not in IHE PAM France table ZFA-9" in answer.text
    refusal = load(database, tmp_path, adt(ins, "INO", "INC"), "nobody.hl7")  # a refusal naming no professional
    assert refusal.returncode == 1 and "the refusal cannot be applied" in refusal.stdout
    assert db["Consent"].count_documents({}) == before


def test_a_professionals_token_does_not_set_the_patients_rules(http, base, db):
    """`$ingest` runs under the caller's token: a professional's software may not write a patient's Consents,
    so a collected statement is refused there (AE, saying why) rather than answered AA unapplied."""
    patient_id, ins = new_patient(http, base)
    before = db["Consent"].count_documents({})
    for feeding in ("IO", "INO"):
        answer = http.post(f"{base}/$ingest", data=adt(ins, feeding, ""), headers=HL7).text
        assert segment(answer, "MSA")[1] == "AE" and "Consent" in segment(answer, "ERR")[8], answer
    assert db["Consent"].count_documents({}) == before
    assert segment(push(http, base, ins), "MSA")[1] == "AA"
    assert len(documents(http, base, patient_id)) == 1
