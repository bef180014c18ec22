"""Extensions against the core extension definitions of R4 (validation/extensions.py): context, value type,
sub-extensions and modifier status; unknown core urls a warning, other unknown urls accepted."""
from __future__ import annotations

import pytest

from validation import validate_resource
from validation.extensions import _definition, extension_issues

CORE = "http://hl7.org/fhir/StructureDefinition/"
BIRTH_PLACE = {"url": CORE + "patient-birthPlace", "valueAddress": {"city": "Lyon", "country": "FR"}}
EN_USE = {"url": CORE + "iso21090-EN-use", "valueCode": "L"}
ABSENT = {"url": CORE + "data-absent-reason", "valueCode": "unknown"}
NATIONALITY = {"url": CORE + "patient-nationality", "extension": [
    {"url": "code", "valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:3166", "code": "FR"}]}},
    {"url": "period", "valuePeriod": {"start": "2001-02-03"}}]}
SPECIES = {"url": "species", "valueCodeableConcept": {"text": "dog"}}


def problems(resource: dict) -> set[tuple[str, str]]:
    return {(i.path, i.code) for i in extension_issues(resource) if i.severity == "error"}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", **elements}


def animal(*sub_extensions: dict) -> dict:
    return {"url": CORE + "patient-animal", "extension": list(sub_extensions)}


def test_core_extensions_in_their_contexts_are_valid():
    resource = patient(
        extension=[BIRTH_PLACE, NATIONALITY, animal(SPECIES, {"url": "breed", "valueCodeableConcept": {"text": "x"}})],
        name=[{"extension": [EN_USE], "family": "Martin", "_family": {"extension": [
            {"url": CORE + "humanname-own-prefix", "valueString": "de"}]}, "given": ["Jeanne", "Marie"],
            "_given": [None, {"extension": [{"url": CORE + "iso21090-EN-qualifier", "valueCode": "CL"}]}]}],
        birthDate="1970-01-02",
        _birthDate={"extension": [{"url": CORE + "patient-birthTime", "valueDateTime": "1970-01-02T10:00:00+01:00"}]},
        gender="female", _gender={"extension": [ABSENT]})
    assert validate_resource(resource) == []


@pytest.mark.parametrize("resource, path", [
    (patient(extension=[EN_USE]), "Patient.extension[0]"),  # context HumanName, not Patient
    # the official validator's case maiden-name.json: its context is HumanName.family, not the name itself
    (patient(name=[{"family": "A", "extension": [{"url": CORE + "humanname-mothers-family", "valueString": "B"}]}]),
     "Patient.name[0].extension[0]"),
    (patient(contact=[{"extension": [BIRTH_PLACE]}]), "Patient.contact[0].extension[0]"),  # Patient only
    (patient(_birthDate={"extension": [EN_USE]}), "Patient.birthDate.extension[0]"),
    ({"resourceType": "Observation", "extension": [BIRTH_PLACE]}, "Observation.extension[0]"),
])
def test_a_core_extension_outside_its_context_is_refused(resource, path):
    issues = [i for i in extension_issues(resource) if i.path == path]
    assert [(i.severity, i.code) for i in issues] == [("error", "structure")]
    assert "not allowed on" in issues[0].message


def test_a_context_type_allows_its_specializations():
    sc_coding = {"url": CORE + "iso21090-SC-coding", "valueCoding": {"code": "x"}}  # context: string
    assert problems(patient(gender="male", _gender={"extension": [sc_coding]})) == set()  # a code is a string
    assert problems(patient(birthDate="2000", _birthDate={"extension": [sc_coding]})) == {
        ("Patient.birthDate.extension[0]", "structure")}  # a date is not
    uncertainty = {"url": CORE + "iso21090-uncertainty", "valueDecimal": 0.5}  # context: Quantity
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                 "onsetAge": {"value": 3, "extension": [uncertainty]}}
    assert problems(condition) == set()  # an Age is a Quantity


def test_resources_inside_resources_are_their_own_context():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient(extension=[BIRTH_PLACE])},
        {"resource": patient(contained=[{"resourceType": "Organization", "extension": [BIRTH_PLACE]}])}]}
    assert problems(bundle) == {("Bundle.entry[1].resource.contained[0].extension[0]", "structure")}


