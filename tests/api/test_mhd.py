"""IHE MHD: ITI-65 Provide Document Bundle (with France's PDSm rules), ITI-67 Find, ITI-68 Retrieve."""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from fhir_server.storage.document_ids import key
from fhir_server.storage.purge import purge
from fhir_server.storage.resources import ResourceStore

from tests.conftest import SHARED_TESTDATA

from .client import HEADERS, INS, JSON, LOINC, search

MHD = "https://profiles.ihe.net/ITI/MHD"
CLASS = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONTENT = b"Compte rendu de consultation du 2 mai 2024."


def provide_bundle(nir: str, content: bytes = CONTENT, replaces: str | None = None) -> dict:
    """An ITI-65 Provide Document Bundle as a PDSm Document Source sends it: a new patient (conditional), a
    SubmissionSet, a DocumentReference with Comprehensive Metadata, and its Binary."""
    patient, document, binary, submission = (f"urn:uuid:{uuid.uuid4()}" for _ in range(4))
    unique = f"urn:oid:1.2.250.1.999.{uuid.uuid4().int % 10**12}"
    reference = {
        "resourceType": "DocumentReference", "status": "current",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique},
        "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
        "category": [{"coding": [{"system": CLASS, "code": "10"}]}],
        "subject": {"reference": patient}, "date": "2024-05-02T10:00:00+02:00",
        "securityLabel": [{"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}],
        "content": [{"attachment": {"contentType": "text/plain", "url": binary, "size": len(content),
                                    "hash": base64.b64encode(hashlib.sha1(content).digest()).decode(),
                                    "creation": "2024-05-02T09:30:00+02:00"}}],
    }
    if replaces:
        reference["relatesTo"] = [{"code": "replaces", "target": {"reference": replaces}}]
    return {"resourceType": "Bundle", "type": "transaction",
            "meta": {"profile": [f"{MHD}/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"]},
            "entry": [
                {"fullUrl": submission, "request": {"method": "POST", "url": "List"}, "resource": {
                    "resourceType": "List", "status": "current", "mode": "working",
                    "code": {"coding": [{"system": f"{MHD}/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
                    "subject": {"reference": patient}, "date": "2024-05-02T10:00:00+02:00",
                    "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"{unique}.1"}],
                    "entry": [{"item": {"reference": document}}]}},
                {"fullUrl": document, "request": {"method": "POST", "url": "DocumentReference"},
                 "resource": reference},
                {"fullUrl": binary, "request": {"method": "POST", "url": "Binary"}, "resource": {
                    "resourceType": "Binary", "contentType": "text/plain",
                    "data": base64.b64encode(content).decode()}},
                {"fullUrl": patient, "request": {"method": "POST", "url": "Patient",
                                                 "ifNoneExist": f"identifier={INS}|{nir}"},
                 "resource": {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}]}},
            ]}


def provide(http, base, bundle: dict, status: int = 200) -> dict:
    response = http.post(base, json=bundle, headers=HEADERS)
    assert response.status_code == status, response.text
    return response.json()


def location(answer: dict, index: int) -> str:
    return answer["entry"][index]["response"]["location"].rsplit("/_history", 1)[0]


def test_provide_find_and_retrieve_a_document(http, base):
    nir = uuid.uuid4().hex[:13]
    answer = provide(http, base, provide_bundle(nir))
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 4
    patient_id = location(answer, 3).split("/")[1]
    # ITI-67: the documents of the patient found by INS, by type and by creation date
    found = search(http, base, "DocumentReference", {"patient.identifier": f"{INS}|{nir}", "status": "current",
                                                     "type": f"{LOINC}|11488-4", "creation": "ge2024-05-01"})
    assert [e["resource"]["id"] for e in found["entry"]] == [location(answer, 1).split("/")[1]]
    document = found["entry"][0]["resource"]
    assert document["subject"]["reference"] == f"Patient/{patient_id}"
    # ITI-68: the document itself, with its own MIME type unless a FHIR format is asked for
    url = document["content"][0]["attachment"]["url"]
    raw = http.get(f"{base}/{url}", headers={"Accept": "*/*"})
    assert raw.content == CONTENT and raw.headers["Content-Type"].startswith("text/plain")
    assert http.get(f"{base}/{url}", headers={"Accept": "text/*"}).content == CONTENT
    refused = http.get(f"{base}/{url}", headers={"Accept": "application/pdf"})
    assert refused.status_code == 406 and refused.json()["resourceType"] == "OperationOutcome"
    as_fhir = http.get(f"{base}/{url}", headers={"Accept": JSON}).json()
    assert base64.b64decode(as_fhir["data"]) == CONTENT
    # Record existence: Patient?identifier=INS
    assert search(http, base, "Patient", {"identifier": f"{INS}|{nir}"})["total"] == 1
    # A second document for the same patient reuses the record (ifNoneExist)
    again = provide(http, base, provide_bundle(nir, b"second"))
    assert again["entry"][3]["response"]["status"] == "200 OK" and location(again, 3) == location(answer, 3)


def test_a_replacement_supersedes_the_old_document_in_the_same_transaction(http, base):
    nir = uuid.uuid4().hex[:13]
    old = location(provide(http, base, provide_bundle(nir)), 1)
    new = location(provide(http, base, provide_bundle(nir, b"corrected", replaces=old)), 1)
    assert http.get(f"{base}/{old}", headers=HEADERS).json()["status"] == "superseded"
    assert http.get(f"{base}/{new}", headers=HEADERS).json()["status"] == "current"
    current = search(http, base, "DocumentReference", {"patient.identifier": f"{INS}|{nir}", "status": "current"})
    assert [f"DocumentReference/{e['resource']['id']}" for e in current["entry"]] == [new]
    twice = provide(http, base, provide_bundle(nir, b"again", replaces=old), status=422)
    assert twice["issue"][0]["details"]["text"] == "XDSRegistryMetadataError"


def _without_submission_set(bundle: dict) -> None:
    del bundle["entry"][0]


def _other_subject(bundle: dict) -> None:
    bundle["entry"][1]["resource"]["subject"] = {"reference": "Patient/someone-else"}


def _wrong_hash(bundle: dict) -> None:
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = base64.b64encode(b"x" * 20).decode()


def _wrong_size(bundle: dict) -> None:
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["size"] = 1


def _no_binary(bundle: dict) -> None:
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["url"] = "http://elsewhere.example/doc.pdf"


def _orphan_binary(bundle: dict) -> None:
    bundle["entry"].append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "Binary"},
                            "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}})


def _unlisted_document(bundle: dict) -> None:
    bundle["entry"][0]["resource"]["entry"] = []


def _type_outside_the_dmp_codes(bundle: dict) -> None:
    bundle["entry"][1]["resource"]["type"] = {"coding": [{"system": LOINC, "code": "00000-0"}]}


def _no_security_label(bundle: dict) -> None:
    del bundle["entry"][1]["resource"]["securityLabel"]


def _duplicate_unique_id(bundle: dict) -> None:
    second = copy.deepcopy(bundle["entry"][1])
    second["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
    bundle["entry"].append(second)
    bundle["entry"][0]["resource"]["entry"].append({"item": {"reference": second["fullUrl"]}})


@pytest.mark.parametrize("breaks, code", [
    (_without_submission_set, "XDSRegistryMetadataError"),
    (_other_subject, "XDSPatientIdDoesNotMatch"),
    (_wrong_hash, "XDSNonIdenticalHash"),
    (_wrong_size, "XDSNonIdenticalSize"),
    (_no_binary, "XDSMissingDocument"),
    (_orphan_binary, "XDSMissingDocumentMetadata"),
    (_unlisted_document, "XDSRegistryMetadataError"),
    (_type_outside_the_dmp_codes, "XDSRegistryMetadataError"),
    (_no_security_label, "XDSRegistryMetadataError"),
    (_duplicate_unique_id, "XDSRegistryDuplicateUniqueIdInMessage"),
])
def test_broken_provide_bundles_are_refused_with_the_xds_code(http, base, breaks, code):
    nir = uuid.uuid4().hex[:13]
    bundle = provide_bundle(nir)
    breaks(bundle)
    outcome = provide(http, base, bundle, status=422)
    assert code in [issue["details"]["text"] for issue in outcome["issue"]]
    assert search(http, base, "Patient", {"identifier": f"{INS}|{nir}"})["total"] == 0  # nothing written


def test_a_unique_id_already_stored_is_refused(http, base):
    nir = uuid.uuid4().hex[:13]
    bundle = provide_bundle(nir)
    provide(http, base, bundle)
    again = json.loads(json.dumps(bundle).replace(nir, f"{nir}-2"))
    outcome = provide(http, base, again, status=422)
    assert outcome["issue"][0]["details"]["text"] == "XDSDuplicateUniqueIdInRegistry"
    # nothing of the refused bundle was stored: not its new patient, nor a second submission set or document
    unique = bundle["entry"][1]["resource"]["masterIdentifier"]["value"]

    def total(resource_type: str, identifier: str) -> int:
        found = http.get(f"{base}/{resource_type}", params={"identifier": identifier, "_summary": "count"},
                         headers=HEADERS)
        assert found.status_code == 200, found.text
        return found.json()["total"]

    assert total("Patient", f"{INS}|{nir}-2") == 0
    assert total("Patient", f"{INS}|{nir}") == 1
    assert total("DocumentReference", f"urn:ietf:rfc:3986|{unique}") == 1
    assert total("List", f"urn:ietf:rfc:3986|{unique}.1") == 1


XDS_EXAMPLE = SHARED_TESTDATA / "fhir-r4-examples" / "Bundle-xds.json"


def xds_like_bundle() -> dict:
    """The project's own bundle shaped like the R4 XDS example: absolute fullUrls of another server, relative
    references to them, a typed ifNoneExist (`Patient?identifier=`), the document's content at its Binary's
    absolute fullUrl."""
    other = f"http://vendor{uuid.uuid4().hex[:6]}.example.org/fhir"
    patient, first, second, binary = (f"{other}/{t}/{i}" for t, i in (
        ("Patient", "p1"), ("Practitioner", "a1"), ("Practitioner", "a2"), ("Binary", uuid.uuid4())))
    identifier = {"system": "http://vendor.example.org/patients", "value": uuid.uuid4().hex}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "DocumentReference"},
         "resource": {"resourceType": "DocumentReference", "status": "current",
                      "masterIdentifier": {"system": "urn:ietf:rfc:3986",
                                           "value": f"urn:oid:1.2.250.1.999.{uuid.uuid4().int % 10**12}"},
                      "type": {"coding": [{"system": LOINC, "code": "34117-2"}]},
                      "subject": {"reference": "Patient/p1"}, "date": "2024-05-02T10:00:00+02:00",
                      "author": [{"reference": "Practitioner/a1"}, {"reference": "Practitioner/a2"}],
                      "content": [{"attachment": {"contentType": "text/plain", "url": binary}}]}},
        {"fullUrl": patient, "request": {"method": "POST", "url": "Patient", "ifNoneExist":
            f"Patient?identifier={identifier['system']}|{identifier['value']}"},
         "resource": {"resourceType": "Patient", "id": "p1", "identifier": [identifier],
                      "name": [{"family": "Example"}]}},
        {"fullUrl": first, "request": {"method": "POST", "url": "Practitioner"},
         "resource": {"resourceType": "Practitioner", "id": "a1", "name": [{"family": "First"}]}},
        {"fullUrl": second, "request": {"method": "POST", "url": "Practitioner"},
         "resource": {"resourceType": "Practitioner", "id": "a2", "name": [{"family": "Second"}]}},
        {"fullUrl": binary, "request": {"method": "POST", "url": "Binary"},
         "resource": {"resourceType": "Binary", "contentType": "text/plain",
                      "data": base64.b64encode(b"History and physical").decode()}}]}


