"""The French header mapping, field by field, on this folder's CI-SIS-like fixtures (no ../shared needed)."""
from __future__ import annotations

import pytest

from mappers.cda import to_fhir
from mappers.cda.header import SET_ID_TYPE, VERSION_NUMBER

from .support import HL7, LDL_SES, RESTRICTED, altered, bundle, contained, refused, remove, resources

FR_CORE_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
TRE_A03 = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _type_code(identifier: dict) -> str:
    return identifier["type"]["coding"][0]["code"]


def test_the_patient_is_created_once_by_its_ins() -> None:
    entry = bundle(LDL_SES)["entry"][0]
    patient = entry["resource"]
    ipp, ins = patient["identifier"]
    assert ipp == {"system": "urn:oid:1.2.250.1.999.7.1", "value": "IPP-55012"}
    assert ins["system"] == "urn:oid:1.2.250.1.213.1.4.8" and ins["value"] == "285047512300618"
    assert ins["use"] == "official" and ins["type"]["coding"][0] == {
        "system": FR_CORE_TYPES, "code": "INS-NIR", "display": "NIR définitif"}
    assert entry["request"] == {"method": "POST", "url": "Patient",
                                "ifNoneExist": "identifier=urn:oid:1.2.250.1.213.1.4.8|285047512300618"}
    assert entry["fullUrl"].startswith("urn:uuid:")


def test_the_patient_demographics() -> None:
    patient = resources(bundle(LDL_SES))["Patient"]
    official, usual = patient["name"]
    assert official["use"] == "official" and official["family"] == "MARTIN" and official["given"] == ["CLAIRE"]
    assert official["extension"][0]["valueString"] == "CLAIRE ANNE SOPHIE"
    assert usual == {"use": "usual", "family": "DURAND", "given": ["Claire"]}
    assert patient["gender"] == "female" and patient["birthDate"] == "1985-04-07"
    assert patient["address"] == [{"use": "home", "line": ["12 rue des Tilleuls", "Bâtiment B"], "city": "LYON",
                                   "postalCode": "69003", "country": "FRANCE"}]
    assert [(t["system"], t["value"], t.get("use")) for t in patient["telecom"]] == [
        ("phone", "0478000000", "home"), ("phone", "0600000000", "mobile"),
        ("email", "285047512300618@patient.mssante.fr", None)]


def test_the_document_header() -> None:
    document = resources(bundle(LDL_SES))["DocumentReference"]
    assert document["masterIdentifier"] == {"system": "urn:oid:1.2.250.1.999.7.3.1", "value": "LDL-2024-000042"}
    assert document["status"] == "current"
    assert document["type"]["coding"] == [{"system": "http://loinc.org", "code": "11490-0",
                                           "display": "Lettre de liaison à la sortie d'un établissement de soins"}]
    assert document["category"] == [{"coding": [{"system": TRE_A03, "code": "10", "display": "Compte rendu"}]}]
    assert document["date"] == "2024-03-12T17:45:30+01:00"
    assert document["securityLabel"] == [{"coding": [{"system": CONFIDENTIALITY, "code": "N", "display": "normal"}]}]
    assert document["relatesTo"] == [{"code": "replaces", "target": {
        "reference": "DocumentReference?identifier=urn:oid:1.2.250.1.999.7.3.1|LDL-2024-000041"}}]
    content = document["content"][0]
    assert content["format"] == {"system": "https://mos.esante.gouv.fr/NOS/TRE_A06-FormatCodeComplementaire/FHIR/"
                                           "TRE-A06-FormatCodeComplementaire", "code": "urn:asip:ci-sis:ldl-ses:2017"}
    assert content["attachment"]["language"] == "fr-FR"
    assert content["attachment"]["creation"] == "2024-03-12T17:45:30+01:00"
    assert content["attachment"]["title"] == "Lettre de liaison de sortie — cardiologie"


def test_the_care_context() -> None:
    context = resources(bundle(LDL_SES))["DocumentReference"]["context"]
    assert context["event"] == [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                             "code": "IMP", "display": "Hospitalisation"}]}]
    assert context["period"] == {"start": "2024-03-05T09:15:00+01:00", "end": "2024-03-12T17:00:00+01:00"}
    assert context["facilityType"]["coding"][0]["code"] == "SA01"
    assert context["facilityType"]["coding"][0]["system"].endswith("TRE-R02-SecteurActivite")
    assert context["practiceSetting"]["coding"][0]["code"] == "ETABLISSEMENT"


