"""The CI-SIS document lifecycle in HL7 v2 (initial, replacement, deletion; MDM and ORU), the agreement of the
MDM event, ORC-1 and OBX-11, the metadata OBX flags and the ACK's application error codes (fixtures:
fixtures/README.md says which ANS example each one models)."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import ApplicationError, ack, to_fhir

from .support import fixture

TRE_A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
RADIO = "urn:oid:1.2.250.1.999.8.2.71024000"


def mapped(data: bytes) -> tuple[dict, list[MappingError]]:
    """The DocumentReference entry and the warnings."""
    warnings: list[MappingError] = []
    bundle = to_fhir(data, warnings)
    return next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"), warnings


def refused(data: bytes) -> MappingError:
    with pytest.raises(MappingError) as raised:
        to_fhir(data)
    return raised.value


def test_an_initial_transmission_keeps_the_flags_the_type_and_the_author() -> None:
    entry, warnings = mapped(fixture("mdm_t02_cisis_flags.hl7"))
    document = entry["resource"]
    assert entry["request"] == {"method": "POST", "url": "DocumentReference"}
    assert document["masterIdentifier"] == {"system": "urn:ietf:rfc:3986", "value": f"{RADIO}081"}
    assert document["type"]["coding"] == [{"system": "http://loinc.org", "code": "18748-4",
                                           "display": "CR d'imagerie médicale"}]  # TXA-2 is the bare code
    author = document["contained"][0]  # from the CDA: the volet puts the author there
    assert author["identifier"][0]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
    assert author["identifier"][0]["value"] == "801234564895"
    labels = [c["code"] for label in document["securityLabel"] for c in label["coding"] if c["system"] == TRE_A07]
    # INVISIBLE_REP_LEGAUX and CONNEXION_SECRETE both keep it from the legal representatives: one label
    assert labels == ["INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    assert [(w.location, w.message.split(" is ")[0]) for w in warnings[:2]] == [
        ("OBX[8]-3", "OBX[8]-3 DESTMSSANTEPS"), ("OBX[12]-3", "OBX[12]-3 CORPSMAIL_PS")]
    # then every field the server does not use (the flags' OBX-11 is fixed at F, the mail body is named above)
    assert [w.location for w in warnings[2:]] == [
        "EVN-2", "PID-18", "PID-31", "PID-32", "PV1-2", "PV1-3", "PV1-19", "OBR-4", "TXA-3", "TXA-22",
        "PRT-2", "PRT-4", "PRT-5", "PRT-8", "PRT[2]-2", "PRT[2]-4", "PRT[2]-5", "PRT[2]-15"]
    answer = ack(fixture("mdm_t02_cisis_flags.hl7"), None, warnings=warnings)
    errs = [s.split("|") for s in answer.split("\r") if s.startswith("ERR")]
    assert [e[4] for e in errs] == ["W"] * 20 and "MSSanté" in errs[0][8]
    assert errs[11][8] == "TXA-22 (authentication person, time stamp) is not used by this server: left out"
    assert "MSA|AA|MDM-T02-081" in answer and "ACK^T02^ACK" in answer


@pytest.mark.parametrize("name, replaced", [("mdm_t10_cisis_replacement.hl7", f"{RADIO}081"),
                                            ("oru_r01_cisis_replacement.hl7", "urn:oid:1.2.250.1.999.8.3.12")])
def test_a_replacement_names_the_document_it_replaces(name: str, replaced: str) -> None:
    """MDM: TXA-13; ORU: the CDA's relatedDocument RPLC (no HL7 field carries it)."""
    entry, _ = mapped(fixture(name))
    document = entry["resource"]
    assert entry["request"]["method"] == "POST" and document["status"] == "current"
    assert document["relatesTo"][0]["code"] == "replaces"
    assert document["relatesTo"][0]["target"]["identifier"]["value"] == replaced
    assert not [label for label in document["securityLabel"] if label["coding"][0]["system"] == TRE_A07]


@pytest.mark.parametrize("name, unique", [("mdm_t04_cisis_deletion.hl7", f"{RADIO}082"),
                                          ("oru_r01_cisis_deletion.hl7", "urn:oid:1.2.250.1.999.8.3.13")])
def test_a_deletion_withdraws_the_document_it_names(name: str, unique: str) -> None:
    """MDM: TXA-12; ORU: the CDA's id. A conditional update, which the server refuses when nothing matches."""
    entry, _ = mapped(fixture(name))
    assert entry["request"] == {"method": "PUT", "url": f"DocumentReference?identifier=urn:ietf:rfc:3986|{unique}"}
    assert entry["resource"]["status"] == "entered-in-error"
    assert entry["resource"]["masterIdentifier"]["value"] == unique


