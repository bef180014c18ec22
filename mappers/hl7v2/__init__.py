"""HL7 v2.5 messages <-> FHIR R4, with python-hl7.

- `to_fhir(message, warnings)`: an ADT^A01/A03/A04/A08/A28/A31, ORU^R01 or MDM^T02/T10/T04 message -> a
  transaction Bundle (a document's initial transmission, replacement or deletion: README.md), what was mapped
  with a loss or not acted on appended to `warnings`;
- `ack(message, error, warnings=...)`: the ACK to answer it with (AA, with an ERR of severity W per warning;
  AE or AR with an ERR segment; an `ApplicationError` also gives its ANS application error code in ERR-5);
- `from_fhir(document_reference, binary, patient)`: an MDM^T02 (T10 for a replacement) carrying the document;
- `frame`, `read_frames`: MLLP framing; `encode`: a message's bytes in its MSH-18 charset (for an ACK sent
  over HTTP); `batch_messages`: the messages of a batch or file.
Every problem with the input is a MappingError whose code is from HL7 table 0357 (mapping tables: tables.json).

An MLLP listener: for each `block` of `read_frames(stream)`, `bundle = to_fhir(block, warnings)`, store it as
a transaction, then send `frame(ack(block, None, warnings=warnings))`; on a MappingError `e` (or a storage failure, as
MappingError(..., "207")), send `frame(ack(block, e))` and store nothing.
"""
from .ack import ApplicationError, ack
from .encoding import encode
from .inbound import to_fhir
from .message import batch_messages, parse
from .mllp import frame, read_frames
from .outbound import from_fhir

__all__ = ["ApplicationError", "ack", "batch_messages", "encode", "frame", "from_fhir", "parse", "read_frames",
           "to_fhir"]
