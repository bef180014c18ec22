"""A document's life through CDA R2 and XDS.b ITI-41 pushes to `$ingest` (service/lifecycle.py): a CDA
relatedDocument RPLC or an XDS RPLC association supersedes the parent in the same transaction; an unknown
parent, a parent already replaced, another author's replacement are refused in the sender's terms (a FHIR
OperationOutcome naming the parent for CDA, a RegistryResponse with the XDS error code for XDS.b)."""
from __future__ import annotations

import uuid

import pytest
from lxml import etree

from mappers.cda.header import SET_ID_TYPE, VERSION_NUMBER

from ..api.client import INS
from ..auth.test_patients import new_patient
from ..mappers.cda.support import HL7, LDL_SES, altered, remove
from ..security.conftest import professional
from .test_ingest_xds import FAILURE, FIXTURES, RS, SUCCESS, status_and_codes

CDA_ROOT = "1.2.250.1.999.7.3.1"  # the root of the fixture's document ids
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.fixture(scope="module")
def authors(db, base):
    """Two physicians' software: the author of the documents, and another physician."""
    return professional(db, base, "10"), professional(db, base, "10")


def cda(ins: str, unique: str, version: int, parent: str | None = None, set_id: str | None = None,
        relation: str = "RPLC") -> bytes:
    """The CI-SIS fixture for the patient with this INS: id CDA_ROOT^unique, version `version` of the set
    CDA_ROOT^set_id (the first version's id by default), related to CDA_ROOT^parent (`relation`) when given."""
    def change(root: etree._Element) -> None:
        root.find(f"{{{HL7}}}id").set("extension", unique)
        root.find(f"{{{HL7}}}setId").attrib.update({"root": CDA_ROOT, "extension": set_id or unique})
        root.find(f"{{{HL7}}}versionNumber").set("value", str(version))
        for element in root.iterfind(f"{{{HL7}}}recordTarget/{{{HL7}}}patientRole/{{{HL7}}}id"):
            if element.get("root") == INS.removeprefix("urn:oid:"):
                element.set("extension", ins)
        if parent is None:
            remove(root, "relatedDocument")
        else:
            root.find(f"{{{HL7}}}relatedDocument").set("typeCode", relation)
            root.find(f"{{{HL7}}}relatedDocument/{{{HL7}}}parentDocument/{{{HL7}}}id").set("extension", parent)
    return altered(LDL_SES, change)


def push_cda(session, base, document: bytes):
    return session.post(f"{base}/$ingest", data=document, headers={"Content-Type": "application/cda+xml"})


def stored(session, base, system: str, value: str) -> list[dict]:
    found = session.get(f"{base}/DocumentReference", params={"identifier": f"{system}|{value}"}).json()
    return [e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == "match"]


