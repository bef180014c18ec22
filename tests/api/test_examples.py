"""Official FHIR R4 examples go in and come back equal (ignoring meta), in JSON and in XML."""
from __future__ import annotations

import pytest

from fhir_server.registry import RESOURCES
from tests.examples import load, official_examples, without_meta

EXAMPLES = official_examples(tuple(RESOURCES))
JSON, XML = "application/fhir+json", "application/fhir+xml"


def test_examples_are_found():
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_official_example_round_trips_in_json_and_xml(http, base, path):
    original = load(path)
    url = f"{base}/{original['resourceType']}/{original['id']}"
    stored = http.put(url, json=original, headers={"Content-Type": JSON, "Accept": JSON})
    assert stored.status_code in (200, 201), stored.text
    assert without_meta(http.get(url, headers={"Accept": JSON}).json()) == without_meta(original)

    xml = http.get(url, headers={"Accept": XML})
    assert xml.status_code == 200 and xml.headers["Content-Type"].startswith(XML)
    assert xml.content.lstrip().startswith(b"<") and b"http://hl7.org/fhir" in xml.content
    again = http.put(url, data=xml.content, headers={"Content-Type": XML, "Accept": JSON})
    assert again.status_code == 200, again.text
    assert without_meta(again.json()) == without_meta(original)
    assert again.json()["meta"]["versionId"] == str(int(stored.json()["meta"]["versionId"]) + 1)
