"""Documents to_fhir refuses with a MappingError: not XML, not CDA, a DOCTYPE (XXE, billion laughs: nothing
is expanded, no file is opened, no connection is made), too big, or a header missing what the mapping needs."""
from __future__ import annotations

import copy
import os
import socket
import threading
import time

import pytest

from mappers.cda import parse_document
from mappers.errors import MappingError

from .support import LDL_SES, altered, refused, remove

CDA = '<ClinicalDocument xmlns="urn:hl7-org:v3">{}</ClinicalDocument>'
DOCTYPE_REFUSED = "The document has a DOCTYPE declaration: DTDs and entities are refused in CDA documents"


def _with_doctype(declarations: str, body: str) -> bytes:
    return f'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [{declarations}]>\n{CDA.format(body)}'.encode()


def test_not_xml() -> None:
    error = refused(b"MSH|^~\\&|not an XML document")
    assert error.message == "The document is not well-formed XML: Start tag expected, '<' not found"
    assert (error.code, error.location) == ("structure", "line 1, column 1")


def test_truncated_xml() -> None:
    error = refused(LDL_SES.read_bytes()[:600])
    assert error.message.startswith("The document is not well-formed XML: ") and error.code == "structure"


def test_xml_but_not_cda() -> None:
    error = refused(b'<?xml version="1.0"?><Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/></Bundle>')
    assert error.message == ("Not a CDA document: the root element is {http://hl7.org/fhir}Bundle, not "
                             "ClinicalDocument in the urn:hl7-org:v3 namespace")
    assert (error.code, error.location) == ("structure", "/Bundle")


def test_clinical_document_outside_the_hl7_namespace() -> None:
    error = refused(b"<ClinicalDocument><id root='1.2.3'/></ClinicalDocument>")
    assert "the root element is ClinicalDocument (in no namespace)" in error.message


def test_any_doctype_is_refused() -> None:
    error = refused(b'<?xml version="1.0"?><!DOCTYPE ClinicalDocument>' + LDL_SES.read_bytes().split(b"?>", 2)[2])
    assert (error.message, error.code, error.location) == (DOCTYPE_REFUSED, "security", "/")


def test_billion_laughs_is_refused_unexpanded() -> None:
    declarations = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    for body in ("<title>&lol9;</title>", '<title lang="&lol9;"/>'):
        started = time.monotonic()
        error = refused(_with_doctype(declarations, body))
        assert error.message == DOCTYPE_REFUSED and time.monotonic() - started < 1


def test_xxe_never_opens_the_file(tmp_path) -> None:
    """The entities name a FIFO: a parser that opened it would block until a writer comes."""
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    document = _with_doctype(f'<!ENTITY % dtd SYSTEM "file://{fifo}"> %dtd; <!ENTITY xxe SYSTEM "file://{fifo}">',
                             "<title>&xxe;</title>")
    outcome: list[MappingError] = []
    worker = threading.Thread(target=lambda: outcome.append(refused(document)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(fifo, "w"):  # let the parser go, then fail
            pass
        worker.join(10)
        pytest.fail("the parser opened the external entity's file")
    assert outcome[0].message == DOCTYPE_REFUSED


def test_xxe_never_connects() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/evil"
        error = refused(_with_doctype(f'<!ENTITY % dtd SYSTEM "{url}.dtd"> %dtd; <!ENTITY xxe SYSTEM "{url}">',
                                      "<title>&xxe;</title>"))
        with pytest.raises(BlockingIOError):
            server.accept()
    assert error.message == DOCTYPE_REFUSED


def test_too_big() -> None:
    data = LDL_SES.read_bytes()
    with pytest.raises(MappingError) as caught:
        parse_document(data, max_bytes=len(data) - 1)
    assert caught.value.code == "too-long" and f"{len(data)} bytes" in caught.value.message
    assert parse_document(data, max_bytes=len(data)).tag == "{urn:hl7-org:v3}ClinicalDocument"


@pytest.mark.parametrize(("path", "location", "needs"), [
    ("recordTarget", "/ClinicalDocument/recordTarget/patientRole", "the patient"),
    ("id", "/ClinicalDocument/id", "the document's unique id"),
    ("code", "/ClinicalDocument/code", "the document type"),
    ("effectiveTime", "/ClinicalDocument/effectiveTime", "the creation time"),
    ("author", "/ClinicalDocument/author", "an author"),
    ("custodian", "/ClinicalDocument/custodian/assignedCustodian/representedCustodianOrganization",
     "the custodian organization"),
], ids=lambda value: value if "/" not in value and " " not in value else "")
def test_a_header_without(path: str, location: str, needs: str) -> None:
    error = refused(altered(LDL_SES, lambda root: remove(root, path)))
    assert error.message == f"{location} is missing: a CDA header needs {needs}"
    assert (error.code, error.location) == ("required", location)


def _set(path: str, name: str, value: str):
    def change(root) -> None:
        root.find("/".join(f"{{urn:hl7-org:v3}}{step}" for step in path.split("/"))).set(name, value)
    return change


@pytest.mark.parametrize(("change", "location", "code"), [
    (_set("id", "root", ""), "/ClinicalDocument/id/@root", "required"),
    (_set("id", "root", "not-an-oid"), "/ClinicalDocument/id/@root", "value"),
    (_set("effectiveTime", "value", "2024-03-12"), "/ClinicalDocument/effectiveTime/@value", "value"),
    (_set("effectiveTime", "value", "20241312"), "/ClinicalDocument/effectiveTime/@value", "value"),
    (_set("confidentialityCode", "code", "X"), "/ClinicalDocument/confidentialityCode", "value"),
    (_set("relatedDocument", "typeCode", "SUCC"), "/ClinicalDocument/relatedDocument[1]/@typeCode", "value"),
    (_set("recordTarget/patientRole/patient/administrativeGenderCode", "code", "W"),
     "/ClinicalDocument/recordTarget/patientRole/patient/administrativeGenderCode/@code", "value"),
], ids=["empty-id-root", "bad-id-root", "iso-date", "month-13", "confidentiality", "relation", "gender"])
def test_a_bad_value(change, location: str, code: str) -> None:
    error = refused(altered(LDL_SES, change))
    assert (error.code, error.location) == (code, location)
    assert error.message.startswith(location)


def test_a_patient_without_any_usable_id() -> None:
    def anonymous(root) -> None:
        for ii in root.iterfind("{urn:hl7-org:v3}recordTarget/{urn:hl7-org:v3}patientRole/{urn:hl7-org:v3}id"):
            ii.attrib.clear()
            ii.set("nullFlavor", "NI")

    error = refused(altered(LDL_SES, anonymous))
    assert (error.code, error.location) == ("required", "/ClinicalDocument/recordTarget/patientRole/id")


def test_a_document_about_two_patients() -> None:
    def twice(root) -> None:
        target = root.find("{urn:hl7-org:v3}recordTarget")
        target.addnext(copy.deepcopy(target))

    error = refused(altered(LDL_SES, twice))
    assert error.location == "/ClinicalDocument/recordTarget[2]" and "2 recordTargets" in error.message
