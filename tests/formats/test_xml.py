"""FHIR XML <-> JSON on hand-written cases: the rules of R4 xml.html, and the input that must be refused."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
from lxml import etree

from fhir_server.formats import FhirFormatError, fhir_json
from fhir_server.formats.fhir_json import FhirDecimal
from fhir_server.formats.xml import FHIR_NS, XHTML_NS, json_to_xml, xml_to_json

F, H = f"{{{FHIR_NS}}}", f"{{{XHTML_NS}}}"
EXT = "http://example.org/fhir/StructureDefinition/note"


def xml_doc(body: str, root: str = "Patient") -> bytes:
    return f'<{root} xmlns="{FHIR_NS}">{body}</{root}>'.encode()


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def round_trip(resource: dict) -> dict:
    back = xml_to_json(json_to_xml(resource))
    assert back == resource
    return back


def test_output_is_well_formed_fhir_xml_with_a_declaration():
    data = json_to_xml({"resourceType": "Patient", "id": "p1", "active": True})
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = parse(data)
    assert root.tag == F + "Patient"
    assert [(c.tag, c.get("value")) for c in root] == [(F + "id", "p1"), (F + "active", "true")]


def test_children_follow_the_definition_order_whatever_the_json_key_order():
    patient = {"resourceType": "Patient", "identifier": [{"value": "1"}], "active": False,
               "name": [{"given": ["A"], "family": "B"}], "birthDate": "2000-01-01", "id": "x"}
    backwards = dict(reversed(list(patient.items())))
    data = json_to_xml(patient)
    assert data == json_to_xml(backwards)
    names = [etree.QName(c).localname for c in parse(data)]
    assert names == ["id", "identifier", "active", "name", "birthDate"]
    assert [etree.QName(c).localname for c in parse(data).find(F + "name")] == ["family", "given"]
    round_trip(patient)


def test_primitive_with_only_an_extension_has_no_value_attribute():
    patient = {"resourceType": "Patient", "_birthDate": {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}}
    birth_date = parse(json_to_xml(patient)).find(F + "birthDate")
    assert birth_date.get("value") is None
    extension = birth_date.find(F + "extension")
    assert extension.get("url").endswith("data-absent-reason")
    assert extension.find(F + "valueCode").get("value") == "unknown"
    round_trip(patient)


def test_primitive_arrays_align_values_and_extensions_by_index():
    patient = {"resourceType": "Patient", "name": [{
        "given": ["Anna", None, "Carla"],
        "_given": [None, {"id": "g2", "extension": [{"url": EXT, "valueString": "masked"}]}, None]}]}
    given = parse(json_to_xml(patient)).findall(f"{F}name/{F}given")
    assert [g.get("value") for g in given] == ["Anna", None, "Carla"]
    assert given[1].get("id") == "g2" and given[1].find(F + "extension") is not None
    round_trip(patient)
    only_extensions = {"resourceType": "Patient", "name": [{"_given": [{"extension": [
        {"url": EXT, "valueBoolean": True}]}]}]}
    round_trip(only_extensions)


def test_element_id_is_an_attribute_and_resource_id_an_element():
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"id": "n1", "family": "Doe"}],
               "extension": [{"id": "e1", "url": EXT, "valueString": "x"}]}
    root = parse(json_to_xml(patient))
    assert root.get("id") is None and root.find(F + "id").get("value") == "p1"
    assert root.find(F + "name").get("id") == "n1" and root.find(f"{F}name/{F}id") is None
    extension = root.find(F + "extension")
    assert extension.get("id") == "e1" and extension.get("url") == EXT
    round_trip(patient)


def test_narrative_div_is_real_xhtml_with_markup_and_entities():
    div = f'<div xmlns="{XHTML_NS}"><p>a &lt; b &amp; <b>bold <i>nested</i></b> &gt; c</p><br/></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    xml_div = parse(json_to_xml(patient)).find(f"{F}text/{H}div")
    assert xml_div is not None
    assert xml_div.find(H + "p").text == "a < b & "
    assert xml_div.find(f"{H}p/{H}b/{H}i").text == "nested"
    assert round_trip(patient)["text"]["div"] == div


def test_narrative_with_html_named_entities_and_without_namespace_is_accepted():
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>a&nbsp;b<p>c</p></div>"}}
    back = xml_to_json(json_to_xml(patient))
    assert back["text"]["div"] == f'<div xmlns="{XHTML_NS}">a\u00a0b<p>c</p></div>'


def test_narrative_in_a_prefixed_namespace_becomes_the_default_namespace_in_json():
    data = (f'<Patient xmlns="{FHIR_NS}" xmlns:h="{XHTML_NS}"><text><status value="generated"/>'
            f'<h:div><h:p>hi</h:p></h:div></text></Patient>').encode()
    assert xml_to_json(data)["text"]["div"] == f'<div xmlns="{XHTML_NS}"><p>hi</p></div>'


def test_contained_resources_are_wrapped():
    patient = {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "org1",
                                                         "name": "Acme"}],
               "managingOrganization": {"reference": "#org1"}}
    contained = parse(json_to_xml(patient)).find(F + "contained")
    assert [c.tag for c in contained] == [F + "Organization"]
    assert contained[0].find(F + "name").get("value") == "Acme"
    round_trip(patient)


def test_bundle_entries_carry_resources_requests_and_outcomes():
    bundle = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "active": True},
         "response": {"status": "201 Created", "outcome": {"resourceType": "OperationOutcome", "issue": [
             {"severity": "information", "code": "informational"}]}}},
        {"response": {"status": "200 OK"}, "link": [{"relation": "self", "url": "http://x/Patient/1"}]}]}
    root = parse(json_to_xml(bundle))
    entry = root.findall(F + "entry")
    assert [etree.QName(c).localname for c in entry[0]] == ["fullUrl", "resource", "response"]
    assert entry[0].find(f"{F}resource/{F}Patient/{F}active").get("value") == "true"
    assert entry[0].find(f"{F}response/{F}outcome/{F}OperationOutcome") is not None
    assert [etree.QName(c).localname for c in entry[1]] == ["link", "response"]
    round_trip(bundle)


def test_parameters_with_resources_and_recursive_parts():
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "p", "resource": {"resourceType": "Patient", "id": "1"}},
        {"name": "q", "part": [{"name": "r", "valueInteger": 3, "part": [{"name": "s", "valueDecimal": 0.5}]}]}]}
    written = ('<parameter><name value="p"/><resource><Patient><id value="1"/></Patient></resource></parameter>'
               '<parameter><name value="q"/><part><name value="r"/><valueInteger value="3"/>'
               '<part><name value="s"/><valueDecimal value="0.5"/></part></part></parameter>')
    assert xml_to_json(xml_doc(written, "Parameters")) == parameters  # read as the spec writes it
    root = parse(json_to_xml(parameters))  # and written so
    first, second = root.findall(f"{F}parameter")
    assert first.find(f"{F}resource/{F}Patient/{F}id").get("value") == "1"
    inner = second.find(f"{F}part/{F}part")
    assert [(child.tag, child.get("value")) for child in inner] == [(f"{F}name", "s"), (f"{F}valueDecimal", "0.5")]
    assert second.find(f"{F}part/{F}valueInteger").get("value") == "3"
    round_trip(parameters)


def test_decimals_keep_their_digits():
    data = xml_doc('<status value="final"/><code><text value="w"/></code>'
                   '<valueQuantity><value value="1.50"/><unit value="kg"/></valueQuantity>', "Observation")
    observation = xml_to_json(data)
    value = observation["valueQuantity"]["value"]
    assert isinstance(value, FhirDecimal) and value == Decimal("1.5") and str(value) == "1.50"
    assert '"value":1.50' in fhir_json.dumps(observation)
    assert parse(json_to_xml(observation)).find(f"{F}valueQuantity/{F}value").get("value") == "1.50"
    from_json = fhir_json.loads(fhir_json.dumps(observation))
    assert parse(json_to_xml(from_json)).find(f"{F}valueQuantity/{F}value").get("value") == "1.50"
    for number, text in ((1.5, "1.5"), (100, "100"), (1e-05, "1e-5"), (3.0, "3.0"), (Decimal("0.0000001"), "1E-7"),
                         (FhirDecimal("0.0000001"), "0.0000001")):
        observation["valueQuantity"]["value"] = number
        assert parse(json_to_xml(observation)).find(f"{F}valueQuantity/{F}value").get("value") == text


def test_decimals_must_be_json_numbers():
    for text in ("1.", ".5", "+1", "01.5", "1,5", "NaN"):
        with pytest.raises(FhirFormatError, match="not a valid decimal"):
            xml_to_json(xml_doc(f'<valueQuantity><value value="{text}"/></valueQuantity>', "Observation"))


def test_booleans_and_numbers_are_typed_after_xml_to_json():
    data = xml_doc('<active value="true"/><deceasedBoolean value="false"/><multipleBirthInteger value="2"/>'
                   '<photo><size value="1024"/></photo>')
    patient = xml_to_json(data)
    assert patient["active"] is True and patient["deceasedBoolean"] is False
    assert patient["multipleBirthInteger"] == 2 and type(patient["multipleBirthInteger"]) is int
    assert patient["photo"] == [{"size": 1024}]  # a repeating element is an array even with one item
    timing = xml_to_json(xml_doc('<status value="active"/><intent value="order"/><subject><reference '
                                 'value="Patient/1"/></subject><dosageInstruction><timing><repeat>'
                                 '<count value="3"/><duration value="10"/><period value="0.5"/></repeat>'
                                 '</timing></dosageInstruction>', "MedicationRequest"))
    repeat = timing["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat == {"count": 3, "duration": 10, "period": 0.5}
    assert type(repeat["count"]) is int and type(repeat["duration"]) is int
    strings = xml_to_json(xml_doc('<identifier><value value="0012"/></identifier><birthDate value="2000"/>'))
    assert strings["identifier"][0]["value"] == "0012" and strings["birthDate"] == "2000"


def test_whitespace_comments_and_foreign_attributes_are_ignored():
    data = (f'<?xml version="1.0"?>\n<!-- c --><Patient xmlns="{FHIR_NS}" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x y">\n'
            f'  <!-- comment --><active value="true"/>\n  <?pi x?>\n</Patient>').encode()
    assert xml_to_json(data) == {"resourceType": "Patient", "active": True}


def test_pretty_printing_indents_fhir_elements_but_not_the_narrative():
    div = f'<div xmlns="{XHTML_NS}"><p>a</p><p>b</p></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}, "active": True}
    pretty = json_to_xml(patient, pretty=True)
    assert b"\n  <text>\n    <status" in pretty and div.encode() in pretty
    assert xml_to_json(pretty) == patient


@pytest.mark.parametrize("data, fragment", [
    (b"", "not well-formed"),
    (b"this is not xml", "not well-formed"),
    (b'<Patient xmlns="http://hl7.org/fhir"><name>', "not well-formed"),
    (b"<Patient><active value='true'/></Patient>", "namespace"),
    (b'<Patient xmlns="http://hl7.org/fhirx"/>', "namespace"),
    (xml_doc('<x:active xmlns:x="urn:other" value="true"/>'), "namespace"),
    (xml_doc("", "NoSuchResource"), "Unknown resource type"),
    (xml_doc("", "HumanName"), "Unknown resource type"),
    (xml_doc('<name value="x"/>'), "'value' attribute"),
    (xml_doc('<active value="true" other="1"/>'), "Unknown attribute"),
    (xml_doc('<active value="yes"/>'), "Boolean values must be"),
    (xml_doc('<multipleBirthInteger value="1.5"/>'), "not a valid integer"),
    (xml_doc('<active value="true"/><active value="false"/>'), "repeats"),
    (xml_doc('<deceasedBoolean value="true"/><deceasedDateTime value="2020"/>'), "choice"),
    (xml_doc("<active>true</active>"), "Text is not allowed"),
    (xml_doc("<gender/>"), "no value"),
    (xml_doc('<text><status value="generated"/><div xmlns="urn:x">x</div></text>'), "Wrong namespace"),
    (xml_doc('<contained/>'), "exactly one resource"),
])
def test_bad_xml_is_refused_with_a_format_error(data, fragment):
    with pytest.raises(FhirFormatError) as caught:
        xml_to_json(data)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("body, path, message", [
    ('<gender value="male"/><active value="true"/>', "Patient.active", "'active' is out of order (found after 'gender')"),
    # repetitions of one element come together: another element between them is out of order
    ('<name><given value="a"/><family value="b"/><given value="c"/></name>', "Patient.name[0].family",
     "'family' is out of order (found after 'given')"),
    # the elements of Resource and DomainResource come first, in their order
    ('<active value="true"/><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">x</div>'
     '</text>', "Patient.text", "'text' is out of order (found after 'active')"),
    ('<extension url="http://x"><valueString value="a"/><extension url="y"><valueCode value="b"/></extension>'
     '</extension>', "Patient.extension[0].extension", "'extension' is out of order (found after 'valueString')"),
    ('<managingOrganization><identifier><value value="1"/></identifier><type value="Organization"/>'
     '</managingOrganization>', "Patient.managingOrganization.type", "'type' is out of order"),
])
def test_elements_out_of_the_order_of_the_definitions_are_refused(body, path, message):
    # R4 xml.html: "Elements must always appear in the order documented"
    with pytest.raises(FhirFormatError) as caught:
        xml_to_json(xml_doc(body))
    assert caught.value.path == path and message in str(caught.value)


def test_elements_in_the_order_of_the_definitions_are_read_whatever_the_choice_or_repetition():
    body = ('<id value="p1"/><extension url="http://x"><valueString value="a"/></extension><active value="true"/>'
            '<name><family value="b"/><given value="c"/><given value="d"/></name><name><text value="e"/></name>'
            '<gender value="male"/><deceasedBoolean value="false"/><contact><name><family value="f"/></name>'
            '<gender value="female"/></contact>')
    assert xml_to_json(xml_doc(body)) == {
        "resourceType": "Patient", "id": "p1", "extension": [{"url": "http://x", "valueString": "a"}],
        "active": True, "name": [{"family": "b", "given": ["c", "d"]}, {"text": "e"}], "gender": "male",
        "deceasedBoolean": False, "contact": [{"name": {"family": "f"}, "gender": "female"}]}


def test_unknown_elements_are_reported_with_their_path():
    with pytest.raises(FhirFormatError) as caught:
        xml_to_json(xml_doc('<name><family value="a"/></name><name><given value="b"/><nickname value="c"/></name>'))
    assert caught.value.path == "Patient.name[1].nickname" and "Unknown element 'nickname'" in str(caught.value)


def test_xxe_is_refused_and_nothing_is_read():
    attack = (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
              b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&x;"/></name><id value="&x;"/>'
              b'</Patient>')
    with pytest.raises(FhirFormatError, match="DOCTYPE"):
        xml_to_json(attack)
    in_utf16 = attack.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    with pytest.raises(FhirFormatError):
        xml_to_json(in_utf16)


def test_any_doctype_is_refused_even_where_a_byte_scan_cannot_see_it():
    internal = (f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE p [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]>'
                f'<Patient xmlns="{FHIR_NS}"><id value="&b;"/></Patient>')
    for document in (internal, f'<!DOCTYPE Patient><Patient xmlns="{FHIR_NS}"/>'):
        with pytest.raises(FhirFormatError, match="DOCTYPE"):
            xml_to_json(document.encode("utf-16"))


def test_billion_laughs_is_refused_quickly():
    entities = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
            f'<Patient xmlns="{FHIR_NS}"><name><family value="&lol9;"/></name></Patient>').encode()
    start = time.perf_counter()
    with pytest.raises(FhirFormatError, match="DOCTYPE"):
        xml_to_json(bomb)
    assert time.perf_counter() - start < 1


def test_doctype_inside_a_json_narrative_is_refused():
    div = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><div xmlns="http://www.w3.org/1999/xhtml">&x;</div>'
    with pytest.raises(FhirFormatError) as caught:
        json_to_xml({"resourceType": "Patient", "text": {"status": "generated", "div": div}})
    assert caught.value.path == "Patient.text.div"


@pytest.mark.parametrize("resource, fragment, path", [
    ({"resourceType": "Patient", "foo": 1}, "Unknown property 'foo'", "Patient.foo"),
    ({"resourceType": "Patient", "name": [{"given": ["a"], "nick": "b"}]}, "Unknown property 'nick'",
     "Patient.name[0].nick"),
    ({"resourceType": "Patient", "_name": [{}]}, "Unknown property '_name'", "Patient._name"),
    ({"resourceType": "Patient", "name": {"family": "a"}}, "JSON array", "Patient.name"),
    ({"resourceType": "Patient", "gender": ["male"]}, "must not be a JSON array", "Patient.gender"),
    ({"resourceType": "Patient", "active": {"value": True}}, "primitive", "Patient.active"),
    ({"resourceType": "Patient", "name": [{"given": ["a", None]}]}, "null", "Patient.name[0].given[1]"),
    ({"resourceType": "Patient", "name": [{"given": ["a"], "_given": [None, None]}]}, "lengths",
     "Patient.name[0].given"),
    ({"resourceType": "Patient", "name": ["Doe"]}, "JSON object", "Patient.name[0]"),
    ({"resourceType": "Patient", "name": [{"family": "a\x0b"}]}, "cannot be written in XML",
     "Patient.name[0].family"),
    ({"resourceType": "Patient", "text": {"status": "generated", "div": "<div><p>x</div>"}}, "not well-formed",
     "Patient.text.div"),
    ({"resourceType": "Patient", "deceasedBoolean": True, "deceasedDateTime": "2020"}, "choice", "Patient"),
    ({"resourceType": "Patient", "contained": [{"id": "x"}]}, "Missing resourceType", "Patient.contained[0]"),
    ({"resourceType": "NoSuchType"}, "Unknown resource type", ""),
    ({"id": "x"}, "Missing resourceType", ""),
])
def test_bad_json_is_refused_with_a_format_error(resource, fragment, path):
    with pytest.raises(FhirFormatError) as caught:
        json_to_xml(resource)
    assert fragment in str(caught.value) and caught.value.path == path


def test_non_object_json_is_refused():
    with pytest.raises(FhirFormatError):
        json_to_xml(["not", "a", "resource"])  # type: ignore[arg-type]
