"""What to_fhir maps: Patient (conditional create or update), DocumentReference and Binary; refusals by code."""
from __future__ import annotations

import base64
import hashlib

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import to_fhir

from .support import SHARED, fixture

INS = "urn:oid:1.2.250.1.213.1.4.8"
MSH = r"MSH|^~\&|APP|FAC|DMP|ANS|20240101120000+0100||{type}|C1|P|2.5"
PID = "PID|1||42^^^H&1.2.250.1.999.9&ISO^PI||NOM^PRENOM||20000101|M"
PID_INS = PID.replace("^PI|", "^PI~279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS|")
TXA = "TXA|1|11488-4^CR^LN|TEXT|20240101100000|||||||||||||AU"
OBX_TEXT = "OBX|1|TX|11488-4^CR^LN||Bonjour||||||F"


ANONYMOUS = "MSH|^~\\&||||DMP|20240101120000+0100||ADT^A04|C1|P|2.5\r{pid}\r"  # no sending facility


def resources(data: bytes | str) -> dict[str, dict]:
    """The resources of the Bundle by type (the first of each)."""
    bundle = to_fhir(data)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in reversed(bundle["entry"])}


def message(kind: str, *segments: str) -> str:
    return "\r".join([MSH.format(type=kind), *segments]) + "\r"


def refusal(data: bytes | str) -> tuple[str, str | None]:
    with pytest.raises(MappingError) as caught:
        to_fhir(data)
    return caught.value.code, caught.value.location


def test_patient_is_a_conditional_create_on_the_ins() -> None:
    entry = to_fhir(fixture("oru_r01_numeric.hl7"))["entry"][0]
    assert entry["fullUrl"].startswith("urn:uuid:")
    assert entry["request"] == {"method": "POST", "url": "Patient",
                                "ifNoneExist": f"identifier={INS}|279035121518989"}
    patient = entry["resource"]
    assert patient["identifier"][1] == {
        "use": "official", "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                                "code": "INS-NIR"}]},
        "system": INS, "value": "279035121518989", "assigner": {"display": "ASIP-SANTE-INS-NIR"}}
    assert patient["identifier"][0]["type"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                             "code": "PI"}
    assert patient["name"] == [{"use": "official", "family": "MARTIN", "given": ["JEANNE", "MARIE", "LOUISE"],
                                "prefix": ["MME"]}]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1979-03-15")
    assert patient["telecom"] == [{"system": "phone", "value": "0478000000", "use": "home"},
                                  {"system": "email", "value": "jeanne.martin@example.org", "use": "home"}]
    assert patient["address"] == [{"use": "home", "line": ["12 rue des Lilas", "Bât. B"], "city": "Lyon",
                                   "postalCode": "69003", "country": "FRA"}]


def test_update_events_are_conditional_updates() -> None:
    entry = to_fhir(fixture("adt_a08_separators.hl7"))["entry"][0]
    assert entry["request"] == {"method": "PUT", "url": "Patient?identifier=urn:oid:1.2.250.1.999.4.2|A%24B-778"}
    a31 = message("ADT^A31", PID)
    assert to_fhir(a31)["entry"][0]["request"]["method"] == "PUT"
    assert len(to_fhir(message("ADT^A28", PID))["entry"]) == 1


