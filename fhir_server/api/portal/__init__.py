"""The patient's portal at /portal: server-rendered pages (Jinja2, in French) where the owner of a record, or a
minor's legal representative, reads and controls it. It is a client of the same services and rules as the
API (access/policy.py decides what it shows and allows, each of its calls is audited as an API call is:
caller.py), with a server-side session (session.py), CSRF tokens on every form and a strict
Content-Security-Policy."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="../templates",
               static_folder="../static/portal", static_url_path="/static")

from . import activity, documents, pages, record, session, sharing, signin  # noqa: E402,F401  (the views)

bp.before_request(session.load)
bp.after_request(session.protect)
pages.register_errors(bp)
