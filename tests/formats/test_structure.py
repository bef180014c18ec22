"""The element index built from the official R4 StructureDefinitions."""
from __future__ import annotations

import time

from fhir_server.formats.structure import COMPLEX, PRIMITIVE, RESOURCE, XHTML, element_index
from validation.definitions import structure_definitions


def test_index_is_built_quickly_and_once():
    structure_definitions()
    element_index.cache_clear()
    start = time.perf_counter()
    index = element_index()
    assert time.perf_counter() - start < 2
    assert element_index() is index


def test_resource_children_in_definition_order_with_inherited_elements():
    names = list(element_index().children("Patient"))
    assert names[:8] == ["id", "meta", "implicitRules", "language", "text", "contained", "extension",
                         "modifierExtension"]
    assert names.index("identifier") < names.index("active") < names.index("name")


def test_cardinality_and_kinds():
    index = element_index()
    name, active, contained = (index.child("Patient", n) for n in ("name", "active", "contained"))
    assert name.is_array and name.kind == COMPLEX and name.children_key == "HumanName"
    assert not active.is_array and active.kind == PRIMITIVE and active.type_code == "boolean"
    assert contained.kind == RESOURCE
    assert index.child("Narrative", "div").kind == XHTML
    assert index.child("HumanName", "given").is_array


def test_choice_elements_expand_per_type_and_share_their_position():
    children = element_index().children("Observation")
    assert children["valueQuantity"].type_code == "Quantity"
    assert children["valueString"].type_code == "string"
    assert children["valueQuantity"].order == children["valueString"].order
    assert "value[x]" not in children and "valueX" not in children


def test_element_id_and_extension_url_are_xml_attributes_but_resource_id_is_not():
    index = element_index()
    assert index.child("Element", "id").xml_attr and index.child("HumanName", "id").xml_attr
    assert index.child("Extension", "url").xml_attr and index.child("Extension", "url").type_code == "uri"
    resource_id = index.child("Patient", "id")
    assert not resource_id.xml_attr and resource_id.type_code == "id"
    assert index.child("Element", "id").type_code == "string"


def test_backbone_elements_and_content_references():
    index = element_index()
    contact = index.child("Patient", "contact")
    assert contact.children_key == "Patient.contact" and "relationship" in index.children("Patient.contact")
    assert index.child("Questionnaire.item", "item").children_key == "Questionnaire.item"
    assert index.child("Bundle.entry", "link").children_key == "Bundle.link"
    assert index.child("Parameters.parameter", "part").children_key == "Parameters.parameter"
    assert index.child("Bundle.entry", "resource").kind == RESOURCE
    assert index.child("Bundle.entry.response", "outcome").kind == RESOURCE
    assert "count" in index.children(index.child("Timing", "repeat").children_key)


def test_resource_types_are_the_concrete_ones():
    index = element_index()
    assert index.is_resource_type("Patient") and index.is_resource_type("Bundle")
    assert not index.is_resource_type("DomainResource") and not index.is_resource_type("HumanName")
    assert index.children("NoSuchType") == {}
