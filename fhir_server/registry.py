"""What the server serves: resource types and their interactions.

Routing, the interaction checks and the CapabilityStatement all read this one table.
"""
from __future__ import annotations

from dataclasses import dataclass

from validation.definitions import structure_definitions

ALL_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
                    "search-type")
RECORDED_BY_SERVER = ("read", "vread", "history-instance", "search-type")
OUR_CANONICAL = "https://fhir-server.github.io"  # the canonical base of this server's own definitions
NOT_SEARCHED = tuple(i for i in ALL_INTERACTIONS if i != "search-type")


@dataclass(frozen=True)
class ResourceKind:
    name: str
    interactions: tuple[str, ...] = ALL_INTERACTIONS
    documentation: str = ""
    operations: tuple[tuple[str, str], ...] = ()  # (name, OperationDefinition) of this type's own operations

    def supports(self, interaction: str) -> bool:
        return interaction in self.interactions


RESOURCES: dict[str, ResourceKind] = {kind.name: kind for kind in (
    ResourceKind("Patient", documentation=(
        "The record's owner. The owner (or a minor's representative) closes the record ($close-record: its "
        "content becomes inaccessible, kept 10 years), reopens it ($reopen-record) or deletes it for good "
        "($delete-record?confirm=true: purged at once)."), operations=(
        ("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
        ("close-record", f"{OUR_CANONICAL}/OperationDefinition/Patient-close-record"),
        ("reopen-record", f"{OUR_CANONICAL}/OperationDefinition/Patient-reopen-record"),
        ("delete-record", f"{OUR_CANONICAL}/OperationDefinition/Patient-delete-record"))),
    ResourceKind("DocumentReference", documentation="A document's metadata; its content is a Binary."),
    ResourceKind("Binary", interactions=NOT_SEARCHED, documentation=(
        "Document content, stored in GridFS. A read whose Accept is not a FHIR format returns the raw "
        "content with its own MIME type; a create or update with a non-FHIR Content-Type stores the body as is.")),
    ResourceKind("List", documentation="IHE MHD SubmissionSets and Folders: the documents sent together."),
    ResourceKind("Consent", documentation=(
        "The patient's access rules, written by the patient (or representative): an active Consent with "
        "provision.type deny and provision.actor naming a professional by identifier "
        "(urn:oid:1.2.250.1.71.4.2.1) blocks them (with provision.action access only: refuses them "
        "consultation); one with provision.purpose ETREAT and no actor opposes emergency access; one with "
        "provision.action collect and no actor opposes feeding the record. The server also writes those a care "
        "organisation collected (IHE PAM France ZFA). Not readable by professionals.")),
    ResourceKind("Practitioner", documentation="Authors of documents, as MHD Bundles send them (RPPS identifiers)."),
    ResourceKind("Organization", documentation="Custodians and authors' organisations (FINESS, SIRET identifiers)."),
    ResourceKind("RelatedPerson", documentation=(
        "A patient's legal representative (relationship parent or guardian, identified by their own INS): "
        "they act for the patient while the patient is a minor.")),
    ResourceKind("AuditEvent", interactions=RECORDED_BY_SERVER, documentation=(
        "The activity history, recorded by the server for every interaction (IHE BALP), each event hash-chained "
        "to the previous one of the same patient (`fhir-server audit verify`). Read by the patient (or "
        "representative) only: AuditEvent?patient=...; create, update, patch and delete answer 405.")),
)}

# Operations on the whole server and on each type, with the official definition, and their documentation.
OPERATIONS = {"validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}
OPERATIONS_DOCUMENTATION = {"validate": (
    "POST [base]/$validate (the type is the resource's own) or [base]/[type]/$validate: a resource of any R4 "
    "resource type, stored here or not, in FHIR JSON or XML, alone or in a Parameters (resource, mode, "
    "profile), checked against R4 and the profiles named by `profile` or claimed in meta.profile that this "
    "server holds; no resource is read or stored (the call is audited as any other). Each issue gives its "
    "element's FHIRPath (expression and location). [base]/[type]/[id]/$validate, on the types listed here, "
    "checks the stored resource or a proposed update (mode=update). The `fhir-validate` command gives the same "
    "answers offline.")}
# Operations on the whole server: (definition, documentation).
SYSTEM_OPERATIONS = {"ingest": (f"{OUR_CANONICAL}/OperationDefinition/ingest", (
    "POST [base]/$ingest: a push in the sender's own format, mapped to FHIR and stored as one transaction "
    "(same validation, MHD checks, access rules and audit trail), answered in that format: HL7 v2.5 ORU^R01, "
    "MDM^T02, ADT^A01/A04/A08/A28/A31 (application/hl7-v2; an ACK), CDA R2 (application/cda+xml; a "
    "transaction-response), IHE XDS.b ITI-41 (multipart/related MTOM or application/soap+xml; a "
    "RegistryResponse), a FHIR Bundle (application/fhir+json)."))}


def is_r4_resource_type(name: str) -> bool:
    sd = structure_definitions().get(name)
    return bool(sd) and sd.get("kind") == "resource" and not sd.get("abstract")
