"""CDA R2 documents (France's CI-SIS, HL7 C-CDA) to FHIR R4.

`to_fhir(document)` gives a transaction Bundle: the Patient of the header (a conditional create on its INS or
first id), a DocumentReference with the metadata MHD and France's PDSm read from a CDA header, and a Binary
holding the document's bytes unchanged. `parse_document` is the hardened parse it uses.
"""
from .bundle import to_fhir
from .parsing import MAX_DOCUMENT_BYTES, parse_document

__all__ = ["MAX_DOCUMENT_BYTES", "parse_document", "to_fhir"]
