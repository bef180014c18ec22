"""What the portal says of the record's data, in plain French: document types, professions, dates, and the
activity history's events (who did what, when)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ...access.consents import HIDDEN_FROM_PROFESSIONALS, visibility_codes
from ...audit.events import OPERATIONS, PROFESSION, RESTFUL_INTERACTION, RPPS

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
# JDV_J66-TypeCode-DMP (LOINC), the types the filter offers
DOCUMENT_TYPES = {
    "11488-4": "Compte rendu de consultation", "11502-2": "Compte rendu de biologie",
    "18748-4": "Compte rendu d'imagerie", "57833-6": "Prescription", "11490-0": "Lettre de sortie",
    "34133-9": "Synthèse", "60591-5": "Volet de synthèse médicale", "87273-9": "Vaccination",
}
PROFESSIONS = {"10": "Médecin", "21": "Pharmacien", "40": "Chirurgien-dentiste", "50": "Sage-femme",
               "60": "Infirmier", "70": "Masseur-kinésithérapeute"}
RESOURCES = {"DocumentReference": "un document", "Binary": "le contenu d'un document", "Patient": "le dossier",
             "Consent": "les choix d'accès", "AuditEvent": "l'historique", "List": "un lot de documents",
             "RelatedPerson": "les représentants légaux"}
SEARCHED = {"DocumentReference": "les documents", "AuditEvent": "l'historique", "Consent": "les choix d'accès",
            "Patient": "le dossier", "List": "les lots de documents", "RelatedPerson": "les représentants légaux"}
DONE = {"read": "a consulté", "vread": "a consulté", "history-instance": "a consulté l'historique de",
        "search-type": "a cherché dans", "create": "a ajouté", "update": "a modifié", "patch": "a modifié",
        "delete": "a supprimé", "batch": "a envoyé", "transaction": "a envoyé"}
OPERATIONS_DONE = {"close-record": "a fermé le dossier", "reopen-record": "a rouvert le dossier",
                   "everything": "a consulté tout le dossier", "sign-in": "s'est connecté au portail",
                   "notice-choices": "a changé les choix de notifications",
                   "notice-choices-read": "a consulté les choix de notifications",
                   "notice-email": "a changé l'adresse e-mail des notifications", "ingest": "a envoyé des documents",
                   "validate": "a vérifié"}


def when(moment: str | datetime | None) -> str:
    """`7 décembre 2026 à 09:15` (Paris time), or a date alone when that is all there is."""
    if not moment:
        return "date inconnue"
    if isinstance(moment, str):
        if "T" not in moment:
            parts = [int(p) for p in moment.split("-")]
            return " ".join([str(parts[2]) if len(parts) > 2 else "", MONTHS[parts[1] - 1] if len(parts) > 1 else "",
                             str(parts[0])]).strip()
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    local = moment.astimezone(PARIS)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"


def document_type(document: dict) -> str:
    codings = (document.get("type") or {}).get("coding") or []
    for coding in codings:
        if coding.get("code") in DOCUMENT_TYPES:
            return DOCUMENT_TYPES[coding["code"]]
    return (document.get("type") or {}).get("text") or next((c["display"] for c in codings if c.get("display")),
                                                            "Document")


def hidden_from_professionals(document: dict) -> bool:
    return HIDDEN_FROM_PROFESSIONALS in visibility_codes(document)


@dataclass
class Professional:
    rpps: str
    name: str = ""
    profession: str = ""

    @property
    def label(self) -> str:
        name = self.name or f"Professionnel de santé n° RPPS {self.rpps}"
        return f"{name} ({self.profession})" if self.profession else name


def authors(document: dict) -> list[Professional]:
    """The document's authors as it names them (a display, an RPPS identifier, a contained Practitioner)."""
    contained = {f"#{c.get('id')}": c for c in document.get("contained") or []}
    found = []
    for author in document.get("author") or []:
        practitioner = contained.get(author.get("reference") or "", {})
        identifiers = [author.get("identifier") or {}, *(practitioner.get("identifier") or [])]
        rpps = next((i.get("value") for i in identifiers if i.get("system") == RPPS and i.get("value")), "")
        names = practitioner.get("name") or [{}]
        name = author.get("display") or names[0].get("text") or " ".join(
            [*names[0].get("given", []), names[0].get("family", "")]).strip()
        if rpps or name:
            found.append(Professional(rpps, name))
    return found


