"""The rules of the R4 spec that neither the schema nor the models check."""
from __future__ import annotations

import pytest

from validation import validate_resource
from validation.rules import rule_issues

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def problems(resource: dict) -> set[tuple[str, str]]:
    return {(i.path, i.code) for i in rule_issues(resource)}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", **elements}


def extended(value: str = "x") -> dict:
    return {"extension": [{"url": "http://example.org/x", "valueString": value}]}


def test_null_entries_paired_with_their_companion():
    name = {"given": ["A", None, "C"], "_given": [None, extended(), extended()]}
    assert problems(patient(name=[name])) == set()


@pytest.mark.parametrize("name, path", [
    ({"given": [None, "B"]}, "Patient.name[0].given[0]"),
    ({"given": [None, "B"], "_given": [None, extended()]}, "Patient.name[0].given[0]"),
    ({"_given": [None]}, "Patient.name[0].given[0]"),
    ({"given": ["A", "B"], "_given": [extended()]}, "Patient.name[0].given"),
])
def test_null_entries_without_a_counterpart(name, path):
    assert problems(patient(name=[name])) == {(path, "structure")}


def test_extension_url_is_required():
    nested = {"url": "http://example.org/x", "extension": [{"valueCode": "b"}]}
    resource = patient(extension=[{"valueString": "a"}], name=[{"modifierExtension": [nested]}])
    assert problems(resource) == {("Patient.extension[0].url", "required"),
                                  ("Patient.name[0].modifierExtension[0].extension[0].url", "required")}


@pytest.mark.parametrize("div", [
    f"<div {XHTML}>plain</div>",
    f"<div {XHTML}><p>A &amp; B &lt; C &#169;</p><a name=\"x\"/><a href=\"#x\">x</a></div>",
    f"<div {XHTML}>\n  <table><tr><td>1</td></tr></table>\n</div>",
])
def test_valid_narrative(div):
    assert problems(patient(text={"status": "generated", "div": div})) == set()


@pytest.mark.parametrize("div", [
    "<div>no namespace</div>",
    f"<p {XHTML}>not a div</p>",
    '<div xmlns="http://example.org">other namespace</div>',
    f"<div {XHTML}><p>unclosed</pa></div>",  # HL7 test list-xhtml-syntax
    f"<div {XHTML}>CPT&reg;</div>",  # HL7 test xml-bad-entities: HTML entities are not XML
    f'<!DOCTYPE div [<!ENTITY x SYSTEM "file:///etc/passwd">]><div {XHTML}>&x;</div>',
    f"<div {XHTML}>text</div> trailing",
    "plain text",
])
def test_invalid_narrative(div):
    resource = patient(contained=[patient(text={"status": "generated", "div": div})])
    assert problems(resource) == {("Patient.contained[0].text.div", "value")}


def _narrative(div: str) -> dict:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": div}}


def test_narrative_with_script_or_event_handlers_is_refused_listing_each_offence():
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>'
           '<a href=" javascript:alert(2)" onclick="x()">x</a><iframe src="http://e.org"/></div>')
    issues = validate_resource(_narrative(div))
    assert [(i.severity, i.code, i.path) for i in issues] == [("error", "invariant", "Patient.text.div")]
    for offence in ("<script>", "'href' of <a>", "'onclick' of <a>", "<iframe>"):
        assert offence in issues[0].message


def test_basic_formatting_narrative_is_accepted_and_an_empty_one_is_txt_2_which_writes_tolerate():
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><p style="color:red">A <b>bold</b> '
           '<a href="http://example.org">link</a></p><table><tr><td>1</td></tr></table></div>')
    assert validate_resource(_narrative(div)) == []
    empty = _narrative('<div xmlns="http://www.w3.org/1999/xhtml"> </div>')
    assert [(i.severity, i.code, i.key, i.path) for i in validate_resource(empty)] == \
        [("error", "invariant", "txt-2", "Patient.text.div")]
    assert [(i.severity, i.key) for i in validate_resource(empty, lenient=True)] == [("warning", "txt-2")]


@pytest.mark.parametrize("character", ["\u0000", "\u0001", "\u0008", "\u000b", "\u000c", "\u000e", "\u001f"])
def test_control_characters_are_refused_in_any_string(character):
    resource = patient(name=[{"family": f"Dupont{character}", "given": ["Jean", f"{character}Paul"]}],
                       extension=[{"url": "http://example.org/x", "valueString": character}])
    assert problems(resource) == {("Patient.name[0].family", "value"), ("Patient.name[0].given[1]", "value"),
                                  ("Patient.extension[0].valueString", "value")}
    message = next(i.message for i in rule_issues(resource))
    assert f"U+{ord(character):04X}" in message


def test_tab_carriage_return_and_line_feed_are_allowed():
    assert problems(patient(name=[{"family": "Du\tpont", "text": "Jean\r\nDupont\n"}])) == set()
