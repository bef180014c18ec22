"""The content rules of R4 narrative.html beyond txt-1 and txt-2: paragraphs, URLs and internal links."""
from __future__ import annotations

import pytest

from validation import validate_resource

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def narrated(div: str, **elements) -> dict:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": f"<div {XHTML}>{div}</div>"},
            **elements}


def found(resource: dict) -> list[tuple[str, str, str]]:
    return [(i.severity, i.code, i.path) for i in validate_resource(resource)]


@pytest.mark.parametrize("block, name", [
    ("<p>x</p>", "p"), ("<div>x</div>", "div"), ("<table><tr><td>x</td></tr></table>", "table"),
    ("<ul><li>x</li></ul>", "ul"), ("<blockquote>x</blockquote>", "blockquote"), ("<h2>x</h2>", "h2"),
    ("<pre>x</pre>", "pre"), ("<hr/>", "hr"), ("<dl><dt>x</dt></dl>", "dl"),
])
def test_a_paragraph_cannot_contain_a_block_element(block, name):
    [issue] = validate_resource(narrated(f"<p>a <span>{block}</span></p>"))
    assert (issue.severity, issue.code, issue.path) == ("error", "structure", "Patient.text.div")
    assert f"found <{name}> inside a <p>" in issue.message


def test_the_official_validator_case_of_a_p_in_a_p():
    # list-xhtml-nested.xml: "Invalid element name inside a paragraph in the XHTML ('p')"
    assert found(narrated("<p>one<p>two</p></p>")) == [("error", "structure", "Patient.text.div")]


def test_inline_elements_in_a_paragraph_and_blocks_beside_it_are_valid():
    div = ('<p>a <b>b</b> <span class="x"><a href="http://example.org">c</a><br/><img src="http://e.org/i.png" '
           'alt="i"/></span></p><div><p>d</p><table><tr><td><p>e</p></td></tr></table></div>'
           '<ul><li><p>f</p></li></ul><blockquote><p>g</p></blockquote>')
    assert found(narrated(div)) == []


@pytest.mark.parametrize("url, characters", [
    ("http://example.com/{[-}]/link.html", "'{', '}'"),  # HL7 test patient-url-bad.xml
    ("http://example.com/a b", "' '"),
    ('http://example.com/"quoted"', "'\"'"),
    ("http://example.com/a\\b^c`d", "'\\\\', '^', '`'"),
])
def test_a_link_or_image_url_must_be_a_uri(url, characters):
    escaped = url.replace("&", "&amp;").replace('"', "&quot;")
    for markup in (f'<a href="{escaped}">x</a>', f'<img src="{escaped}" alt="x"/>'):
        [issue] = validate_resource(narrated(f"<p>{markup}</p>"))
        assert (issue.severity, issue.code, issue.path) == ("error", "value", "Patient.text.div")
        assert f"characters {characters}" in issue.message


@pytest.mark.parametrize("url", [
    "http://example.org/fhir/ValueSet/x|4.0.1",  # a versioned canonical URL
    "https://example.org/a%20b?c=d&e=f#g", "mailto:a@example.org", "tel:+33-1-23", "Patient/123",
    "http://example.org/caf\u00e9",  # HTML 4.01 B.2.1: non-ASCII characters are escaped by the user agent
    " http://example.org/trimmed ", "data:text/plain;charset=utf-8,a b",  # data: URLs are not checked here
])
def test_valid_urls_are_accepted(url):
    assert found(narrated(f'<p><a href="{url.replace("&", "&amp;")}">x</a></p>')) == []


@pytest.mark.parametrize("url", ["urn:uuid:7221aa91-d9e1-44fa-8b90-c5a8c7caeade", "cid:part1@example.org",
                                 " URN:oid:1.2.3"])
def test_links_no_browser_opens_are_errors_as_the_official_validator_says_that_writes_tolerate(url):
    resource = narrated(f'<p><a href="{url}">x</a></p>')
    [issue] = validate_resource(resource)
    assert (issue.severity, issue.code, issue.path, issue.tolerated) == \
        ("error", "business-rule", "Patient.text.div", True)
    assert url in issue.message
    assert [(i.severity, i.code) for i in validate_resource(resource, lenient=True)] == [("warning", "business-rule")]
    assert found(narrated(f'<p><img src="{url}" alt="x"/></p>')) == []  # an image source is not a hyperlink


def test_internal_links_resolve_to_ids_and_anchors_of_the_resource():
    div = ('<p id="top"><a name="sec1">Section</a> <a href="#sec1">1</a> <a href="#top">top</a> '
           '<a href="#org1">org</a> <a href="#n1">name</a> <img src="#pic" alt="p"/> <a href="#">self</a></p>')
    resource = narrated(div, name=[{"id": "n1", "family": "Doe"}],
                        contained=[{"resourceType": "Organization", "id": "org1", "name": "Acme"},
                                   {"resourceType": "Binary", "id": "pic", "contentType": "image/png"}])
    assert found(resource) == []


def test_an_internal_link_that_resolves_nowhere_is_a_warning():
    # bundle-with-contained.json; the v3 code systems of the official examples have such links too
    [issue] = validate_resource(narrated('<p><a href="#nowhere">x</a> <img src="#nopic" alt="x"/></p>'))
    assert (issue.severity, issue.code, issue.path) == ("warning", "informational", "Patient.text.div")
    assert "#nopic, #nowhere" in issue.message


def test_in_a_bundle_a_narrative_may_link_to_an_anchor_of_another_entry():
    composition = {"resourceType": "Composition", "status": "final", "type": {"text": "x"}, "date": "2024",
                   "author": [{"display": "a"}], "title": "t",
                   "text": {"status": "generated", "div": f'<div {XHTML}><a href="#allergy1">allergy</a></div>'}}
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"display": "p"},
               "text": {"status": "generated", "div": f'<div {XHTML}><p id="allergy1">Peanuts</p></div>'}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": composition},
                                                                       {"resource": allergy}]}
    assert found(bundle) == []
    bundle["entry"].pop()
    assert found(bundle) == [("warning", "informational", "Bundle.entry[0].resource.text.div")]
