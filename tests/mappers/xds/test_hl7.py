"""The HL7 v2 data types of XDS metadata, to FHIR and back."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from mappers.xds import hl7


@pytest.mark.parametrize("dtm, fhir", [("2024", "2024"), ("202405", "2024-05"), ("20240502", "2024-05-02"),
                                       ("2024050209", "2024-05-02T09:00:00Z"),
                                       ("20240502093015", "2024-05-02T09:30:15Z")])
def test_a_dtm_is_a_fhir_date_or_utc_datetime(dtm, fhir):
    assert hl7.dtm_to_fhir(dtm, "creationTime") == fhir


@pytest.mark.parametrize("dtm", ["2024-05-02", "20240230", "202405021", "20240502T0930", ""])
def test_what_is_not_a_dtm_is_refused(dtm):
    with pytest.raises(MappingError) as caught:
        hl7.dtm_to_fhir(dtm, "creationTime")
    assert caught.value.code == "XDSRegistryMetadataError" and "creationTime" in caught.value.message


def test_a_fhir_datetime_becomes_a_utc_dtm():
    assert hl7.fhir_to_dtm("2024-05-02T09:30:00+02:00") == "20240502073000"
    assert hl7.fhir_to_dtm("2024-05-02T09:30:00.123Z") == "20240502093000"
    assert hl7.fhir_to_dtm("1980-01-15") == "19800115"


@pytest.mark.parametrize("xcn", ["801234567897^MARTIN^Hélène^Marie^^Dr^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                                 "1234^Smith^John^^III^Dr^^^&1.3.6.1.4.1.21367.13.20.3000&ISO", "^Doe^Jane", "42"])
def test_an_xcn_is_a_practitioner_and_back(xcn):
    assert hl7.xcn(hl7.practitioner(xcn, "p", "authorPerson")) == xcn


@pytest.mark.parametrize("xon", ["Hôpital Saint-Louis^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000001",
                                 "Cabinet médical", "Clinique^^^^^^^^^1.2.250.1.71.4.2.2.999"])
def test_an_xon_is_an_organization_and_back(xon):
    assert hl7.xon(hl7.organization(xon, "o")) == xon


@pytest.mark.parametrize("value, concept", [
    ("10^Médecin^1.2.250.1.71.1.2.7", {"coding": [{
        "system": "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
        "code": "10", "display": "Médecin"}]}),
    ("394579002^^2.16.840.1.113883.6.96", {"coding": [{"system": "http://snomed.info/sct", "code": "394579002"}]}),
    ("Attending", {"text": "Attending"}),
    ("ODM^Médecin^^^^^^^&1.2.250.1.213.1.1.4.5&ISO", {"text": "ODM^Médecin^^^^^^^&1.2.250.1.213.1.1.4.5&ISO"}),
])
def test_an_author_role_or_specialty_is_coded_when_it_can_be(value, concept):
    assert hl7.concept(value, "authorRole") == concept
    assert hl7.coded(concept, "authorRole") == value


def test_source_patient_info_becomes_a_patient_and_back():
    source = "IPP-1^^^&1.2.250.1.71.4.2.2.1.1&ISO^PI"
    info = [f"PID-3|{source}", "PID-3|1800175123456^^^&1.2.250.1.213.1.4.8&ISO^NH", "PID-5|DUPONT^Claire^^^^^L",
            "PID-7|19800115", "PID-8|F", "PID-11|12 rue de la Paix^^Paris^^75002^FRA"]
    patient = hl7.source_patient(source, info, "Document01")
    assert [i["value"] for i in patient["identifier"]] == ["IPP-1", "1800175123456"]
    assert (patient["birthDate"], patient["gender"]) == ("1980-01-15", "female")
    assert patient["name"] == [{"use": "official", "family": "DUPONT", "given": ["Claire"]}]
    assert hl7.pid(patient) == (source, info)


def test_an_unknown_gender_is_refused():
    with pytest.raises(MappingError) as caught:
        hl7.source_patient("IPP-1^^^&1.2.3&ISO", ["PID-8|X"], "Document01")
    assert caught.value.code == "XDSRegistryMetadataError"