@pytest.mark.parametrize("extension, path", [
    ({"url": CORE + "patient-birthPlace", "valueString": "Lyon"}, "Patient.extension[0].value[x]"),
    ({"url": CORE + "data-absent-reason", "valueCoding": {"code": "unknown"}}, "Patient.extension[0].value[x]"),
    # the official validator's case ips-htmlrefs-backwards.json: narrativeLink is a url, not a uri
    ({"url": CORE + "narrativeLink", "valueUri": "#a"}, "Patient.extension[0].value[x]"),
    ({"url": CORE + "patient-nationality", "valueCode": "FR"}, "Patient.extension[0].value[x]"),
    (animal({"url": "species", "valueString": "dog"}), "Patient.extension[0].extension[0].value[x]"),
])
def test_a_value_of_a_type_the_definition_does_not_allow_is_refused(extension, path):
    assert problems(patient(extension=[extension])) == {(path, "structure")}


def test_a_simple_extension_has_a_value_and_no_sub_extension():
    assert problems(patient(extension=[{"url": CORE + "patient-birthPlace"}])) == {
        ("Patient.extension[0].value[x]", "required")}
    with_sub = {**BIRTH_PLACE, "extension": [{"url": "city", "valueString": "Lyon"}]}
    assert problems(patient(extension=[with_sub])) == {("Patient.extension[0].extension", "structure")}


def test_a_complex_extension_needs_its_required_sub_extensions():
    # the official validator's case patient-extension-complex-bad1.xml: patient-animal without its species
    assert problems(patient(extension=[animal({"url": "breed", "valueCodeableConcept": {"text": "x"}})])) == {
        ("Patient.extension[0]", "required")}
    assert problems(patient(extension=[animal(SPECIES, SPECIES)])) == {("Patient.extension[0]", "structure")}
    assert problems(patient(extension=[{"url": CORE + "patient-nationality"}])) == {("Patient.extension[0]", "required")}


def test_a_sub_extension_the_definition_does_not_define_is_refused():
    # the official validator's case patient-extension-complex-bad2.xml
    issues = extension_issues(patient(extension=[animal(SPECIES, {"url": "species-x", "valueString": "y"})]))
    assert [(i.path, i.code) for i in issues] == [("Patient.extension[0].extension[1]", "structure")]
    assert "'species-x'" in issues[0].message
    # an absolute url in a complex extension is an extension of its own, checked as such
    assert problems(patient(extension=[animal(SPECIES, ABSENT)])) == set()
    assert problems(patient(extension=[animal(SPECIES, EN_USE)])) == {("Patient.extension[0].extension[1]", "structure")}


def test_a_modifier_extension_only_in_modifier_extension():
    do_not_perform = {"url": CORE + "request-doNotPerform", "valueBoolean": True}  # isModifier, on NutritionOrder
    order = {"resourceType": "NutritionOrder", "status": "active", "intent": "order",
             "patient": {"reference": "Patient/1"}, "dateTime": "2020-01-01"}
    assert validate_resource({**order, "modifierExtension": [do_not_perform]}) == []
    issues = extension_issues({**order, "extension": [do_not_perform]})
    assert [(i.path, i.code) for i in issues] == [("NutritionOrder.extension[0]", "structure")]
    assert "modifierExtension" in issues[0].message
    assert problems(patient(modifierExtension=[BIRTH_PLACE])) == {("Patient.modifierExtension[0]", "structure")}


@pytest.mark.parametrize("url", [CORE + "x", CORE + "patient-birthplace", CORE, CORE + "Patient", CORE + "../x"])
def test_an_unknown_core_extension_is_a_warning(url):
    """R4 does not define it: a misspelling, or an extension of the HL7 extensions pack (valid R4 data)."""
    issues = validate_resource(patient(extension=[{"url": url, "valueString": "x"}]))
    assert [(i.path, i.code, i.severity) for i in issues] == [("Patient.extension[0].url", "structure", "warning")]
    assert "Unknown core extension" in issues[0].message


def test_a_versioned_extension_url_is_refused():
    issues = [i for i in validate_resource(patient(extension=[{"url": CORE + "patient-birthPlace|4.0.1",
                                                                "valueAddress": {"city": "Nantes"}}]))
              if i.severity == "error"]
    assert [(i.path, i.code) for i in issues] == [("Patient.extension[0].url", "structure")]


def test_a_relative_url_only_for_a_sub_extension():
    assert problems(patient(extension=[{"url": "species", "valueString": "x"}])) == {
        ("Patient.extension[0].url", "structure")}