def directory(documents: list[dict], events: list[dict]) -> dict[str, Professional]:
    """RPPS -> the professional, as the record's documents and activity history name them."""
    known: dict[str, Professional] = {}
    for document in documents:
        for author in authors(document):
            if author.rpps:
                named = known.setdefault(author.rpps, author)
                named.name = named.name or author.name
    for event in events:
        for agent in event.get("agent") or []:
            identifier = (agent.get("who") or {}).get("identifier") or {}
            if identifier.get("system") == RPPS and identifier.get("value"):
                professional = known.setdefault(identifier["value"], Professional(identifier["value"]))
                professional.profession = professional.profession or _profession(agent)
    return known


def _profession(agent: dict) -> str:
    return next((PROFESSIONS.get(c.get("code"), "") for r in agent.get("role") or [] for c in r.get("coding") or []
                 if c.get("system") == PROFESSION), "")


@dataclass
class Activity:
    """One event of the history, told in words."""
    when: str
    who: str
    what: str
    allowed: bool
    emergency: bool


def activity(event: dict, names: dict[str, Professional], person: str, own_ins: str) -> Activity:
    """How an AuditEvent reads: `person` is the visitor's Patient id and `own_ins` their INS (told as « vous »)."""
    codes = {c.get("system"): c.get("code") for c in event.get("subtype") or []}
    operation, interaction = codes.get(OPERATIONS), codes.get(RESTFUL_INTERACTION, "")
    done = OPERATIONS_DONE.get(operation or "", f"a utilisé l'opération {operation}") if operation \
        else DONE.get(interaction, "a accédé à")
    entities = [(e.get("what") or {}).get("reference", "") for e in event.get("entity") or []]
    kinds = [RESOURCES.get(r.partition("/")[0]) for r in entities if r and r.partition("/")[0] != "Patient"]
    queries = [e["description"] for e in event.get("entity") or [] if e.get("description") and not e.get("what")]
    if interaction == "search-type" and queries:
        target = SEARCHED.get(queries[0].partition("?")[0], "le dossier")
    else:
        target = "" if operation and operation != "validate" else next((k for k in kinds if k), "le dossier")
    emergency = any(c.get("code") in ("ETREAT", "BTG") for p in event.get("purposeOfEvent") or []
                    for c in p.get("coding") or [])
    who = _who(event, names, person, own_ins)
    what = f"{done} {target}".strip()
    if who == "Vous":  # « vous avez consulté », « vous vous êtes connecté »
        what = "vous êtes" + what[len("s'est"):] if what.startswith("s'est") else re.sub(r"^a ", "avez ", what)
    return Activity(when(event.get("recorded")), who, what, event.get("outcome") == "0", emergency)


def _who(event: dict, names: dict[str, Professional], person: str, own_ins: str) -> str:
    for agent in event.get("agent") or []:
        who = agent.get("who") or {}
        identifier = who.get("identifier") or {}
        if identifier.get("system") == RPPS:
            known = names.get(identifier.get("value", "")) or Professional(identifier.get("value", ""))
            return Professional(known.rpps, known.name, known.profession or _profession(agent)).label
        if who.get("reference") == f"Patient/{person}" or (identifier.get("value") == own_ins and own_ins):
            return "Vous"
        if who.get("reference", "").startswith("Patient/"):
            return "Le titulaire du dossier"
        if identifier.get("system") and agent.get("requestor"):
            return "Un représentant légal"
    return "Un logiciel"