def test_the_author_a_health_professional_with_an_idnps() -> None:
    document = resources(bundle(LDL_SES))["DocumentReference"]
    role = contained(document, document["author"][0])
    assert role["resourceType"] == "PractitionerRole"
    assert role["specialty"][0]["coding"][0]["code"] == "G15_10/SM04"
    person = contained(document, role["practitioner"])
    assert person["resourceType"] == "Practitioner"
    assert person["identifier"] == [{"type": {"coding": [{"system": FR_CORE_TYPES, "code": "IDNPS", "display":
                                                          "Identifiant National de Professionnel de Santé"}]},
                                     "system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000123456"}]
    assert person["name"] == [{"family": "LEGRAND", "given": ["Paul"], "prefix": ["Dr"]}]
    organization = contained(document, role["organization"])
    assert _type_code(organization["identifier"][0]) == "IDNST"
    custodian = contained(document, document["custodian"])
    assert custodian["name"] == "Centre hospitalier de test"
    assert contained(document, document["authenticator"])["identifier"][0]["value"] == "810000123456"


def test_a_restricted_unstructured_document() -> None:
    found = resources(bundle(RESTRICTED))
    document = found["DocumentReference"]
    assert document["securityLabel"] == [{"coding": [{"system": CONFIDENTIALITY, "code": "R",
                                                      "display": "restricted"}]}]
    assert document["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert document["masterIdentifier"] == {"system": "urn:ietf:rfc:3986",
                                            "value": "urn:uuid:0f2c9e1a-5b7d-4c3e-9a8b-6d4e2f1a0b3c"}
    assert "date" not in document  # a time without a zone is no instant
    assert document["content"][0]["attachment"]["creation"] == "2024-01-05"
    device = contained(document, document["author"][0])
    assert device["resourceType"] == "Device" and "identifier" not in device
    assert contained(document, device["owner"])["name"] == "Laboratoire de biologie de test"
    nia = found["Patient"]["identifier"][0]
    assert (nia["use"], _type_code(nia)) == ("temp", "INS-NIA")
    assert found["Patient"]["birthDate"] == "1978-02"


def test_a_class_in_the_code_wins_over_the_type_table() -> None:
    data = RESTRICTED.read_bytes().replace(b'code="11502-2"', b'code="60591-5"')  # a summary: class 11 by type
    document = resources(to_fhir(data))["DocumentReference"]
    assert document["category"][0]["coding"][0]["code"] == "10"
    assert [c["code"] for c in document["type"]["coding"]] == ["60591-5"]  # the class is not a type


def test_a_type_the_class_table_does_not_know_has_no_category() -> None:
    def untyped(root) -> None:
        remove(root, "code/translation")
        root.find(f"{{{HL7}}}code").set("code", "34109-9")

    document = resources(to_fhir(altered(RESTRICTED, untyped)))["DocumentReference"]
    assert "category" not in document


def test_without_model_template_the_format_is_mime_type_sufficient() -> None:
    def plain(root) -> None:
        remove(root, "templateId")

    document = resources(to_fhir(altered(LDL_SES, plain)))["DocumentReference"]
    assert document["content"][0]["format"] == {
        "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
        "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient", "display": "mimeType Sufficient"}


def test_the_set_id_and_version_number_are_kept() -> None:
    document = resources(bundle(LDL_SES))["DocumentReference"]
    assert document["identifier"] == [{"system": "urn:oid:1.2.250.1.999.7.3.2", "value": "LDL-2024-000042",
                                       "type": SET_ID_TYPE}]
    assert document["extension"] == [{"url": VERSION_NUMBER, "valueInteger": 2}]

    def unversioned(root) -> None:
        remove(root, "setId")
        remove(root, "versionNumber")

    bare = resources(to_fhir(altered(LDL_SES, unversioned)))["DocumentReference"]
    assert "identifier" not in bare and "extension" not in bare


@pytest.mark.parametrize("value", ["deux", "2.5", "99999999999", ""])
def test_a_version_number_that_is_no_integer_is_refused(value: str) -> None:
    error = refused(altered(LDL_SES, lambda root: root.find(f"{{{HL7}}}versionNumber").set("value", value)))
    assert error.location == "/ClinicalDocument/versionNumber/@value" and "not an integer" in error.message


@pytest.mark.parametrize("type_code, code", [("RPLC", "replaces"), ("APND", "appends"), ("XFRM", "transforms")])
def test_each_related_document_is_a_relation_to_its_parent(type_code: str, code: str) -> None:
    changed = altered(LDL_SES, lambda root: root.find(f"{{{HL7}}}relatedDocument").set("typeCode", type_code))
    assert resources(to_fhir(changed))["DocumentReference"]["relatesTo"] == [{"code": code, "target": {
        "reference": "DocumentReference?identifier=urn:oid:1.2.250.1.999.7.3.1|LDL-2024-000041"}}]