@pytest.mark.parametrize("url", [
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/whatever",
    "http://example.org/fhir/StructureDefinition/vendor",
    "http://hl7.org/fhir/1.0/StructureDefinition/extension-Patient.animal",  # cross-version: not defined in R4
    "http://acme.com/fhir/ext",
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
    "https://fhir-server.org/StructureDefinition/anything",
])
def test_extensions_of_example_domains_and_of_the_igs_we_serve_are_accepted_silently(url):
    """As the official validator with FR Core, the ANS and IHE IGs loaded accepts them (we lack their definitions)."""
    resource = _with_everywhere(url)
    assert validate_resource(resource) == []


def _with_everywhere(url: str) -> dict:
    unknown = {"url": url, "extension": [{"url": "anything", "valueString": "x"}, {"url": "n", "valueInteger": 1}]}
    return patient(extension=[unknown, {"url": url, "valueCode": "x"}], modifierExtension=[{"url": url, "valueBoolean": True}],
                   name=[{"family": "A", "_family": {"extension": [{"url": url, "valueString": "x"}]}}])


@pytest.mark.parametrize("url", ["urn:oid:1.2.250.1.213.1.1.1", "https://vendor.fr/fhir/StructureDefinition/ext",
                                 "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"])
def test_other_unknown_extensions_are_errors_as_the_official_validator_says_that_writes_tolerate(url):
    strict = validate_resource(_with_everywhere(url))
    where = ["Patient.extension[0]", "Patient.extension[1]", "Patient.modifierExtension[0]",
             "Patient.name[0].family.extension[0]"]
    assert [(i.severity, i.code, i.path) for i in strict] == [("error", "structure", path) for path in where]
    assert all(f"The extension {url} could not be found so is not allowed here" in i.message and i.tolerated
               for i in strict)
    lenient = validate_resource(_with_everywhere(url), lenient=True)
    assert [(i.severity, i.path) for i in lenient] == [("warning", path) for path in where]


def test_values_of_other_elements_may_hold_any_extension():
    """ElementDefinition.fixed[x], pattern[x], example.value[x] and defaultValue[x] are values of other elements."""
    structure = {"resourceType": "StructureDefinition", "url": "http://example.org/sd", "name": "X",
                 "status": "draft", "kind": "resource", "abstract": False, "type": "Patient",
                 "baseDefinition": CORE + "Patient", "derivation": "constraint", "differential": {"element": [
                     {"path": "Patient.address", "fixedAddress": {"city": "Lyon", "extension": [BIRTH_PLACE]},
                      "example": [{"label": "x", "valueAddress": {"city": "Lyon", "extension": [BIRTH_PLACE]}}],
                      "type": [{"code": "Address", "extension": [
                          {"url": CORE + "structuredefinition-fhir-type", "valueUrl": "Address"}]}]}]}}
    assert problems(structure) == set()
    structure["differential"]["element"][0]["extension"] = [BIRTH_PLACE]
    assert problems(structure) == {("StructureDefinition.differential.element[0].extension[0]", "structure")}


@pytest.mark.parametrize("resource", [
    patient(extension={"url": CORE + "x"}),
    patient(extension=[None, 3, "x", [], {"url": 5}, {"url": None, "valueString": "x"}, {}]),
    patient(extension=[{"url": CORE + "patient-nationality", "extension": {"url": "code"}}]),
    patient(extension=[{"url": CORE + "patient-nationality", "extension": [None, {"url": 3}, {"url": "code"}]}]),
    patient(extension=[{"url": CORE + "patient-birthPlace", "valueAddress": None, "_valueAddress": 3}]),
    patient(contained=[{"resourceType": "Nope", "extension": [EN_USE]}, {"extension": [EN_USE]}, 5]),
    patient(name={"extension": [EN_USE]}, _birthDate=[None, {"extension": [EN_USE]}], unknown={"extension": [EN_USE]}),
    patient(**{"": {"extension": [EN_USE]}, "_": [{"extension": [EN_USE]}]}),
    {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "contained": [
        {"resourceType": "Bundle", "entry": [{"resource": patient(extension=[EN_USE])}]}]}}]},
])
def test_malformed_extensions_never_crash(resource):
    extension_issues(resource)
    validate_resource(resource)


def test_definitions_are_compiled_once_per_url():
    assert _definition(CORE + "patient-birthPlace") is _definition(CORE + "patient-birthPlace")
    assert _definition(CORE + "x") is None
    assert _definition("http://example.org/x") is None