@pytest.mark.parametrize("name, old, new, location", [
    ("mdm_t02_cisis_flags.hl7", b"ORC|NW|", b"ORC|CA|", "ORC-1"),
    ("mdm_t10_cisis_replacement.hl7", b"||||||C|\r", b"||||||F|\r", "OBX-11"),
    ("mdm_t04_cisis_deletion.hl7", b"MDM^T04^", b"MDM^T02^", "ORC-1"),
    ("oru_r01_cisis_replacement.hl7", b"ORC|RO|", b"ORC|CA|", "OBX-11"),
    ("oru_r01_cisis_deletion.hl7", b"||||||D|\r", b"||||||C|\r", "OBX-11"),
])
def test_an_event_order_control_and_status_that_disagree_are_refused(name, old, new, location) -> None:
    data = fixture(name)
    assert data.count(old) == 1
    error = refused(data.replace(old, new))
    assert isinstance(error, ApplicationError) and error.application == "906"
    assert error.location == location and "disagrees" in error.message and "refused" in error.message
    answer = ack(data.replace(old, new), error)
    msa, err = (s.split("|") for s in answer.split("\r") if s.startswith(("MSA", "ERR")))
    assert msa[1] == "AE" and err[3].startswith("207^") and err[5] == \
        "906^Erreur 'Autre'^applicationErrorCondition" and err[8] == error.message


def test_what_a_replacement_or_deletion_needs_to_name_its_document() -> None:
    t10 = fixture("mdm_t10_cisis_replacement.hl7")
    no_parent = t10.replace(b"|1.2.250.1.999.8.2.71024000081^Organisation-Y|", b"||")
    assert (refused(no_parent).code, refused(no_parent).location) == ("101", "TXA-13")
    t04 = fixture("mdm_t04_cisis_deletion.hl7").replace(b"|1.2.250.1.999.8.2.71024000082|", b"||")
    assert (refused(t04).code, refused(t04).location) == ("101", "TXA-12")
    # an ORU deletion names its document by the CDA it carries: a PDF names none
    pdf = fixture("oru_r01_pdf.hl7").replace(b"\nOBR|", b"\nORC|CA\nOBR|", 1).replace(b"||||||F", b"||||||D", 1)
    assert refused(pdf).code == "101" and "ClinicalDocument/id" in refused(pdf).message


def test_txa_13_of_an_initial_transmission_is_named_as_not_acted_on() -> None:
    entry, warnings = mapped(fixture("mdm_t02_cda_ins.hl7"))
    assert "relatesTo" not in entry["resource"]
    assert [(w.location, w.code) for w in warnings] == [("TXA-13", "207"), ("EVN-2", "207"), ("PV1-2", "207"),
                                                         ("TXA-3", "207")]  # TXA-13 read: named once
    assert "T10" in warnings[0].message


def test_metadata_that_cannot_be_acted_on_refuse_the_message() -> None:
    data = fixture("mdm_t02_cisis_flags.hl7")
    unpublished = refused(data.replace(b"DESTDMP^Destinataire DMP^MetaDMPMSS||Y",
                                       b"DESTDMP^Destinataire DMP^MetaDMPMSS||N"))
    assert isinstance(unpublished, ApplicationError) and "DESTDMP" in unpublished.message
    bad = refused(data.replace(b"INVISIBLE_PATIENT^Document Non Visible par le patient^MetaDMPMSS||Y",
                               b"INVISIBLE_PATIENT^Document Non Visible par le patient^MetaDMPMSS||X"))
    assert (bad.code, bad.location) == ("103", "OBX[3]-5")
    unknown = data.replace(b"MODIF_CONF_CODE^", b"NOUVEAU_CODE^")
    _, warnings = mapped(unknown)
    assert any("NOUVEAU_CODE" in w.message and "left out" in w.message for w in warnings)
    legacy = data.replace(b"INVISIBLE_REP_LEGAUX^", b"INVISIBLE_REPRESENTANTS_LEGAUX^").replace(
        b"CONNEXION_SECRETE^Connexion Secrete^MetaDMPMSS||Y", b"CONNEXION_SECRETE^Connexion Secrete^MetaDMPMSS||N")
    entry, _ = mapped(legacy)  # the code's older name
    assert "INVISIBLE_REPRESENTANTS_LEGAUX" in str(entry["resource"]["securityLabel"])
