"""`fhir-server mllp`: an HL7 v2 listener (MLLP over TCP) for the software of a care organisation.

Each framed message is mapped (mappers/hl7v2), stored as one transaction pushed for its documents' authors
(the record's state, oppositions and the patient's blocking of an author rule; the patient is told of new
documents) and audited as pushed by the registered client the listener serves, for the author it names;
the ACK (with the mapping's warnings, or a refusal with its ANS code as `$ingest` gives it:
service/ingest.py) goes back framed on the same connection. MLLP carries no credentials: bind it to loopback or a
private network, put TLS in front, and run one listener per referenced client (`--client-id`).
"""
from __future__ import annotations

import socketserver
from collections.abc import Callable

from mappers import hl7v2
from mappers.errors import MappingError

from .audit.events import Actor
from .auth.clients import ClientRegistry
from .service.audit import AuditTrail
from .service.importer import store_transaction
from .service.ingest import hl7_refusal
from .service.resources import ResourceService

# a message in, its ACK out
Handle = Callable[[bytes], str]


def handler(service: ResourceService, transactions, audit: AuditTrail, client_id: str, max_entries: int) -> Handle:
    """What the listener does with each message: refused (AR) while its client is not referenced."""
    actor = Actor(kind="software", client_id=client_id)
    registry = ClientRegistry(service.store.db)

    def handle(message: bytes) -> str:
        client = registry.get(client_id)
        if client is None or client.status != "referenced":
            return hl7v2.ack(message, MappingError(f"Client {client_id} is not a referenced client", code="200"))
        warnings: list[MappingError] = []
        try:
            bundle = hl7v2.to_fhir(message, warnings)
        except MappingError as error:
            return hl7v2.ack(message, error)
        stored = store_transaction(service, transactions, audit, bundle, max_entries, actor, "mllp", "MLLP")
        if stored.outcome != "rejected":
            return hl7v2.ack(message, None, warnings=warnings)
        refusal = hl7_refusal(stored.error) if stored.error else MappingError(stored.why[:500], code="207")
        return hl7v2.ack(message, refusal)
    return handle


class MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True  # pragma: no mutate (how the process stops, not what it answers)
    allow_reuse_address = True  # pragma: no mutate (a restart's bind, not what it answers)

    def __init__(self, address: tuple[str, int], handle: Handle) -> None:
        super().__init__(address, _Connection)
        self.handle_message = handle


class _Connection(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            for message in hl7v2.read_frames(self.rfile):
                self.wfile.write(hl7v2.frame(self.server.handle_message(message)))  # unbuffered: sent now
        except MappingError as error:  # broken framing: answer once, then close the connection
            self.wfile.write(hl7v2.frame(hl7v2.ack(b"", error)))
        except ConnectionError:
            return
