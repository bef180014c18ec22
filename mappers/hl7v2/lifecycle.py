"""The steps of a document's life in HL7 v2 (ANS CI-SIS volet "transmission de documents CDA en HL7 v2", MDM
and ORU profiles), and the metadata OBX segments (MetaDMPMSS) that go with them.

- `step`: initial transmission, replacement or deletion, from the MDM event (T02, T10, T04) or ORC-1 (NW, RO,
  CA), which must agree with ORC-1 and with OBX-11 of every document OBX (F, C, D): a message where they
  disagree is refused ("en cas d'incohérence entre ces champs, le message HL7 sera rejeté").
- `metadata_labels`: the visibility flags set to Y as TRE_A07 security labels; what the server does not act
  on is named in a warning (tables.json, `metadata`).
"""
from __future__ import annotations

from ..errors import MappingError
from .ack import ApplicationError
from .message import Message, Segment
from .tables import TABLES

STEPS: dict[str, dict[str, str]] = {name: TABLES["lifecycle"][name] for name in ("initial", "replacement", "deletion")}
INITIAL, REPLACEMENT, DELETION = STEPS
A_STEP = {INITIAL: "an initial transmission", REPLACEMENT: "a replacement", DELETION: "a deletion"}
_META = TABLES["metadata"]
_FLAGS = {**_META["labels"], **{code: None for code in (*_META["acted_on"], _META["published"],
                                                         *_META["not_acted_on"])}}


def is_metadata(obx: Segment) -> bool:
    """A metadata OBX: OBX-3 coded in MetaDMPMSS (or, from an older sender, one of its codes alone)."""
    return obx.get(3, 3) == _META["coding_system"] or (not obx.get(3, 3) and obx.get(3) in _FLAGS)


def step(message: Message, kind: str, documents: list[Segment]) -> str | None:
    """The step a document message asks for (INITIAL, REPLACEMENT, DELETION). An MDM says it by its event;
    an ORU by ORC-1, None when ORC-1 is none of NW, RO, CA (results outside the volet: an initial
    transmission, unchecked). `documents`: the document OBX segments (not the metadata ones)."""
    orders = [orc for orc in message.all("ORC") if orc.get(1)]
    if kind == "document":
        event = message.header.get(9, 2)
        name = next(name for name, s in STEPS.items() if s["event"] == event)
    else:
        name = next((name for name, s in STEPS.items() for orc in orders[:1] if s["order"] == orc.get(1)), None)
        if name is None:
            return None
    expected = STEPS[name]
    for orc in orders:
        if orc.get(1) != expected["order"]:
            said = f"the event {expected['event']}" if kind == "document" else f"ORC-1 {orders[0].get(1)!r}"
            raise ApplicationError(f"{orc.at(1)} {orc.get(1)!r} disagrees with {said}: {A_STEP[name]} has ORC-1 "
                                   f"{expected['order']!r}; the message is refused", "906", orc.at(1))
    others = {s["status"] for s in STEPS.values()} - {expected["status"]}
    for obx in documents:  # an initial transmission outside the volet may have another status (P...)
        if obx.get(11) != expected["status"] and (name != INITIAL or obx.get(11) in others):
            by = f"the event {expected['event']}" if kind == "document" else f"ORC-1 {expected['order']!r}"
            raise ApplicationError(f"{obx.at(11)} (result status of the document) {obx.get(11)!r} disagrees with "
                                   f"{by}: {A_STEP[name]} has OBX-11 {expected['status']!r}; the message is refused",
                                   "906", obx.at(11))
    return name


def metadata_labels(observations: list[Segment], warnings: list[MappingError]) -> list[dict]:
    """The security labels the metadata OBX segments ask for (one per flag set to Y, each label once).
    DESTDMP=N refuses the message: this server is the shared record it asks not to be published to. A
    request the server does not act on, or a code it does not know, is appended to `warnings`."""
    labels: dict[str, dict] = {}
    for obx in observations:
        code, where = obx.get(3), obx.at(3)
        obx.taken(11)  # "valeur arbitrairement fixée à F" (meta-dmp-mss): it says nothing of the flag
        if obx.get(2) == "ED":  # a mail body
            obx.taken(5)  # the body the warning names
            if code in _META["not_acted_on"]:
                warnings.append(MappingError(f"{where} {code} is not acted on: {_META['not_acted_on'][code]}",
                                             "207", where))
            else:
                warnings.append(MappingError(f"{where} {code!r} is not a metadata this server knows: left out",
                                             "207", where))
            continue
        value = obx.get(5)
        if code not in _FLAGS:
            warnings.append(MappingError(f"{where} {code!r} is not a metadata this server knows: left out",
                                         "207", where))
            continue
        if value not in ("Y", "N"):
            raise MappingError(f"{obx.at(5)} {code} {value!r} is not Y or N (HL7 table 0136)", "103", obx.at(5))
        if code == _META["published"] and value == "N":
            raise ApplicationError(f"{obx.at(5)} DESTDMP is N: the sender asks that the document not be published "
                                   f"to the shared record, which this server is; nothing is stored", "906", obx.at(5))
        if value == "Y" and code in _META["labels"]:
            label, display = _META["labels"][code]
            labels[label] = {"coding": [{"system": _META["label_system"], "code": label, "display": display}]}
        elif value == "Y" and code in _META["not_acted_on"]:
            warnings.append(MappingError(f"{where} {code} is not acted on: {_META['not_acted_on'][code]}",
                                         "207", where))
    return list(labels.values())
