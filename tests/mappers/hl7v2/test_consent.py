"""ZFA (IHE PAM France, the patient's DMP status): what each statement becomes, and the values refused."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import ack, to_fhir

from .test_mapping import PID_INS, message

IDNPS = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
PV1 = f"PV1|1|I|UF1||||810001234567^DOC^ALICE^^^^^^{IDNPS}^D^^^IDNPS|||||||||||V1"
PV1_LOCAL = "PV1|1|I|UF1||||4242^DOC^ALICE^^^^^^H&1.2.250.1.999.9&ISO^D"  # no IDNPS


def zfa(feeding: str, consultation: str, when: str = "20250306111154") -> str:
    return f"ZFA|ACTIF|{when}|||||||{feeding}|{when}|{consultation}|{when}"


def entries(*segments: str, kind: str = "ADT^A01") -> tuple[list[dict], list[MappingError]]:
    warnings: list[MappingError] = []
    return to_fhir(message(kind, PID_INS, *segments), warnings)["entry"][1:], warnings


def refused(*segments: str, kind: str = "ADT^A01") -> MappingError:
    with pytest.raises(MappingError) as caught:
        to_fhir(message(kind, PID_INS, *segments))
    return caught.value


def test_an_opposition_to_feeding_denies_collect_and_no_opposition_lifts_it():
    (opposed,), _ = entries(PV1, zfa("IO", ""))
    assert opposed["request"]["method"] == "PUT" and opposed["request"]["url"].startswith("Consent?identifier=")
    assert opposed["resource"]["status"] == "active" and opposed["resource"]["dateTime"] == "2025-03-06T11:11:54+01:00"
    assert opposed["resource"]["provision"]["action"][0]["coding"][0]["code"] == "collect"
    assert "actor" not in opposed["resource"]["provision"]
    (lifted,), _ = entries(PV1, zfa("INO", ""))
    assert lifted["request"] == {"method": "DELETE", "url": opposed["request"]["url"]}  # the same statement


def test_a_refusal_of_consultation_denies_access_to_the_stays_professionals_and_consent_lifts_it():
    pv1 = PV1.replace("|||||||||||V1", f"||810007654321^CONS^BRUNO^^^^^^{IDNPS}^D^^^IDNPS||||||||810001234567"
                                        f"^DOC^ALICE^^^^^^{IDNPS}^D^^^IDNPS||V1")
    refusals, _ = entries(pv1, zfa("", "INC"))
    actors = [e["resource"]["provision"]["actor"][0] for e in refusals]
    assert [a["reference"]["identifier"]["value"] for a in actors] == ["810001234567", "810007654321"]
    assert [a["role"]["text"] for a in actors] == ["attending", "consulting"]  # the admitting one named once
    assert all(e["resource"]["provision"]["action"][0]["coding"][0]["code"] == "access" for e in refusals)
    consents, _ = entries(pv1, zfa("", "IC"))
    assert [c["request"] for c in consents] == [{"method": "DELETE", "url": r["request"]["url"]} for r in refusals]


def test_not_collected_changes_nothing_and_says_so():
    added, warnings = entries(PV1, zfa("NA", "NA"))
    assert added == []
    assert [(w.location, "not collected" in w.message) for w in warnings[:2]] == [("ZFA-9", True), ("ZFA-11", True)]
    # then what is not used: the stay, the record's status, and the dates of statements not collected
    assert [w.location for w in warnings[2:]] == ["PV1-2", "PV1-3", "PV1-7", "PV1-18", "ZFA-1", "ZFA-2", "ZFA-10",
                                                  "ZFA-12"]
    answer = ack(message("ADT^A01", PID_INS, PV1, zfa("NA", "NA")), None, warnings=warnings)
    assert "MSA|AA|C1" in answer and answer.count("ERR|") == 10 and answer.count("|W|") == 10


def test_a_consent_with_no_professional_to_restore_changes_nothing_and_says_so():
    added, warnings = entries(PV1_LOCAL, zfa("", "IC"))
    assert added == [] and "none is identified by an IDNPS" in warnings[0].message


@pytest.mark.parametrize("segments, code, location, says", [
    ((PV1, zfa("OUI", "IC")), "103", "ZFA-9", "'OUI' is not in IHE PAM France table ZFA-9"),
    ((PV1, zfa("INO", "REFUS")), "103", "ZFA-11", "'REFUS' is not in IHE PAM France table ZFA-11"),
    ((PV1, zfa("IO", "IC", "2025-03-06")), "102", "ZFA-10", "not an HL7 date/time"),
    ((PV1_LOCAL, zfa("INO", "INC")), "101", "ZFA-11", "the refusal cannot be applied"),
    ((zfa("INO", "INC"),), "101", "ZFA-11", "none is identified by an IDNPS"),  # no PV1 at all
    ((PV1, zfa("IO", ""), zfa("INO", "")), "100", "ZFA[2]-1", "several ZFA segments"),
])
def test_malformed_or_inapplicable_statements_are_refused_with_the_reason(segments, code, location, says):
    error = refused(*segments)
    assert (error.code, error.location) == (code, location) and says in error.message
    answer = ack(message("ADT^A01", PID_INS, *segments), error)
    assert "MSA|AE|C1" in answer and f"|{code}^" in answer


def test_a_zfa_outside_an_adt_message_is_refused():
    error = refused("OBR|1|||11488-4^CR^LN", "OBX|1|TX|11488-4^CR^LN||Bonjour||||||F", zfa("IO", ""),
                    kind="ORU^R01")
    assert error.code == "100" and "ADT messages only" in error.message