def test_a_cda_replacement_supersedes_its_parent_and_keeps_the_set_and_version(http, base, authors):
    writer, other = authors
    _, ins = new_patient(http, base)
    first, second = (f"LDL-{uuid.uuid4().hex[:12]}" for _ in range(2))
    assert push_cda(writer, base, cda(ins, first, 1)).status_code == 201
    answer = push_cda(writer, base, cda(ins, second, 2, parent=first, set_id=first))
    assert answer.status_code == 201, answer.text

    [old] = [d for d in stored(writer, base, f"urn:oid:{CDA_ROOT}", first) if d["masterIdentifier"]["value"] == first]
    [new] = stored(writer, base, f"urn:oid:{CDA_ROOT}", second)
    assert (old["status"], new["status"]) == ("superseded", "current")
    assert new["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}]
    assert new["identifier"] == [{"system": f"urn:oid:{CDA_ROOT}", "value": first, "type": SET_ID_TYPE}]
    assert new["extension"] == [{"url": VERSION_NUMBER, "valueInteger": 2}]
    assert old["extension"] == [{"url": VERSION_NUMBER, "valueInteger": 1}]
    # the set id finds every version; as a replacement's parent it names the version whose id it is
    assert {d["id"] for d in stored(writer, base, f"urn:oid:{CDA_ROOT}", first)} == {old["id"], new["id"]}
    again = push_cda(writer, base, cda(ins, f"LDL-{uuid.uuid4().hex[:12]}", 2, parent=first, set_id=first))
    assert again.status_code == 422 and "replaced or withdrawn already" in again.text, again.text

    by_other = push_cda(other, base, cda(ins, f"LDL-{uuid.uuid4().hex[:12]}", 3, parent=second, set_id=first))
    assert by_other.status_code == 403, by_other.text
    issue = by_other.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "not-author" and "Only the author" in issue["diagnostics"]
    assert stored(writer, base, f"urn:oid:{CDA_ROOT}", second)[0]["status"] == "current"

    addendum = f"LDL-{uuid.uuid4().hex[:12]}"  # an addendum (APND) relates to its parent and replaces nothing
    assert push_cda(writer, base, cda(ins, addendum, 1, parent=second, relation="APND")).status_code == 201
    [appended] = stored(writer, base, f"urn:oid:{CDA_ROOT}", addendum)
    assert appended["relatesTo"] == [{"code": "appends", "target": {"reference": f"DocumentReference/{new['id']}"}}]
    assert stored(writer, base, f"urn:oid:{CDA_ROOT}", second)[0]["status"] == "current"


def test_a_cda_replacement_of_an_unknown_document_is_refused_naming_it(http, base, db, authors):
    writer, _ = authors
    _, ins = new_patient(http, base)
    before = db["DocumentReference"].count_documents({})
    missing = f"LDL-{uuid.uuid4().hex[:12]}"
    answer = push_cda(writer, base, cda(ins, f"LDL-{uuid.uuid4().hex[:12]}", 2, parent=missing))
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "unknown"
    assert f"urn:oid:{CDA_ROOT}|{missing}" in issue["diagnostics"] and "stored first" in issue["diagnostics"]
    assert db["DocumentReference"].count_documents({}) == before


def submission(ins: str, replaces: str | None = None) -> tuple[bytes, str]:
    """(an ITI-41 request for the patient with this INS, its DocumentEntry's entryUUID): the French fixture
    with new ids, and an RPLC association to the entry `replaces` when given."""
    text = (FIXTURES / "french_ins_jdv.xml").read_text(encoding="utf-8")
    entry, package = (f"urn:uuid:{uuid.uuid4()}" for _ in range(2))
    text = text.replace("urn:uuid:3c9a8f2e-5d1b-4e7a-9c3f-8b2d1e0f6a77", entry).replace(
        "urn:uuid:8e2f4a6c-1b3d-4f5a-9c7e-2d4f6a8c0e13", package).replace(
        "1.2.250.1.213.4.1.2.3.20240502", f"1.2.250.1.999.8.{uuid.uuid4().int % 10**12}").replace(
        "1800175123456", ins)
    if replaces:
        text = text.replace("</rim:RegistryObjectList>", f'<rim:Association id="urn:uuid:{uuid.uuid4()}" '
                            f'associationType="{RPLC}" sourceObject="{entry}" targetObject="{replaces}"/>'
                            f"</rim:RegistryObjectList>")
    return text.encode("utf-8"), entry


def push_xds(session, base, request: bytes):
    answer = session.post(f"{base}/$ingest", data=request, headers={"Content-Type": "application/soap+xml"})
    assert answer.status_code == 200, answer.text
    return answer


def messages(answer) -> list[str]:
    return [e.get("codeContext") for e in etree.fromstring(answer.content).iter(f"{{{RS}}}RegistryError")]


def test_an_xds_rplc_association_supersedes_the_replaced_entry(http, base, authors):
    writer, other = authors
    _, ins = new_patient(http, base)
    first, first_entry = submission(ins)
    assert status_and_codes(push_xds(writer, base, first)) == (SUCCESS, [])
    second, second_entry = submission(ins, replaces=first_entry)
    assert status_and_codes(push_xds(writer, base, second)) == (SUCCESS, [])
    [old] = stored(writer, base, "urn:ietf:rfc:3986", first_entry)
    [new] = stored(writer, base, "urn:ietf:rfc:3986", second_entry)
    assert (old["status"], new["status"]) == ("superseded", "current")
    assert new["relatesTo"][0] == {"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}

    again = push_xds(writer, base, submission(ins, replaces=first_entry)[0])
    assert status_and_codes(again) == (FAILURE, ["XDSRegistryMetadataError"])
    assert "replaced or withdrawn already" in messages(again)[0]
    by_other = push_xds(other, base, submission(ins, replaces=second_entry)[0])
    assert status_and_codes(by_other) == (FAILURE, ["XDSRegistryError"])
    assert "Only the author" in messages(by_other)[0]
    _, someone_else = new_patient(http, base)
    elsewhere = push_xds(writer, base, submission(someone_else, replaces=second_entry)[0])
    assert status_and_codes(elsewhere) == (FAILURE, ["XDSPatientIdDoesNotMatch"])
    assert stored(writer, base, "urn:ietf:rfc:3986", second_entry)[0]["status"] == "current"


def test_an_xds_replacement_of_an_unknown_entry_is_a_metadata_error(http, base, db, authors):
    writer, _ = authors
    _, ins = new_patient(http, base)
    before = db["DocumentReference"].count_documents({})
    missing = f"urn:uuid:{uuid.uuid4()}"
    answer = push_xds(writer, base, submission(ins, replaces=missing)[0])
    assert status_and_codes(answer) == (FAILURE, ["XDSRegistryMetadataError"])
    assert missing in messages(answer)[0] and "stored first" in messages(answer)[0]
    assert db["DocumentReference"].count_documents({}) == before


def deletion(ins: str, entry: str, new_status: str = "urn:asip:ci-sis:2010:StatusType:Deleted") -> bytes:
    """An ITI-57 request changing the availability status of the entry of the patient with this INS."""
    return (FIXTURES / "update_status_deleted.xml").read_bytes().replace(
        b"urn:uuid:3c9a8f2e-5d1b-4e7a-9c3f-8b2d1e0f6a77", entry.encode()).replace(
        b"1800175123456", ins.encode()).replace(b"urn:asip:ci-sis:2010:StatusType:Deleted", new_status.encode())


def test_an_xds_deletion_withdraws_the_document_for_its_author_alone(http, base, authors):
    writer, other = authors
    _, ins = new_patient(http, base)
    request, entry = submission(ins)
    assert status_and_codes(push_xds(writer, base, request)) == (SUCCESS, [])

    by_other = push_xds(other, base, deletion(ins, entry))
    assert status_and_codes(by_other) == (FAILURE, ["XDSRegistryError"]) and "Only the author" in messages(by_other)[0]
    _, someone_else = new_patient(http, base)
    elsewhere = push_xds(writer, base, deletion(someone_else, entry))  # not in that patient's record
    assert status_and_codes(elsewhere) == (FAILURE, ["XDSRegistryMetadataError"])
    assert "nothing to withdraw" in messages(elsewhere)[0]
    [document] = stored(writer, base, "urn:ietf:rfc:3986", entry)
    assert document["status"] == "current"

    answer = push_xds(writer, base, deletion(ins, entry))
    assert status_and_codes(answer) == (SUCCESS, [])
    assert b"urn:ihe:iti:2010:UpdateDocumentSetResponse" in answer.content
    assert writer.get(f"{base}/DocumentReference/{document['id']}").json()["status"] == "entered-in-error"
    assert other.get(f"{base}/DocumentReference/{document['id']}").status_code == 404
    again = push_xds(writer, base, deletion(ins, entry))  # its OriginalStatus (Approved) is no longer true
    assert status_and_codes(again)[0] == FAILURE and "test failed" in messages(again)[0]


def test_an_xds_deprecation_supersedes_and_an_unknown_entry_is_a_metadata_error(http, base, db, authors):
    writer, _ = authors
    _, ins = new_patient(http, base)
    request, entry = submission(ins)
    assert status_and_codes(push_xds(writer, base, request)) == (SUCCESS, [])
    deprecated = push_xds(writer, base, deletion(ins, entry, "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"))
    assert status_and_codes(deprecated) == (SUCCESS, [])
    assert stored(writer, base, "urn:ietf:rfc:3986", entry)[0]["status"] == "superseded"
    before = db["DocumentReference"].count_documents({})
    missing = f"urn:uuid:{uuid.uuid4()}"
    unknown = push_xds(writer, base, deletion(ins, missing))
    assert status_and_codes(unknown) == (FAILURE, ["XDSRegistryMetadataError"])
    assert missing in messages(unknown)[0] and "nothing to withdraw" in messages(unknown)[0]
    assert db["DocumentReference"].count_documents({}) == before
