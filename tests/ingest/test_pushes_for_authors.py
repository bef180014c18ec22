"""Pushes without a professional's token (`fhir-server import`, the MLLP listener) are made for the documents'
authors: a patient who blocked the author refuses them, the patient is told of the documents, and the activity
history names the author."""
from __future__ import annotations

import json
import uuid

from fhir_server.auth.clients import ClientRegistry

from ..access.test_record_rules import cli, consent, patient_session
from ..auth.test_patients import REDIRECT, activated

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
SCOPES = "patient/*.cruds"


def mdm(ins: str, author: str, document_id: str) -> str:
    """An MDM^T02 for the patient with this INS, written by the professional with this IDNPS."""
    return "\r".join([
        r"MSH|^~\&|DPI|HOPITAL^1.2.250.1.999.7.1^ISO|DMP-FHIR|ANS|20240501100000+0200||MDM^T02^MDM_T02|"
        f"{document_id}|P|2.5",
        f"PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||NOM^PRENOM||19800412|F",
        f"TXA|1|11488-4^Compte rendu^LN|TEXT|20240501090000+0200|||||{author}^MEDECIN^ANNE^^^DR^^^"
        f"ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^^^^IDNPS|||{document_id}^^1.2.250.1.999.7.2^ISO|||||AU",
        "OBX|1|TX|11488-4^Compte rendu^LN||Consultation du 1er mai||||||F"]) + "\r"


def test_an_import_is_refused_for_a_blocked_author_and_told_to_the_patient_otherwise(
        http, base, database, db, tmp_path):
    patient_id, ins = activated(http, base, database)
    app = ClientRegistry(db).add_public("Patient app (pushes for authors)", [REDIRECT], [SCOPES]).client_id
    owner = patient_session(base, app, ins)
    blocked, trusted = (str(uuid.uuid4().int % 10**11) for _ in range(2))
    consent(owner, base, patient_id, {"actor": [
        {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                              "code": "PRCP"}]},
         "reference": {"identifier": {"system": RPPS, "value": blocked}}}]})
    (tmp_path / "blocked.hl7").write_text(mdm(ins, blocked, f"B{uuid.uuid4().int % 10**9}"))
    (tmp_path / "trusted.hl7").write_text(mdm(ins, trusted, f"T{uuid.uuid4().int % 10**9}"))

    done = cli(database, "import", str(tmp_path))
    assert done.returncode == 1 and done.stdout.splitlines()[0] == "imported: 1, duplicates: 0, rejected: 1", done.stdout
    assert "blocked.hl7#1" in done.stdout and "do not allow the author" in done.stdout

    documents = owner.get(f"{base}/DocumentReference", params={"patient": patient_id}).json()
    stored = [e["resource"] for e in documents.get("entry", []) if e["search"]["mode"] == "match"]
    assert [d["contained"][0]["identifier"][0]["value"] for d in stored] == [trusted]
    assert db["DocumentReference"].find_one({"_id": stored[0]["id"]})["x:writer"] == trusted
    told = [n["_id"] for n in db["notifications"].find({"patient": patient_id, "kind": "document-changed"})]
    assert told == [f"document-changed:{patient_id}:{stored[0]['id']}/1"]

    history = owner.get(f"{base}/AuditEvent", params={"patient": patient_id,
                                                       "agent:identifier": f"{RPPS}|{trusted}"}).json()
    events = [e["resource"] for e in history.get("entry", []) if e["search"]["mode"] == "match"]
    assert any(c.get("code") == "import" for e in events for c in e.get("subtype", [])), json.dumps(events)[:500]
