"""The activity history: the record's AuditEvents (what the API's `AuditEvent?patient=` answers its owner),
newest first, paged, filtered by period, kind of action, outcome and author, told in plain French."""
from __future__ import annotations

from flask import Response, g, request

from ...audit.events import INS
from . import bp
from .caller import find
from .documents import DAY, PAGE_SIZE
from .pages import page, page_asked
from .session import signed_in
from .wording import activity, directory

ACTIONS = {"consultations": "R,E", "ajouts": "C", "modifications": "U,D"}
ACTION_LABELS = {"": "Toutes les actions", "consultations": "Consultations et recherches",
                 "ajouts": "Ajouts", "modifications": "Modifications et suppressions"}
WHO_LABELS = {"": "Tout le monde", "professionnels": "Les professionnels de santé", "moi": "Moi"}


@bp.get("/historique")
@signed_in
def history() -> Response:
    asked = {name: request.args.get(name, "") for name in ("du", "au", "action", "qui", "refus")}
    errors = {name: "Saisissez une date complète (jour, mois, année)."
              for name in ("du", "au") if asked[name] and not DAY.fullmatch(asked[name])}
    page_number = page_asked()
    items = [("_sort", "-date"), ("_count", str(PAGE_SIZE)), ("_offset", str((page_number - 1) * PAGE_SIZE))]
    items += [("date", f"ge{asked['du']}")] if asked["du"] and "du" not in errors else []
    items += [("date", f"le{asked['au']}")] if asked["au"] and "au" not in errors else []
    items += [("action", ACTIONS[asked["action"]])] if asked["action"] in ACTIONS else []
    items += [("agent-role:missing", "false")] if asked["qui"] == "professionnels" else []
    items += [_me()] if asked["qui"] == "moi" else []
    items += [("outcome:not", "0")] if asked["refus"] == "1" else []
    bundle = find("AuditEvent", items)
    events = [e["resource"] for e in bundle.get("entry") or []]
    names = directory(_documents(), events)
    told = [activity(event, names, g.visitor.person, g.visitor.ins) for event in events]
    total = bundle.get("total", len(told))
    return page("history.html", title="Historique des accès", events=told, asked=asked, errors=errors,
                action_labels=ACTION_LABELS, who_labels=WHO_LABELS, page_number=page_number,
                more=page_number * PAGE_SIZE < total, total=total)


def _me() -> tuple[str, str]:
    """The criterion of the visitor's own actions: as the patient, or as a representative (by their INS)."""
    visitor = g.visitor
    if visitor.representative:
        return "agent:identifier", f"{INS}|{visitor.ins}"
    return "agent", f"Patient/{visitor.person}"


def _documents() -> list[dict]:
    """The record's documents, to name their authors."""
    bundle = find("DocumentReference", [("_count", "100"), ("_sort", "-date")])
    return [e["resource"] for e in bundle.get("entry") or []]
