"""XDS.b in, FHIR stored, ITI-18 out: the ExtrinsicObjects of the stored query hold every attribute of the
DocumentEntries sent (the entryUUID given or derived; relations are Associations, which FindDocuments does
not return)."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
from lxml import etree

from mappers.xds import document_entry, parse_provide_and_register, stored_query_response, to_fhir
from mappers.xds.ebrim import read_document_entry

from .support import NAMES, request

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def stored(bundle: dict) -> list[dict]:
    """The DocumentReferences of a Provide Bundle as the server keeps them: ids given, references resolved."""
    ids = {entry["fullUrl"]: f"{entry['resource']['resourceType']}/{n}" for n, entry in enumerate(bundle["entry"])}
    text = re.sub(r'("(?:reference|url)": ")(urn:uuid:[^"]+)"', lambda m: f'{m[1]}{ids[m[2]]}"', json.dumps(bundle))
    text = re.sub(r'"(Patient|DocumentReference)\?identifier=[^"]+"', r'"\1/stored"', text)
    return [entry["resource"] | {"id": str(n)} for n, entry in enumerate(json.loads(text)["entry"])
            if entry["resource"]["resourceType"] == "DocumentReference"]


@pytest.mark.parametrize("name", NAMES)
def test_every_mapped_attribute_comes_back(name):
    submission = parse_provide_and_register(*request(name))
    references = stored(to_fhir(submission))
    xml = stored_query_response(references, submission.patient_id, "1.2.250.1.213.4.99")
    objects = etree.fromstring(xml).iter(f"{{{RIM}}}ExtrinsicObject")
    problems: list = []
    for sent, reference, extrinsic in zip(submission.documents, references, objects, strict=True):
        entry_uuid = reference["identifier"][0]["value"]
        expected = dataclasses.replace(sent, entry_id=entry_uuid, relations=[])
        assert document_entry(reference, submission.patient_id) == expected
        assert read_document_entry(extrinsic, problems) == expected
        if sent.entry_id.startswith("urn:uuid:"):
            assert entry_uuid == sent.entry_id
    assert problems == []
