"""The R4 vital-signs profiles, applied to Observations with a vital sign's LOINC code (validation/vital_signs.py).
observation-vitalsigns.html: "If a vital sign is sent, it SHALL conform to the profile"."""
from __future__ import annotations

import copy
import json

import pytest

from validation import validate_resource
from validation.definitions import example_path
from validation.vital_signs import profiles_by_code

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}
VITAL_SIGNS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                           "code": "vital-signs"}]}


def temperature(**elements) -> dict:
    return {"resourceType": "Observation", "text": NARRATIVE, "status": "final", "category": [VITAL_SIGNS],
            "code": {"coding": [{"system": LOINC, "code": "8310-5"}]}, "subject": {"reference": "Patient/1"},
            "effectiveDateTime": "2024-01-02T10:00:00Z",
            "valueQuantity": {"value": 37.2, "unit": "C", "system": UCUM, "code": "Cel"}, **elements}


def issues(resource: dict) -> list[tuple[str, str, str]]:
    """(severity, code or invariant key, path) of the issues the vital-signs profiles find."""
    return [(i.severity, i.key or i.code, i.path) for i in validate_resource(resource, invariants=True)
            if "vital-signs profile" in i.message]


def test_the_profiles_and_their_codes_come_from_the_package():
    found = {code: [definition["id"] for definition in chain] for code, chain in profiles_by_code().items()}
    assert found == {"85353-1": ["vitalsigns", "vitalspanel"], "9279-1": ["vitalsigns", "resprate"],
                     "8867-4": ["vitalsigns", "heartrate"], "2708-6": ["vitalsigns", "oxygensat"],
                     "8310-5": ["vitalsigns", "bodytemp"], "8302-2": ["vitalsigns", "bodyheight"],
                     "9843-4": ["vitalsigns", "headcircum"], "29463-7": ["vitalsigns", "bodyweight"],
                     "39156-5": ["vitalsigns", "bmi"], "85354-9": ["vitalsigns", "bp"]}


def test_a_conforming_temperature():
    assert validate_resource(temperature(), invariants=True) == []


@pytest.mark.parametrize("name", ["Observation-body-temperature.json", "Observation-blood-pressure.json",
                                  "Observation-blood-pressure-dar.json", "Observation-heart-rate.json",
                                  "Observation-satO2.json", "Observation-vitals-panel.json", "Observation-bmi.json",
                                  "Observation-body-height.json", "Observation-example.json"])
def test_official_vital_signs_conform(name):
    observation = json.loads(example_path(name).read_text(encoding="utf-8"))
    assert issues(observation) == []


def test_the_vital_signs_category_subject_and_time_are_required():
    observation = temperature()
    for name in ("category", "subject", "effectiveDateTime"):
        del observation[name]
    assert sorted(issues(observation)) == [("error", "required", "Observation.category"),
                                           ("error", "required", "Observation.effective[x]"),
                                           ("error", "required", "Observation.subject")]
    # another category does not make the slice VSCat
    laboratory = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "laboratory"}]}
    assert issues(temperature(category=[laboratory])) == [("error", "required", "Observation.category")]


def test_vs_1_a_date_time_precise_to_the_day():
    observation = temperature(effectiveDateTime="2024-01")
    assert issues(observation) == [("error", "vs-1", "Observation.effective[x]")]
    del observation["effectiveDateTime"]
    assert issues({**observation, "effectivePeriod": {"start": "2024-01"}}) == []  # a Period is no dateTime


def test_vs_2_a_value_or_a_data_absent_reason():
    observation = temperature()
    del observation["valueQuantity"]
    assert ("error", "vs-2", "Observation") in issues(observation)
    observation["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                             "data-absent-reason", "code": "unknown"}]}
    assert issues(observation) == []


def test_vs_3_in_a_bundle_entry():
    # HL7 test PulseOxBundle_25Oct2022.json: a component without value nor data-absent-reason
    saturation = temperature(code={"coding": [{"system": LOINC, "code": "59408-5"}, {"system": LOINC, "code": "2708-6"}]},
                             valueQuantity={"value": 95, "unit": "%", "system": UCUM, "code": "%"},
                             component=[{"code": {"coding": [{"system": LOINC, "code": "3150-0"}]}}])
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "http://example.org/fhir/Observation/1", "resource": {**saturation, "id": "1"}}]}
    assert issues(bundle) == [("error", "vs-3", "Bundle.entry[0].resource.component[0]"),
                              # the code binding is extensible (3150-0 is no vital sign of the table)
                              ("warning", "code-invalid", "Bundle.entry[0].resource.component[0].code")]


def test_a_value_quantity_with_its_ucum_unit():
    observation = temperature()
    del observation["valueQuantity"]["system"]
    assert issues(observation) == [("error", "required", "Observation.valueQuantity.system")]
    # the page calls the units "extensible bindings": another unit is a warning
    assert issues(temperature(valueQuantity={"value": 99, "unit": "F", "system": UCUM, "code": "F"})) == [
        ("warning", "code-invalid", "Observation.valueQuantity.code")]


def blood_pressure() -> dict:
    return json.loads(example_path("Observation-blood-pressure.json").read_text(encoding="utf-8"))


def test_blood_pressure_has_its_systolic_and_diastolic_components():
    # the components are sliced by code.coding.code and code.coding.system, through the slice of
    # component.code.coding that fixes them
    observation = blood_pressure()
    observation["component"] = observation["component"][:1]  # systolic only
    assert issues(observation) == [("error", "required", "Observation.component")]
    observation = blood_pressure()
    observation["valueQuantity"] = {"value": 1, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    assert issues(observation) == [("error", "structure", "Observation.valueQuantity")]  # max 0


def test_blood_pressure_component_units():
    observation = blood_pressure()
    observation["component"][1]["valueQuantity"]["code"] = "mmHg"
    assert ("error", "value", "Observation.component[1].valueQuantity.code") in issues(observation)  # fixed mm[Hg]


def test_other_codes_of_a_vital_sign_do_not_bring_the_profile_in():
    # HL7 test obs-temp-bad.json: SNOMED CT 276885007 (core body temperature) alone; which codes mean the same
    # measure is a terminology's knowledge, not R4's
    observation = temperature(code={"coding": [{"system": "http://snomed.info/sct", "code": "276885007"}]})
    del observation["effectiveDateTime"]
    assert issues(observation) == []
    assert issues(copy.deepcopy({**observation, "code": {"text": "temperature"}})) == []
