"""`fhir-conformance run --base URL [--auth ...] [--only TAG ...] [--report FILE ...]`: the suite against any
FHIR R4 server. Exit 0 when nothing failed, 1 when a check failed, 2 when the server cannot be asked."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

from .auth import Auth
from .capability import Declared
from .generated import capability_scenarios
from .report import html, junit
from .results import Result
from .runner import Context, load, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fhir-conformance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("run", help="run the scenarios against a server")
    command.add_argument("--base", required=True, help="the server's FHIR base URL")
    command.add_argument("--auth", help="bearer:TOKEN or smart:CLIENT_ID:PRIVATE_JWK_FILE")
    command.add_argument("--limited-auth", help="a second credential with fewer scopes (security checks)")
    command.add_argument("--assertion-claims", default="{}", help="JSON claims added to SMART assertions")
    command.add_argument("--scope", default="system/*.cruds", help="the scope asked with smart:")
    command.add_argument("--limited-scope", default="system/Patient.rs", help="the scope of --limited-auth")
    command.add_argument("--patient-auth", help="a patient's credential (bearer:TOKEN): the record's rules")
    command.add_argument("--emergency-claims", help="JSON claims that make --auth's SMART assertion an emergency "
                         "(break-glass) access, e.g. {\"purpose_of_use\": \"ETREAT\"}")
    command.add_argument("--representative-auth", help="the credential (bearer:TOKEN) of a minor's legal "
                         "representative acting for the minor")
    command.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                         help="a scenario variable, e.g. practitioner=<the IDNPS --auth acts for>")
    command.add_argument("--only", action="append", default=[], help="run only scenarios with this tag")
    command.add_argument("--report", action="append", default=[], type=Path, help="junit .xml or .html")
    args = parser.parse_args(argv)
    session = requests.Session()
    try:
        claims = json.loads(args.assertion_claims)
        auth = Auth(args.auth, args.base, claims, args.scope, session)
        others = {"limited": Auth(args.limited_auth, args.base, claims, args.limited_scope, session)
                  if args.limited_auth else None,
                  "patient": Auth(args.patient_auth, args.base, session=session) if args.patient_auth else None,
                  "emergency": Auth(args.auth, args.base, {**claims, **json.loads(args.emergency_claims)}, args.scope,
                                    session) if args.emergency_claims else None,
                  "representative": Auth(args.representative_auth, args.base, session=session)
                  if args.representative_auth else None}
        variables = dict(item.split("=", 1) for item in args.var)
        metadata = session.get(f"{args.base.rstrip('/')}/metadata", headers={"Accept": "application/fhir+json"},
                               timeout=60)
        declared = Declared(metadata.json())
        auth.headers()
    except (ValueError, OSError, RuntimeError, requests.RequestException) as error:
        print(f"fhir-conformance: {error}", file=sys.stderr)
        return 2
    context = Context(args.base, auth, session, {name: given for name, given in others.items() if given}, variables)
    scenarios = capability_scenarios(declared) + load()
    if args.only:
        scenarios = [s for s in scenarios if set(s["tags"]) & set(args.only)]
    results: list[Result] = []
    for scenario in scenarios:
        for result in run(scenario, context, declared):
            results.append(result)
            print(f"{result.status.upper():4} [{result.tag}] {result.scenario}: {result.check}"
                  + (f" — {result.reason}" if result.reason else ""))
            if result.status == "fail":
                print(f"    rule: {result.rule}")
                if result.exchange:
                    print("    " + result.exchange.replace("\n", "\n    "))
    for path in args.report:
        path.write_bytes(junit(results) if path.suffix == ".xml" else html(results, args.base))
    counts = {status: sum(r.status == status for r in results) for status in ("pass", "fail", "skip")}
    print(f"passed: {counts['pass']}, failed: {counts['fail']}, skipped: {counts['skip']}")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
