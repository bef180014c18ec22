"""The `fhir-server` command: serve, capability, clients, patients, records, retention, audit, notifications."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from .capability import capability_statement

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPABILITY_FILE = REPO_ROOT / "capability_statement.json"
DATA_DIR = Path(os.environ.get("FHIR_DATA_DIR", REPO_ROOT / ".data" / "ferretdb"))


def capability_json() -> str:
    return json.dumps(capability_statement(), indent=2, ensure_ascii=False) + "\n"


def cmd_capability(args: argparse.Namespace) -> int:
    text = capability_json()
    if args.check:
        if not args.output.is_file() or args.output.read_text(encoding="utf-8") != text:
            print(f"{args.output} is out of date: run `fhir-server capability`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .config import Settings, is_wildcard
    from .service.audit_writer import WriterProcess
    from .storage.ferretdb import LocalFerretDB

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", "-" if args.access_log else None)

        def load(self):
            from . import create_app
            return create_app()

    if is_wildcard(args.host) and not os.environ.get("FHIR_BASE_URL"):
        print(f"listening on every interface ({args.host}), set FHIR_BASE_URL to the URL clients use: it is what "
              "their assertions must name", file=sys.stderr)
        return 2
    # The workers' create_app() reads these: the public origin when FHIR_BASE_URL is not set (config.py).
    os.environ["FHIR_HOST"], os.environ["FHIR_PORT"] = args.host, str(args.port)
    database = None
    if not os.environ.get("MONGODB_URI"):
        database = LocalFerretDB(args.data)
        os.environ["MONGODB_URI"] = database.start()
        os.environ["FERRETDB_SQLITE_DIR"] = str(database.sqlite_dir)
        print(f"FerretDB (SQLite, data in {args.data}) at {os.environ['MONGODB_URI']}", flush=True)
    writer = WriterProcess()  # the workers hand it their AuditEvents (service/audit_writer.py)
    try:
        writer.start()
        os.environ.update(writer.environment)
        print(f"FHIR R4 base: {Settings.from_mapping().fhir_base}", flush=True)
        Server().run()
    finally:
        writer.stop()
        if database:
            database.stop()
    return 0


@contextlib.contextmanager
def _database(data: Path):
    """The database `serve` uses: MONGODB_URI, else a FerretDB on the local data folder (which a running
    server may be using at the same time: both work on the same SQLite files)."""
    from .config import Settings
    from .storage.ferretdb import LocalFerretDB
    from .storage.mongo import connect, ensure_indexes

    database = None
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        database = LocalFerretDB(data)
        uri = database.start()
    try:
        db = connect(uri, Settings.from_mapping().database_name)
        ensure_indexes(db, [])
        yield db
    finally:
        if database:
            database.stop()


def cmd_patients(args: argparse.Namespace) -> int:
    """`patients letters`: takes the letters to send (one JSON line each: patient, code) out of the outbox;
    `patients activation-code ID`: a new provisional code for a record (a lost letter), printed."""
    from .auth.patients import ActivationRefused, issue_activation_code
    from .storage.auth import Letters
    from .storage.resources import ResourceStore

    with _database(args.data) as db:
        if args.action == "letters":
            for letter in Letters(db).take_all():
                print(json.dumps({"patient": letter["patient"], "code": letter["code"]}))
            return 0
        try:
            print(issue_activation_code(ResourceStore(db), args.patient_id))
        except ActivationRefused as refused:
            print(refused, file=sys.stderr)
            return 1
    return 0


def cmd_records(args: argparse.Namespace) -> int:
    """`records oppose SYSTEM|VALUE`: a person opposed the creation of their record (received by the
    insurer's channel): later pushes for them are refused and a record they had is purged; `records
    withdraw-opposition SYSTEM|VALUE` lifts it."""
    from .service.records import RecordLifecycle
    from .storage.resources import ResourceStore

    system, bar, value = args.identifier.partition("|")
    if not (system and bar and value):
        print("give the identifier as SYSTEM|VALUE, e.g. urn:oid:1.2.250.1.213.1.4.8|1234567890123", file=sys.stderr)
        return 2
    with _database(args.data) as db:
        lifecycle = RecordLifecycle(ResourceStore(db))
        if args.action == "oppose":
            purged = lifecycle.oppose(system, value)
            print(f"opposition recorded; records purged: {len(purged)}")
        elif not lifecycle.records.withdraw_opposition(system, value):
            print("no opposition for that identifier", file=sys.stderr)
            return 1
        else:
            print("opposition withdrawn")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """`retention run`: purges the closed records past their retention (FHIR_RECORD_RETENTION_YEARS)."""
    from .config import Settings
    from .service.records import RecordLifecycle
    from .storage.resources import ResourceStore

    with _database(args.data) as db:
        purged = RecordLifecycle(ResourceStore(db), Settings.from_mapping().record_retention_years).purge_due()
    print(f"records purged: {len(purged)}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """`audit verify [--patient ID]`: recomputes the AuditEvent chains with the audit key and holds them to
    their checkpoints; exit 1 at the first broken link, 2 for an --patient that is not a Patient id."""
    from .audit.chain import CHAIN_KEY
    from .audit.verify import verify_command
    from .service.audit import AuditTrail
    from .storage.resources import ResourceStore

    if args.patient is not None and not CHAIN_KEY.fullmatch(args.patient):
        print(f"not a Patient id: {args.patient}", file=sys.stderr)
        return 2
    with _database(args.data) as db:
        trail = AuditTrail(ResourceStore(db))
        return verify_command(trail.chain, trail.read_event, args.patient)


def cmd_reindex(args: argparse.Namespace) -> int:
    """`reindex [--type T]...`: computes the stored search fields again (after an upgrade that changed them)."""
    from .registry import RESOURCES
    from .service.reindex import reindex
    from .storage.resources import ResourceStore

    unknown = sorted(set(args.type or []) - set(RESOURCES))
    if unknown:
        print(f"not a resource type this server stores: {', '.join(unknown)}", file=sys.stderr)
        return 2
    with _database(args.data) as db:
        for resource_type, changed in reindex(ResourceStore(db), args.type).items():
            print(f"{resource_type}: {changed} documents reindexed")
    return 0


def cmd_notifications(args: argparse.Namespace) -> int:
    """`notifications send`: one round of e-mail delivery (FHIR_SMTP_* settings)."""
    from .notifications.smtp import SmtpSettings
    from .service.notify import deliver_now
    from .storage.resources import ResourceStore

    if not SmtpSettings.from_env().enabled:
        print("set FHIR_SMTP_HOST (and FHIR_SMTP_FROM) to deliver notifications", file=sys.stderr)
        return 2
    with _database(args.data) as db:
        print(json.dumps(deliver_now(ResourceStore(db))))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """`import PATH...`: loads files and folders (HL7 v2, CDA R2, XDS.b, FHIR JSON Bundles or resources,
    NDJSON), each message or document one transaction; prints a summary; exit 1 when any was rejected."""
    from .config import Settings
    from .storage.notification_queue import Notifications
    from .service.audit import AuditTrail
    from .service.importer import import_paths
    from .service.resources import ResourceService
    from .storage.resources import ResourceStore
    from .storage.transactions import Transactions

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    settings = Settings.from_mapping()
    with _database(args.data) as db:
        store = ResourceStore(db)
        service = ResourceService(store, Notifications(db).enqueue)
        report = import_paths(service, Transactions(store, settings.transaction_lease_seconds), AuditTrail(store),
                              args.paths, settings.bundle_max_entries)
    print("\n".join(report.lines()))
    return 1 if report.rejected else 0


def cmd_mllp(args: argparse.Namespace) -> int:
    """`mllp --client-id ID`: an HL7 v2 MLLP listener pushing for that referenced client (fhir_server/mllp.py)."""
    from .config import Settings
    from .mllp import MllpServer, handler
    from .storage.notification_queue import Notifications
    from .service.audit import AuditTrail
    from .service.resources import ResourceService
    from .storage.resources import ResourceStore
    from .storage.transactions import Transactions

    settings = Settings.from_mapping()
    with _database(args.data) as db:
        store = ResourceStore(db)
        handle = handler(ResourceService(store, Notifications(db).enqueue),
                         Transactions(store, settings.transaction_lease_seconds), AuditTrail(store), args.client_id,
                         settings.bundle_max_entries)
        with MllpServer((args.host, args.port), handle) as server:
            print(f"MLLP listener for client {args.client_id} on {args.host}:{server.server_address[1]}", flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return 0


def cmd_clients(args: argparse.Namespace) -> int:
    """The vendor registry (auth/clients.py), in the database `serve` uses."""
    from .auth.clients import ClientRegistry

    with _database(args.data) as db:
        registry = ClientRegistry(db)
        if args.action == "add":
            try:
                if args.redirect_uri and not args.jwks:
                    client = registry.add_public(args.name, args.redirect_uri, args.scope)
                elif args.jwks and not args.redirect_uri:
                    client = registry.add(args.name, json.loads(args.jwks.read_text(encoding="utf-8")), args.scope)
                else:
                    raise ValueError("give --jwks (software signing assertions) or --redirect-uri (a patient app)")
            except (OSError, ValueError) as error:  # a bad file, bad JSON, or InvalidRegistration
                print(f"cannot register the client: {error}", file=sys.stderr)
                return 1
            print(json.dumps({"client_id": client.client_id, "name": client.name, "status": client.status,
                              "scopes": client.scopes}))
        elif args.action == "list":
            for client in registry.all():
                print(f"{client.client_id}\t{client.status}\t{client.name}\t{' '.join(client.scopes)}")
        else:
            status = {"suspend": "suspended", "remove": "withdrawn", "reinstate": "referenced"}[args.action]
            if not registry.set_status(args.client_id, status):
                print(f"no client {args.client_id}", file=sys.stderr)
                return 1
            print(f"{args.client_id}: {status}")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the FHIR API with gunicorn (starts FerretDB unless MONGODB_URI is set)")
    serve.add_argument("--host", default=os.environ.get("FHIR_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FHIR_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("FHIR_WORKERS", os.cpu_count() or 2)))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("FHIR_THREADS", "8")))
    serve.add_argument("--data", type=Path, default=DATA_DIR, help="FerretDB's data folder")
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=cmd_serve)

    capability = commands.add_parser("capability", help="write the CapabilityStatement to a file")
    capability.add_argument("--output", type=Path, default=CAPABILITY_FILE)
    capability.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    capability.set_defaults(run=cmd_capability)

    data_option = argparse.ArgumentParser(add_help=False)
    data_option.add_argument("--data", type=Path, default=DATA_DIR, help="FerretDB's data folder (without MONGODB_URI)")
    clients = commands.add_parser("clients", parents=[data_option],
                                  help="the registry of referenced vendor software (OAuth 2 clients)")
    actions = clients.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register a referenced client; prints its client id")
    add.add_argument("--name", required=True, help="the vendor and software name")
    add.add_argument("--jwks", type=Path, help="software: a JSON file with its public keys (JWKS)")
    add.add_argument("--redirect-uri", action="append", help="a patient app (public, PKCE): where codes go (repeatable)")
    add.add_argument("--scope", action="append", required=True, help="a SMART scope it may get (repeatable)")
    actions.add_parser("list", help="every client: id, status, name, scopes")
    for action, meaning in (("suspend", "no more tokens; its live tokens stop working within "
                                        "FHIR_TOKEN_RECHECK_SECONDS"),
                            ("remove", "withdrawn for good (kept for the audit trail)"),
                            ("reinstate", "referenced again")):
        actions.add_parser(action, help=meaning).add_argument("client_id")
    clients.set_defaults(run=cmd_clients)

    patients = commands.add_parser("patients", parents=[data_option], help="patients' access to their record")
    patient_actions = patients.add_subparsers(dest="action", required=True)
    patient_actions.add_parser("letters", help="take the activation letters to send out of the outbox (JSON lines)")
    code = patient_actions.add_parser("activation-code", help="issue and print a new provisional activation code")
    code.add_argument("patient_id")
    patients.set_defaults(run=cmd_patients)

    load = commands.add_parser("import", parents=[data_option], help="load files or folders of any supported format")
    load.add_argument("paths", nargs="+", type=Path, help="files or folders (HL7 v2, CDA, XDS.b, FHIR JSON, NDJSON)")
    load.set_defaults(run=cmd_import)

    mllp = commands.add_parser("mllp", parents=[data_option], help="an HL7 v2 MLLP listener for one referenced client")
    mllp.add_argument("--client-id", required=True, help="the referenced client the messages are pushed for")
    mllp.add_argument("--host", default="127.0.0.1")
    mllp.add_argument("--port", type=int, default=2575)
    mllp.set_defaults(run=cmd_mllp)

    records = commands.add_parser("records", parents=[data_option], help="oppositions to a record's creation")
    record_actions = records.add_subparsers(dest="action", required=True)
    for action, meaning in (("oppose", "refuse every push for this person; purge a record they have"),
                            ("withdraw-opposition", "lift an opposition")):
        record_actions.add_parser(action, help=meaning).add_argument("identifier", help="SYSTEM|VALUE (INS)")
    records.set_defaults(run=cmd_records)

    retention = commands.add_parser("retention", parents=[data_option], help="closed records' retention")
    retention.add_subparsers(dest="action", required=True).add_parser(
        "run", help="purge the closed records past their retention")
    retention.set_defaults(run=cmd_retention)

    audit = commands.add_parser("audit", parents=[data_option], help="the AuditEvent hash chains")
    verify = audit.add_subparsers(dest="action", required=True).add_parser(
        "verify", help="report the first broken link of each chain (exit 1), with the audit key and checkpoints "
                       "(FHIR_AUDIT_KEY_FILE, FHIR_AUDIT_CHECKPOINTS)")
    verify.add_argument("--patient", help="only this patient's chain")
    audit.set_defaults(run=cmd_audit)

    reindexing = commands.add_parser("reindex", parents=[data_option],
                                     help="compute the stored search fields again (after an upgrade that changed them)")
    reindexing.add_argument("--type", action="append", help="only this resource type (repeatable)")
    reindexing.set_defaults(run=cmd_reindex)

    notifications = commands.add_parser("notifications", parents=[data_option], help="patients' e-mail notifications")
    notifications.add_subparsers(dest="action", required=True).add_parser("send", help="deliver what is due now")
    notifications.set_defaults(run=cmd_notifications)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
