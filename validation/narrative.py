"""Rules of R4 narrative.html on the content of a well-formed narrative, beyond txt-1 and txt-2 (rules.py).

- Block-level elements are not allowed in a paragraph: the narrative is XHTML made of the HTML 4.0
  formatting elements (narrative.html), and HTML 4.01 section 9.3.1 says "The P element represents a
  paragraph. It cannot contain block-level elements (including P itself)" (the XHTML 1.0 DTD gives ``p``
  inline content only). Browsers close the paragraph before such an element, so the markup does not mean
  what it says.
- The URL of a hyperlink (``a/@href``) or an image (``img/@src``) is a URI (HTML 4.01 section 6.4), and
  RFC 3986 allows neither spaces nor ``" < > \\ ^ ` { }`` in one: they must be percent-encoded. ``|`` is left
  alone (common in canonical URLs, ``url|version``, and accepted by the official validator), and so are
  non-ASCII letters (HTML 4.01 appendix B.2.1) and ``data:`` URLs.
- A hyperlink (``a/@href``) of the scheme ``urn:`` or ``cid:`` names something no browser can open (a
  ``urn:uuid:`` of a Bundle entry): the official validator refuses it ("not a valid hyperlinkable scheme");
  an error a write tolerates, as official Bundles link their entries' ``urn:uuid:`` fullUrls so.
- A link within the narrative, ``#name``, is an internal id reference whose "resolution scope ... is within
  the resource that contains them" (narrative.html#internal): it should name the ``id`` of an element or a
  contained resource, an XHTML ``id``, or an ``a`` ``name``. Only a warning: 26 official examples (the v3
  code systems and value sets) link to anchors they do not have. The scope is the whole resource validated,
  so that in a Bundle a narrative may link to another entry, as the official validator allows.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

from lxml import etree

from .issues import Issue

XHTML_NS = "http://www.w3.org/1999/xhtml"
_P = f"{{{XHTML_NS}}}p"
_A = f"{{{XHTML_NS}}}a"
# HTML 4.01 %block (section 7.5.3), of the elements a narrative may hold
BLOCK_ELEMENTS = frozenset(f"{{{XHTML_NS}}}{name}" for name in
                           "address blockquote div dl h1 h2 h3 h4 h5 h6 hr ol p pre table ul".split())
_URL_ATTRIBUTES = {_A: "href", f"{{{XHTML_NS}}}img": "src"}
_NOT_IN_A_URI = re.compile(r'[\x00-\x20"<>\\^`{}\x7f]')
_LITERAL_SCHEME = re.compile(r"\s*(urn|cid):", re.IGNORECASE)


def content_issues(div: etree._Element, path: str) -> list[Issue]:
    """Block elements inside a paragraph (`structure`) and URLs with characters a URI cannot hold (`value`), as one
    error each (issues merge by path and code)."""
    issues: list[Issue] = []
    nested = sorted({etree.QName(node).localname for paragraph in div.iter(_P)
                     for node in paragraph.iterdescendants() if node.tag in BLOCK_ELEMENTS})
    if nested:
        issues.append(Issue("error", "structure", path, "A paragraph (<p>) cannot contain block-level elements "
                            f"(HTML 4.01 section 9.3.1); found <{'>, <'.join(nested)}> inside a <p>"))
    bad_urls = [f"'{url}' (characters {', '.join(repr(c) for c in sorted(set(_NOT_IN_A_URI.findall(url))))})"
                for url in _urls(div) if not url.startswith("data:") and _NOT_IN_A_URI.search(url)]
    if bad_urls:
        issues.append(Issue("error", "value", path, "A hyperlink or image URL must be a valid URI (RFC 3986): "
                            f"percent-encode the characters it cannot hold; not valid: {'; '.join(bad_urls)}"))
    literal = [link for link in div.iter(_A) if _LITERAL_SCHEME.match(link.get("href", ""))]
    if literal:
        issues.append(Issue("error", "business-rule", path, "A hyperlink's scheme is not one a browser can open "
                            f"(urn:, cid:): {', '.join(repr(link.get('href')) for link in literal)}", tolerated=True))
    return issues


def internal_link_issues(resource: dict, narratives: list[tuple[etree._Element, str]]) -> list[Issue]:
    """A warning for each narrative whose `#` links (and image sources) name no anchor of the resource."""
    targets: set[str] | None = None
    issues: list[Issue] = []
    for div, path in narratives:
        fragments = [url[1:] for url in _urls(div) if url.startswith("#") and len(url) > 1]
        if not fragments:
            continue
        if targets is None:
            targets = set(_ids(resource)) | {name for other, _ in narratives for name in _anchors(other)}
        missing = sorted({f"#{fragment}" for fragment in fragments if fragment not in targets})
        if missing:
            issues.append(Issue("warning", "informational", path, f"The internal link(s) {', '.join(missing)} "
                                "resolve to no id or anchor of the resource (narrative.html#internal)"))
    return issues


def _urls(div: etree._Element) -> Iterator[str]:
    for tag, attribute in _URL_ATTRIBUTES.items():
        for node in div.iter(tag):
            value = node.get(attribute)
            if value is not None:
                yield value.strip(" \t\r\n")  # HTML 4.01 6.2: leading and trailing white space may be ignored


def _anchors(div: etree._Element) -> Iterable[str]:
    for node in div.iter():
        if isinstance(node.tag, str):
            if node.get("id"):
                yield node.get("id")
            if node.tag == _A and node.get("name"):
                yield node.get("name")


def _ids(node: object) -> Iterator[str]:
    """Every `id` of the resource: its own, its contained resources' and its elements'."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "id" and isinstance(value, str):
                yield value
            elif isinstance(value, (dict, list)):
                yield from _ids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _ids(value)