def _xds_bundles() -> list:
    own = [pytest.param(xds_like_bundle, id="own")]
    if not XDS_EXAMPLE.is_file():
        return own
    return [*own, pytest.param(lambda: json.loads(XDS_EXAMPLE.read_text(encoding="utf-8")), id="official")]


@pytest.mark.parametrize("make", _xds_bundles())
def test_an_xds_example_bundle(http, base, make):
    """The R4 XDS example (MHD's ancestor), and our own bundle shaped like it where ../shared is absent:
    absolute fullUrls, relative references to them, a typed ifNoneExist."""
    bundle = make()
    answer = provide(http, base, bundle)
    assert [e["response"]["status"][:3] for e in answer["entry"]] == ["201"] * len(bundle["entry"])
    document = http.get(f"{base}/{location(answer, 0)}", headers=HEADERS).json()
    assert document["subject"]["reference"] == location(answer, 1)
    assert {a["reference"] for a in document["author"]} == {location(answer, 2), location(answer, 3)}
    assert document["content"][0]["attachment"]["url"] == location(answer, 4)


def test_find_documents_by_author_and_oid_full_urls(http, base):
    """ITI-67 `author.family` / `author.given` (chained to a stored Practitioner); `urn:oid:` fullUrls resolve."""
    nir = uuid.uuid4().hex[:13]
    family = f"Martin{uuid.uuid4().hex[:6]}"
    bundle = provide_bundle(nir)
    author = f"urn:oid:1.2.250.1.71.4.2.1.{uuid.uuid4().int % 10**9}"
    bundle["entry"].append({"fullUrl": author, "request": {"method": "POST", "url": "Practitioner"}, "resource": {
        "resourceType": "Practitioner", "name": [{"family": family, "given": ["Hélène"]}],
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": author.rsplit(".", 1)[1]}]}})
    bundle["entry"][1]["resource"]["author"] = [{"reference": author}]
    answer = provide(http, base, bundle)
    practitioner = location(answer, 4)
    found = search(http, base, "DocumentReference", {"author.family": family, "author.given": "helene"})
    assert [e["resource"]["id"] for e in found["entry"]] == [location(answer, 1).split("/")[1]]
    assert found["entry"][0]["resource"]["author"] == [{"reference": practitioner}]


def _unique(bundle: dict) -> str:
    return bundle["entry"][1]["resource"]["masterIdentifier"]["value"]


def test_racing_pushes_of_one_unique_id_store_one_document(http, base):
    """A document's unique id is claimed once (storage/document_ids.py), whichever node or worker serves each
    push: of the same Provide Bundle sent four times at once, one is stored and the others refused (as a
    duplicate, or, when the first is still being written after a few seconds, a 409 to send again)."""
    bundle = provide_bundle(uuid.uuid4().hex[:13])
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: http.post(base, json=bundle, headers=HEADERS), range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200 and set(statuses[1:]) <= {409, 422}, [a.text[:300] for a in answers]
    assert all(a.json()["issue"][0]["details"]["text"] == "XDSDuplicateUniqueIdInRegistry"
               for a in answers if a.status_code == 422)
    found = search(http, base, "DocumentReference", {"identifier": f"urn:ietf:rfc:3986|{_unique(bundle)}"})
    assert found["total"] == 1


def test_a_push_not_written_gives_its_unique_id_back(http, base, db):
    """A Provide Bundle refused for another reason, before or after its unique id was claimed, does not keep
    the id from the corrected push that follows; a document deleted gives its id up too."""
    bundle = provide_bundle(uuid.uuid4().hex[:13])
    broken = copy.deepcopy(bundle)
    del broken["entry"][1]["resource"]["type"]  # a metadata problem found beside the claim
    assert provide(http, base, broken, status=422)["issue"][0]["details"]["text"] == "XDSRegistryMetadataError"
    late = copy.deepcopy(bundle)  # refused once planned, after the checks: an update of a version not current
    practitioner = str(uuid.uuid4())
    late["entry"].append({"request": {"method": "PUT", "url": f"Practitioner/{practitioner}", "ifMatch": 'W/"3"'},
                          "resource": {"resourceType": "Practitioner", "id": practitioner}})
    refused = http.post(base, json=late, headers=HEADERS)
    assert refused.status_code == 412, refused.text
    assert db["document_ids"].find_one({"_id": key("urn:ietf:rfc:3986", _unique(bundle))}) is None
    stored = provide(http, base, bundle)
    document = location(stored, 1)
    assert http.delete(f"{base}/{document}", headers=HEADERS).status_code in (200, 204)
    again = json.loads(json.dumps(bundle).replace(bundle["entry"][1]["fullUrl"], f"urn:uuid:{uuid.uuid4()}"))
    assert location(provide(http, base, again), 1) != document  # the deleted document's id taken over


def test_a_purge_forgets_the_unique_ids_and_a_database_written_before_claims_them(http, base, db):
    """What a purge erases includes the claims its resources held: the document's unique id, and the
    conditional create's criteria that made its patient."""
    bundle = provide_bundle(uuid.uuid4().hex[:13])
    answer = provide(http, base, bundle)
    document_id = location(answer, 1).rpartition("/")[2]
    patient = location(answer, 3)
    assert db["create_claims"].count_documents({"holder": patient}) == 1
    claim = key("urn:ietf:rfc:3986", _unique(bundle))
    assert db["document_ids"].find_one({"_id": claim})["holder"] == f"DocumentReference/{document_id}"
    store = ResourceStore(db)
    db["document_ids"].delete_many({"_id": {"$in": [claim, "~built"]}})  # as a database from before claims
    assert store.build_document_ids() >= 1 and store.build_document_ids() == 0
    assert db["document_ids"].find_one({"_id": claim})["holder"] == f"DocumentReference/{document_id}"
    purge(store, [("DocumentReference", document_id), tuple(patient.split("/"))])
    assert db["document_ids"].find_one({"_id": claim}) is None
    assert db["create_claims"].count_documents({"holder": patient}) == 0
