"""ITI-41 requests read: plain SOAP with inline documents, MTOM/XOP with MIME parts, the French DMP flavour."""
from __future__ import annotations

import hashlib

from mappers.xds import Author, Code, parse_provide_and_register

from .support import request


def test_a_plain_request_with_one_inline_document():
    submission = parse_provide_and_register(*request("plain_one_document.xml"))
    assert submission.message_id == "urn:uuid:5b3c3f0e-6a41-4a9b-9a57-0c1d2e3f4a01"
    assert submission.unique_id == "1.3.6.1.4.1.21367.2024.5.2.1001"
    assert submission.source_id == "1.3.6.1.4.1.21367.2024.1"
    assert submission.patient_id == "PAT-1001^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
    assert submission.submission_time == "20240502080000" and submission.title == "Outpatient visit"
    assert submission.content_type == Code("11488-4", "2.16.840.1.113883.6.1", "Consult note")
    [entry] = submission.documents
    data = submission.contents[entry.entry_id]
    assert data.startswith(b"Consultation note for patient PAT-1001.")
    # the declared hash was upper case hexadecimal; once checked it is the document's own
    assert (entry.hash, entry.size) == (hashlib.sha1(data).hexdigest(), len(data))
    assert entry.authors == [Author(person="1234^Smith^John^^^Dr^^^&1.3.6.1.4.1.21367.13.20.3000&ISO")]
    assert entry.type_code == Code("34108-1", "2.16.840.1.113883.6.1", "Outpatient Note")
    assert entry.confidentiality == [Code("N", "2.16.840.1.113883.5.25", "Normal")]
    assert (entry.creation_time, entry.language, entry.mime_type) == ("20240502073000", "en-US", "text/plain")
    assert entry.source_patient_info == ["PID-3|MRN-55^^^&1.3.6.1.4.1.21367.13.20.2000&ISO", "PID-5|Doe^Jane^^^^^L",
                                         "PID-7|19700301", "PID-8|F"]
    assert (entry.title, entry.comments) == ("Consultation note", "Routine follow-up visit")


def test_an_mtom_request_resolves_xop_includes_and_keeps_binary_bytes():
    body, content_type = request("mtom_two_documents.mime")
    assert content_type.startswith("multipart/related")
    submission = parse_provide_and_register(body, content_type)
    first, second = submission.documents
    pdf = submission.contents["Document01"]  # its href is cid:1.doc%40example.org: a URL-encoded Content-ID
    assert pdf.startswith(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\r\n") and b"\x00\xff--not-a-boundary\r\n" in pdf
    assert pdf.endswith(b"%%EOF\n")
    assert submission.contents["Document02"] == "Lettre de liaison: sortie le 2 mai 2024.\r\n".encode()
    assert (first.hash, first.size) == (hashlib.sha1(pdf).hexdigest(), len(pdf))  # none given: computed
    assert second.relations == [("replaces", "urn:uuid:7a1d3c5e-2b4f-4a6c-8e0d-1f2a3b4c5d6e")]
    assert first.relations == []
    assert first.authors[0].institutions == (
        "General Hospital^^^^^&1.3.6.1.4.1.21367.13.20.4000&ISO^XX^^^100",
        "Cardiology Clinic^^^^^&1.3.6.1.4.1.21367.13.20.4000&ISO^XX^^^200")
    assert second.authors == [Author(institutions=("General Hospital^^^^^&1.3.6.1.4.1.21367.13.20.4000&ISO^XX^^^100",))]
    assert [c.code for c in first.confidentiality] == ["N", "R"] and first.events[0].code == "I10"
    assert (first.service_start, first.service_stop) == ("20240428", "20240502093000")


def test_a_french_request_with_an_ins_and_jdv_codes():
    submission = parse_provide_and_register(*request("french_ins_jdv.xml"))
    [entry] = submission.documents
    assert submission.patient_id == entry.patient_id == "1800175123456^^^&1.2.250.1.213.1.4.8&ISO^NH"
    assert entry.unique_id == "1.2.250.1.213.4.1.2.3.20240502.1^CR-2024-0042"
    assert entry.class_code == Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
    assert entry.legal_authenticator == "801234567897^MARTIN^Hélène^Marie^^Dr^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert entry.authors[0].roles == ("10^Médecin^1.2.250.1.71.1.2.7",)
    assert entry.source_patient_id == "IPP-778899^^^&1.2.250.1.71.4.2.2.1.123456789&ISO^PI"


def test_without_a_start_parameter_the_first_mime_part_is_the_envelope():
    body, content_type = request("mtom_two_documents.mime")
    content_type = content_type.replace(' start="<0.root@example.org>";', "")
    assert "start=" not in content_type
    assert len(parse_provide_and_register(body, content_type).documents) == 2