def test_adt_names_addresses_telecom() -> None:
    patient = resources(fixture("adt_a04_escapes.hl7"))["Patient"]
    assert [name.get("use") for name in patient["name"]] == ["official", "nickname"]
    assert patient["identifier"][1] == {"type": {"text": "A"}, "system": "urn:id:CLINIQUE:100", "value": "0000112234",
                                        "assigner": {"display": "100"}}
    assert [point["use"] for point in patient["telecom"]] == ["home", "mobile", "work"]
    assert patient["telecom"][2]["system"] == "fax"
    assert "use" not in patient["address"][1]  # M (mailing) has no FHIR use
    birth = resources(fixture("mdm_t02_cda_ins.hl7"))["Patient"]
    assert birth["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                                   "valueAddress": {"district": "69123"}}]
    assert [address.get("city") for address in birth["address"]] == ["Lyon"]


def test_oru_numeric_results_as_a_text_report() -> None:
    found = resources(fixture("oru_r01_numeric.hl7"))
    document, binary = found["DocumentReference"], found["Binary"]
    assert document["status"] == "current" and document["docStatus"] == "final"
    assert document["masterIdentifier"]["system"] == "urn:oid:1.2.250.1.999.1.3"
    assert document["masterIdentifier"]["value"] == "CR-2024-0001"
    assert document["type"] == {"coding": [{"system": "http://loinc.org", "code": "24323-8",
                                            "display": "Bilan métabolique"}]}
    assert document["date"] == "2024-03-05T14:00:00+01:00"  # OBR-22
    assert document["context"] == {"period": {"start": "2024-03-05T08:00:00+01:00"}}  # OBR-7
    assert document["author"] == [{"reference": "#author1"}]  # OBX-16, named twice
    assert document["contained"][0]["name"] == [{"family": "BERNARD", "given": ["CLAIRE"], "prefix": ["DR"]}]
    assert document["securityLabel"][0]["coding"][0]["code"] == "N"
    text = base64.b64decode(binary["data"]).decode("utf-8")
    assert text.splitlines()[:3] == ["Bilan métabolique (24323-8)",
                                     "Glucose (2345-7): 5.4 mmol/L | ref 3.9-5.8 | flags N | status F",
                                     "Créatinine (2160-0): <30 µmol/L | ref 45-90 | flags L | status F"]
    assert "Groupe ABO (883-9): Groupe A | status F" in text
    attachment = document["content"][0]["attachment"]
    binary_url = to_fhir(fixture("oru_r01_numeric.hl7"))["entry"][2]["fullUrl"]
    assert attachment == {"contentType": "text/plain", "url": binary_url, "size": len(text.encode()),
                          "hash": base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()}


def test_oru_encapsulated_pdf() -> None:
    bundle = to_fhir(fixture("oru_r01_pdf.hl7"))
    patient, document, binary = (entry["resource"] for entry in bundle["entry"])
    data = base64.b64decode(binary["data"])
    assert data.startswith(b"%PDF-1.4") and binary["contentType"] == "application/pdf"
    assert binary["securityContext"] == {"reference": bundle["entry"][1]["fullUrl"]}
    assert document["subject"] == {"reference": bundle["entry"][0]["fullUrl"]}
    assert document["content"][0]["attachment"]["url"] == bundle["entry"][2]["fullUrl"]
    assert document["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert document["date"] == "2024-04-09T16:00:00+02:00"  # OBR-7 without offset: Paris summer time
    assert "author" not in document and "docStatus" not in document
    assert patient["name"][1] == {"use": "usual", "family": "DUPONT-MOREL", "given": ["LOUIS"]}


def test_mdm_document_with_ins() -> None:
    found = resources(fixture("mdm_t02_cda_ins.hl7"))
    document = found["DocumentReference"]
    assert document["masterIdentifier"] == {"system": "urn:ietf:rfc:3986",
                                            "value": "urn:oid:1.2.250.1.999.3.4.20240601.1"}
    assert "relatesTo" not in document  # TXA-13 replaces only in a T10 (a warning says so: test_lifecycle.py)
    assert (document["status"], document["docStatus"]) == ("current", "final")
    assert document["date"] == "2024-06-01T10:15:00+02:00" and document["context"]["period"]["start"].startswith(
        "2024-05-30T14:30")
    assert document["contained"][0]["identifier"][0]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
    assert base64.b64decode(found["Binary"]["data"]).decode().startswith("<?xml")
    assert found["Binary"]["contentType"] == "text/xml"


def test_mdm_text_lines_latin_1() -> None:
    found = resources(fixture("mdm_t02_latin1.hl7"))
    document = found["DocumentReference"]
    assert base64.b64decode(found["Binary"]["data"]).decode() == (
        "Synthèse de séjour\nPatiente revue à J+7, évolution favorable.\nTraitement : paracétamol 1 g si douleur\n")
    assert document["type"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v2-0270",
                                             "code": "DS", "display": "Discharge summary"}
    assert (document["docStatus"], document["securityLabel"][0]["coding"][0]["code"]) == ("preliminary", "R")
    assert document["date"] == "2024-03-15T16:00:00+01:00"  # TXA-4 when TXA-6 is empty


@pytest.mark.parametrize("txa19, status", [("OB", "superseded"), ("CA", "entered-in-error"), ("AV", "current")])
def test_txa_19_availability_gives_the_status(txa19: str, status: str) -> None:
    data = message("MDM^T02", PID, f"{TXA}||{txa19}", OBX_TEXT)
    assert resources(data)["DocumentReference"]["status"] == status


def test_ids_are_deterministic() -> None:
    assert to_fhir(fixture("oru_r01_numeric.hl7")) == to_fhir(fixture("oru_r01_numeric.hl7"))
    other = fixture("oru_r01_numeric.hl7").replace(b"|ORU-0001|", b"|ORU-0002|")
    urls = [entry["fullUrl"] for entry in to_fhir(other)["entry"]]
    assert not set(urls) & {entry["fullUrl"] for entry in to_fhir(fixture("oru_r01_numeric.hl7"))["entry"]}
    assert len(set(urls)) == 3


@pytest.mark.parametrize("data, expected", [
    (message("ORM^O01", PID), ("200", "MSH-9.1")),
    (message("ADT^A02", PID), ("201", "MSH-9.2")),
    (message("ADT^A04"), ("100", None)),
    (message("ADT^A04", PID, PID), ("100", "PID[2]-1")),
    (ANONYMOUS.format(pid="PID|1||42^^^H^PI"), ("103", "PID-3.4")),
    (ANONYMOUS.format(pid="PID|1||42"), ("101", "PID-3.4")),
    (message("ADT^A04", "PID|1||^^^H&1.2.3&ISO"), ("101", "PID-3")),
    (message("ADT^A04", "PID|1||42^^^H&1.2.x&ISO"), ("102", "PID-3.4")),
    (message("ADT^A04", PID_INS.replace("|M", "|X")), ("103", "PID-8")),
    (message("ADT^A04", PID_INS.replace("20000101", "20000230")), ("102", "PID-7")),
    (message("ORU^R01", PID, "OBX|1|NM|X^Y||1"), ("100", "OBX-1")),
    (message("ORU^R01", PID, "OBR|1||F1|X^Y^LN"), ("100", None)),
    (message("ORU^R01", "OBR|1||F1|X^Y^LN", PID, "OBX|1|NM|X^Y||1"), ("100", "PID-1")),
    (message("ORU^R01", PID, "OBR|1", "OBX|1|NM|X^Y||1"), ("101", "OBR-4")),
    (message("ORU^R01", PID, "OBR|1||F1|X^Y^LN|||2024", "OBX|1|ED|X^Y||^AP^PDF^Base64^not base64!"),
     ("102", "OBX-5.5")),
    (message("ORU^R01", PID, "OBR|1||F1|X^Y^LN", "OBX|1|ED|X^Y||^AP^PDF^Quoted^abc"), ("103", "OBX-5.4")),
    (message("ORU^R01", PID, "OBR|1||F1|X^Y^LN", "OBX|1|ED|X^Y||^AP^PDF^Base64^"), ("101", "OBX-5.5")),
    (message("MDM^T02", PID, OBX_TEXT), ("100", "OBX-1")),
    (message("MDM^T02", PID, TXA), ("100", None)),
    (message("MDM^T02", PID, TXA, OBX_TEXT, TXA, OBX_TEXT), ("100", "TXA[2]-1")),
    (message("MDM^T02", PID, TXA.replace("|AU", "|"), OBX_TEXT), ("101", "TXA-17")),
    (message("MDM^T02", PID, TXA.replace("|AU", "|ZZ"), OBX_TEXT), ("103", "TXA-17")),
    (message("MDM^T02", PID, TXA + "|X", OBX_TEXT), ("103", "TXA-18")),
    (message("MDM^T02", PID, TXA.replace("11488-4^CR^LN", ""), OBX_TEXT), ("101", "TXA-2")),
    (message("MDM^T02", PID, TXA, "OBX|1|TX|X||"), ("101", "OBX-5")),
])
def test_refusals(data: str, expected: tuple[str, str | None]) -> None:
    assert refusal(data) == expected


SHARED_EXPECTED = [("nhapi_omd_o03.txt", "200"), ("nhapi_OML_O21_messages.txt", "200"),
                   ("nhapi_uuencoded_escaped.txt", "100")]


@pytest.mark.parametrize("name, code", [(name, code) for name, code in SHARED_EXPECTED if (SHARED / name).is_file()])
def test_unsupported_shared_samples(name: str, code: str) -> None:
    data = (SHARED / name).read_bytes()
    first = data.split(b"\n\n")[0]  # the OML file holds several messages
    assert refusal(first)[0] == code


def mapped(data: str) -> tuple[dict, list[tuple[str, str | None]]]:
    """The Bundle of a message and its warnings (code, location)."""
    warnings: list[MappingError] = []
    bundle = to_fhir(data, warnings)
    return bundle, [(warning.code, warning.location) for warning in warnings]


def test_an_authority_without_oid_is_local_to_the_sending_facility() -> None:
    bundle, warnings = mapped(message("ADT^A04", "PID|1||42^^^H^PI~7^^^^MR"))
    patient, request = bundle["entry"][0]["resource"], bundle["entry"][0]["request"]
    assert [(found["system"], found["value"]) for found in patient["identifier"]] == [
        ("urn:id:FAC:H", "42"), ("urn:id:FAC", "7")]
    assert request["ifNoneExist"] == "identifier=urn:id:FAC:H|42"
    assert warnings == [("103", "PID-3.4")]
    other = message("ADT^A04", "PID|1||42^^^H^PI").replace("|APP|FAC|", "|APP|CLINIC 2|")
    assert mapped(other)[0]["entry"][0]["request"]["ifNoneExist"] == "identifier=urn:id:CLINIC%25202:H|42"  # urn:id:CLINIC%202:H, encoded


def test_the_patient_is_matched_on_an_ins_then_an_oid_authority_before_a_local_one() -> None:
    universal = mapped(message("ADT^A04", "PID|1||7^^^LOCAL~42^^^H&1.2.250.1.999.9&ISO"))
    assert universal[0]["entry"][0]["request"]["ifNoneExist"] == "identifier=urn:oid:1.2.250.1.999.9|42"
    assert universal[1] == []
    ins = mapped(message("ADT^A04", PID_INS.replace("|1||", "|1||7^^^LOCAL~")))
    assert ins[0]["entry"][0]["request"]["ifNoneExist"] == "identifier=urn:oid:1.2.250.1.213.1.4.8|279035121518989"


def test_faulty_traits_of_a_patient_without_ins_are_left_out_with_a_warning() -> None:
    bundle, warnings = mapped(message("ADT^A04", PID.replace("20000101|M", "196203520|1")))
    patient = bundle["entry"][0]["resource"]
    assert "gender" not in patient and "birthDate" not in patient and patient["name"][0]["family"] == "NOM"
    assert warnings == [("103", "PID-8"), ("102", "PID-7")]
    assert to_fhir(message("ADT^A04", PID.replace("|M", "|1"))) == mapped(message("ADT^A04", PID.replace("|M", "|1")))[0]


def test_document_ids_without_oid_are_local_to_the_sender() -> None:
    data = message("MDM^T02", PID, TXA.replace("|" * 13 + "AU", "|" * 8 + "DOC-9^EDITOR" + "|" * 5 + "AU"), OBX_TEXT)
    assert resources(data)["DocumentReference"]["masterIdentifier"] == {
        "system": "urn:id:FAC:EDITOR", "value": "DOC-9", "assigner": {"display": "EDITOR"}}
