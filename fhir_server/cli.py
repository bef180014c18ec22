"""The `fhir-server` command: serve the FHIR API, and manage what it serves (the vendor registry, patients'
access, records, retention, the audit trail, imports). Every command but `serve` and `capability` works on the
database the server uses: MONGODB_URI if set, else the FerretDB of the server running on the data folder
(--data, FHIR_DATA_DIR), else, when no server runs there, a FerretDB of its own on that folder."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPABILITY_FILE = REPO_ROOT / "capability_statement.json"
DATA_DIR = Path(os.environ.get("FHIR_DATA_DIR", REPO_ROOT / ".data" / "ferretdb"))
# Where `quickstart` keeps the key pairs it makes: the user's configuration folder, outside any repository.
KEYS_DIR = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "fhir-server" / "clients"
QUICKSTART_SCOPE = "system/*.cruds"


def capability_json() -> str:
    from .capability import capability_statement  # loads the R4 definitions: only this command needs them

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
    import multiprocessing

    from gunicorn.app.base import BaseApplication

    from .config import Settings, is_wildcard
    from .service.audit_writer import WriterProcess
    from .storage.ferretdb import LocalFerretDB, remove_server_record, running_server, write_server_record

    announced = multiprocessing.Value("b", 0)  # shared with the workers (forks): the first one ready says so

    def ready(worker) -> None:  # gunicorn's post_worker_init: this worker has loaded the app
        with announced.get_lock():
            first, announced.value = not announced.value, 1
        if first:
            print(f"ready: {fhir_base} (Ctrl-C stops it); to call it, register your software: "
                  f"fhir-server quickstart (README, Quick start)", flush=True)

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", "-" if args.access_log else None)
            self.cfg.set("post_worker_init", ready)

        def load(self):
            from . import create_app
            return create_app()

    if is_wildcard(args.host) and not os.environ.get("FHIR_BASE_URL"):
        print(f"listening on every interface ({args.host}), set FHIR_BASE_URL to the URL clients use: it is what "
              "their assertions must name", file=sys.stderr)
        return 2
    # The workers' create_app() reads these: the public origin when FHIR_BASE_URL is not set (config.py).
    os.environ["FHIR_HOST"], os.environ["FHIR_PORT"] = args.host, str(args.port)
    settings = Settings.from_mapping()
    fhir_base = settings.fhir_base
    database = None
    if not os.environ.get("MONGODB_URI"):
        running = running_server(args.data)
        if running:
            running[1].close()
            print(f"a server (pid {running[0]['pid']}) already serves the data folder {args.data} at "
                  f"{running[0].get('fhir_base')}: stop it first, or give another --data", file=sys.stderr)
            return 1
        database = LocalFerretDB(args.data)
        os.environ["MONGODB_URI"] = database.start()
        os.environ["FERRETDB_SQLITE_DIR"] = str(database.sqlite_dir)
        print(f"FerretDB (SQLite, data in {args.data}) at {os.environ['MONGODB_URI']}", flush=True)
    writer = WriterProcess()  # the workers hand it their AuditEvents (service/audit_writer.py)
    try:
        writer.start()
        os.environ.update(writer.environment)
        if database:  # the other commands use this database while the server runs (_database)
            write_server_record(args.data, database.uri, settings.database_name, fhir_base, database.process.pid)
        print(f"FHIR R4 base: {fhir_base}", flush=True)
        Server().run()
    finally:
        # gunicorn's SIGCHLD handler would reap the writer and FerretDB stopped below and log each as a worker
        # "sent SIGTERM!" (an ERROR line at every Ctrl-C): their own Popen waits for them instead.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if database:
            remove_server_record(args.data)
        writer.stop()
        if database:
            database.stop()
    return 0


@contextlib.contextmanager
def _connection(data: Path, own: bool = False, server_only: bool = False):
    """(database, the running server's record or None): the database `serve` uses. MONGODB_URI if set; else
    the FerretDB of the server running on the data folder (its DATA/server.json, storage/ferretdb.py), which
    costs a connection; else (no server running, or `own`) a FerretDB started for this command on that folder,
    which costs seconds and works on the same SQLite files a server started later will; with `server_only`,
    (None, None) then."""
    from .config import Settings
    from .storage.ferretdb import LocalFerretDB, running_server
    from .storage.mongo import connect, ensure_indexes

    uri = os.environ.get("MONGODB_URI")
    running = None if uri or own else running_server(data)
    if running:
        record, client = running
        print(f"database: the running server's (pid {record['pid']}, data folder {data}, "
              f"{record['mongodb_uri']})", file=sys.stderr)
        try:  # the server made the collections and indexes at start
            yield client[os.environ.get("FHIR_DATABASE") or record.get("database") or "fhir"], record
        finally:
            client.close()
        return
    if server_only and not uri:
        yield None, None
        return
    database = None
    if not uri:
        print(f"database: no server running on {data}, starting FerretDB for this command", file=sys.stderr)
        database = LocalFerretDB(data)
        uri = database.start()
    settings = Settings.from_mapping()
    db = connect(uri, settings.database_name, settings.concerns)
    try:
        ensure_indexes(db, [])
        yield db, None
    finally:
        db.client.close()
        if database:
            database.stop()


@contextlib.contextmanager
def _database(data: Path, own: bool = False):
    with _connection(data, own) as (db, _):
        yield db


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
    from .service.audit import AuditTrail
    from .service.importer import import_paths
    from .service.notify import notifier
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
        service = ResourceService(store, notifier(db))
        report = import_paths(service, Transactions(store, settings.transaction_lease_seconds), AuditTrail(store),
                              args.paths, settings.bundle_max_entries)
    print("\n".join(report.lines()))
    return 1 if report.rejected else 0


def cmd_mllp(args: argparse.Namespace) -> int:
    """`mllp --client-id ID`: an HL7 v2 MLLP listener pushing for that referenced client (fhir_server/mllp.py)."""
    from .config import Settings
    from .mllp import MllpServer, handler
    from .service.audit import AuditTrail
    from .service.notify import notifier
    from .service.resources import ResourceService
    from .storage.resources import ResourceStore
    from .storage.transactions import Transactions

    settings = Settings.from_mapping()
    # its own FerretDB: a long-running listener must not lose its database when the server stops
    with _database(args.data, own=True) as db:
        store = ResourceStore(db)
        handle = handler(ResourceService(store, notifier(db)),
                         Transactions(store, settings.transaction_lease_seconds), AuditTrail(store), args.client_id,
                         settings.bundle_max_entries)
        with MllpServer((args.host, args.port), handle) as server:
            print(f"MLLP listener for client {args.client_id} on {args.host}:{server.server_address[1]}", flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return 0


def _generate_key(folder: Path) -> tuple[dict, Path]:
    """A fresh P-384 key pair for software (ES384): (its public JWKS, the file in `folder` its private half is
    written to, mode 0600, under a provisional name until it is registered)."""
    from joserfc.jwk import ECKey, KeySet

    key = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = folder / f".new-{key.kid}.key.json"
    with os.fdopen(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
        json.dump(key.as_dict(private=True), out)
    return KeySet([key]).as_dict(private=False), private


def _register(registry, args: argparse.Namespace) -> dict:
    """Registers the client `args` describe: what `clients add` prints. With --generate-key, its key pair ends
    up in that folder as CLIENT_ID.key.json (private) and CLIENT_ID.jwks.json (public). Raises OSError or
    ValueError (InvalidRegistration)."""
    if sum(map(bool, (args.jwks, args.redirect_uri, args.generate_key))) != 1:
        raise ValueError("give one of --generate-key or --jwks (software signing assertions) or --redirect-uri "
                         "(a patient app)")
    files = {}
    if args.redirect_uri:
        client = registry.add_public(args.name, args.redirect_uri, args.scope)
    elif args.jwks:
        client = registry.add(args.name, json.loads(args.jwks.read_text(encoding="utf-8")), args.scope)
    else:
        folder = args.generate_key.expanduser().resolve()
        jwks, provisional = _generate_key(folder)
        try:
            client = registry.add(args.name, jwks, args.scope)
        except BaseException:
            provisional.unlink()
            raise
        files = {"key_file": str(folder / f"{client.client_id}.key.json"),
                 "jwks_file": str(folder / f"{client.client_id}.jwks.json")}
        provisional.replace(files["key_file"])
        Path(files["jwks_file"]).write_text(json.dumps(jwks), encoding="utf-8")
    return {"client_id": client.client_id, "name": client.name, "status": client.status, "scopes": client.scopes,
            **files}


def cmd_clients(args: argparse.Namespace) -> int:
    """The vendor registry (auth/clients.py), in the database `serve` uses."""
    from .auth.clients import ClientRegistry

    with _database(args.data) as db:
        registry = ClientRegistry(db)
        if args.action == "add":
            try:
                print(json.dumps(_register(registry, args)))
            except (OSError, ValueError) as error:  # a bad file, bad JSON, or InvalidRegistration
                print(f"cannot register the client: {error}", file=sys.stderr)
                return 1
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


def cmd_quickstart(args: argparse.Namespace) -> int:
    """`quickstart`: software allowed everything, with a fresh key pair kept outside the repository, registered
    in the running server's database; prints `export` lines (FHIR_API, FHIR_CLIENT_ID, FHIR_CLIENT_KEY) on
    stdout for `eval`, and what it did on stderr."""
    from .auth.clients import ClientRegistry
    from .config import Settings

    with _connection(args.data, server_only=True) as (db, record):
        if db is None:
            print(f"no server is running on the data folder {args.data}: start it first (`make run`, or "
                  "`fhir-server serve` in another shell), or give its --data", file=sys.stderr)
            return 1
        base = record["fhir_base"] if record else Settings.from_mapping().fhir_base
        args.jwks, args.redirect_uri, args.generate_key = None, None, args.keys
        args.scope = args.scope or [QUICKSTART_SCOPE]
        try:
            client = _register(ClientRegistry(db), args)
        except (OSError, ValueError) as error:
            print(f"cannot register the client: {error}", file=sys.stderr)
            return 1
    print(f"registered \"{client['name']}\" ({' '.join(client['scopes'])}) as client {client['client_id']} of "
          f"{base}\nits private key: {client['key_file']} (keep it private; its public JWKS is beside it)",
          file=sys.stderr)
    if sys.stdout.isatty():
        print('to set these in your shell, run: eval "$(fhir-server quickstart)"', file=sys.stderr)
    for name, value in (("FHIR_API", base), ("FHIR_CLIENT_ID", client["client_id"]),
                        ("FHIR_CLIENT_KEY", client["key_file"])):
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _command(parent, name: str, summary: str, example: str, description: str = "", **kwargs):
    """A subcommand whose --help says what it does (`description`, else `summary`) and shows `example`."""
    return parent.add_parser(name, help=summary, description=description or summary,
                             epilog="example:\n" + textwrap.indent(example.strip("\n"), "  "),
                             formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  fhir-server serve    # then, in another shell:\n"
                                            '  eval "$(fhir-server quickstart)"\n\n'
                                            "`fhir-server COMMAND --help` says what each command does.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --data is taken before or after a subcommand (`clients --data D add` or `clients add --data D`); the
    # second copy has no default, so that it does not hide the first.
    data_help = "the server's FerretDB data folder, when MONGODB_URI is not set (default: FHIR_DATA_DIR, else " \
                ".data/ferretdb)"
    data_option = argparse.ArgumentParser(add_help=False)
    data_option.add_argument("--data", type=Path, default=DATA_DIR, help=data_help)
    data_after = argparse.ArgumentParser(add_help=False)
    data_after.add_argument("--data", type=Path, default=argparse.SUPPRESS, help=data_help)

    serve = _command(commands, "serve", "serve the FHIR API (starts FerretDB unless MONGODB_URI is set)",
                     "fhir-server serve --port 8081 --workers 2",
                     "Serves the FHIR R4 API with gunicorn at http://HOST:PORT/fhir until Ctrl-C. Without MONGODB_URI "
                     "it starts\nFerretDB on the data folder and writes where it listens in DATA/server.json "
                     "(removed at a clean stop):\nthe other commands given the same folder use that database "
                     "while the server runs.")
    serve.add_argument("--host", default=os.environ.get("FHIR_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FHIR_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("FHIR_WORKERS", os.cpu_count() or 2)))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("FHIR_THREADS", "8")))
    serve.add_argument("--data", type=Path, default=DATA_DIR, help="FerretDB's data folder")
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=cmd_serve)

    quickstart = _command(
        commands, "quickstart", "register software to try the API with; prints its client id and key file",
        'eval "$(fhir-server quickstart)"\necho "$FHIR_API $FHIR_CLIENT_ID $FHIR_CLIENT_KEY"',
        "Registers software allowed everything (system/*.cruds) in the running server's database, with a fresh\n"
        "key pair whose private half goes in --keys (outside the repository), and prints, for `eval`, the\n"
        "shell lines setting FHIR_API (the server's FHIR base), FHIR_CLIENT_ID and FHIR_CLIENT_KEY (the key\n"
        "file). README, Quick start, shows how to get a token with them.", parents=[data_option])
    quickstart.add_argument("--keys", type=Path, default=KEYS_DIR,
                            help=f"the folder the key pair goes in (default: {KEYS_DIR})")
    quickstart.add_argument("--name", default="Quick start", help="the software's name in the registry")
    quickstart.add_argument("--scope", action="append", help=f"a SMART scope (repeatable; default {QUICKSTART_SCOPE})")
    quickstart.set_defaults(run=cmd_quickstart)

    capability = _command(commands, "capability", "write the CapabilityStatement to a file",
                          "fhir-server capability --check",
                          "Writes the CapabilityStatement the code declares to capability_statement.json (or "
                          "--output), or\nwith --check fails when that file differs from the code.")
    capability.add_argument("--output", type=Path, default=CAPABILITY_FILE)
    capability.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    capability.set_defaults(run=cmd_capability)

    clients = _command(commands, "clients", "the registry of referenced vendor software (OAuth 2 clients)",
                       "fhir-server clients list",
                       "The registry of referenced vendor software (OAuth 2 clients), in the database the "
                       "server uses:\nonly a referenced client gets access tokens.", parents=[data_option])
    actions = clients.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = _command(actions, "add", "register a referenced client; prints its client id",
                   'fhir-server clients add --name "My practice software" --generate-key ~/.config/my-software '
                   '--scope "system/*.cruds"\n'
                   'fhir-server clients add --name "My practice software" --jwks my-public-keys.json '
                   '--scope "system/DocumentReference.cru"',
                   "Registers software calling with signed assertions (its public keys: --jwks, or "
                   "--generate-key to\nmake a key pair) or a patient app (--redirect-uri); prints a JSON "
                   "line with its client_id (and\nkey_file with --generate-key).", parents=[data_after])
    add.add_argument("--name", required=True, help="the vendor and software name")
    add.add_argument("--jwks", type=Path, help="software: a JSON file with its public keys (JWKS)")
    add.add_argument("--generate-key", type=Path, metavar="DIR",
                     help="software: make a P-384 key pair, register its public half and write it to "
                          "DIR/CLIENT_ID.key.json (mode 0600) and DIR/CLIENT_ID.jwks.json; keep DIR out of "
                          "any repository")
    add.add_argument("--redirect-uri", action="append", help="a patient app (public, PKCE): where codes go (repeatable)")
    add.add_argument("--scope", action="append", required=True, help="a SMART scope it may get (repeatable)")
    _command(actions, "list", "every client: id, status, name, scopes (tab-separated)", "fhir-server clients list",
             parents=[data_after])
    for action, meaning in (("suspend", "suspend a client: no more tokens, and its live tokens stop working "
                                        "within FHIR_TOKEN_RECHECK_SECONDS"),
                            ("remove", "withdraw a client for good (it stays listed, for the audit trail)"),
                            ("reinstate", "make a suspended or withdrawn client referenced again")):
        _command(actions, action, meaning, f"fhir-server clients {action} CLIENT_ID",
                 parents=[data_after]).add_argument("client_id")
    clients.set_defaults(run=cmd_clients)

    patients = _command(commands, "patients", "patients' access to their record", "fhir-server patients letters",
                        parents=[data_option])
    patient_actions = patients.add_subparsers(dest="action", required=True, metavar="ACTION")
    _command(patient_actions, "letters", "take the activation letters to send out of the outbox (JSON lines)",
             "fhir-server patients letters >> letters-to-post.jsonl",
             "Takes the activation letters out of the outbox, one JSON line each ({\"patient\": id, \"code\": "
             "...}),\nfor the postal or e-mail service: every new Patient record puts one there.",
             parents=[data_after])
    code = _command(patient_actions, "activation-code", "issue and print a new provisional activation code",
                    "fhir-server patients activation-code 0a1b2c3d",
                    "Issues a new provisional activation code for a patient's record (a lost letter) and "
                    "prints it.", parents=[data_after])
    code.add_argument("patient_id")
    patients.set_defaults(run=cmd_patients)

    load = _command(commands, "import", "load files or folders of any supported format",
                    "fhir-server import exports/ messages/adt.hl7",
                    "Loads files and folders (HL7 v2 .hl7/.er7, CDA R2 and XDS.b .xml, FHIR .json Bundles or "
                    "resources,\n.ndjson), each message, document or Bundle one transaction pushed for its "
                    "authors; prints a\nsummary, exit 1 when any was rejected.", parents=[data_option])
    load.add_argument("paths", nargs="+", type=Path, help="files or folders (HL7 v2, CDA, XDS.b, FHIR JSON, NDJSON)")
    load.set_defaults(run=cmd_import)

    mllp = _command(commands, "mllp", "an HL7 v2 MLLP listener for one referenced client",
                    "fhir-server mllp --client-id CLIENT_ID --port 2575",
                    "Listens for HL7 v2 messages over MLLP and pushes each for the referenced client given, "
                    "answering\nACKs; it starts its own FerretDB (without MONGODB_URI), so that it outlives "
                    "a server restart.", parents=[data_option])
    mllp.add_argument("--client-id", required=True, help="the referenced client the messages are pushed for")
    mllp.add_argument("--host", default="127.0.0.1")
    mllp.add_argument("--port", type=int, default=2575)
    mllp.set_defaults(run=cmd_mllp)

    records = _command(commands, "records", "oppositions to a record's creation",
                       "fhir-server records oppose 'urn:oid:1.2.250.1.213.1.4.8|1234567890123'",
                       parents=[data_option])
    record_actions = records.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, meaning in (("oppose", "record a person's opposition to their record's creation: every push "
                                       "for them is refused, a record they have is purged"),
                            ("withdraw-opposition", "lift a person's opposition to their record's creation")):
        _command(record_actions, action, meaning,
                 f"fhir-server records {action} 'urn:oid:1.2.250.1.213.1.4.8|1234567890123'",
                 parents=[data_after]).add_argument("identifier", help="SYSTEM|VALUE (INS)")
    records.set_defaults(run=cmd_records)

    retention = _command(commands, "retention", "closed records' retention", "fhir-server retention run",
                         parents=[data_option])
    _command(retention.add_subparsers(dest="action", required=True, metavar="ACTION"), "run",
             "purge the closed records past their retention (FHIR_RECORD_RETENTION_YEARS); run it daily",
             "fhir-server retention run", parents=[data_after])
    retention.set_defaults(run=cmd_retention)

    audit = _command(commands, "audit", "the AuditEvent hash chains", "fhir-server audit verify",
                     parents=[data_option])
    verify = _command(
        audit.add_subparsers(dest="action", required=True, metavar="ACTION"), "verify",
        "report the first broken link of each chain (exit 1)", "fhir-server audit verify --patient 0a1b2c3d",
        "Recomputes the AuditEvent chains with the audit key and holds each to its checkpoints\n"
        "(FHIR_AUDIT_KEY_FILE, FHIR_AUDIT_CHECKPOINTS: run it as the server's user); prints the first broken\n"
        "link of each broken chain and exits 1, else `N chains, M events: intact`.", parents=[data_after])
    verify.add_argument("--patient", help="only this patient's chain")
    audit.set_defaults(run=cmd_audit)

    reindexing = _command(commands, "reindex", "compute the stored search fields again (after an upgrade that "
                                               "changed them)", "fhir-server reindex --type Patient",
                          parents=[data_option])
    reindexing.add_argument("--type", action="append", help="only this resource type (repeatable)")
    reindexing.set_defaults(run=cmd_reindex)

    notifications = _command(commands, "notifications", "patients' e-mail notifications",
                             "FHIR_SMTP_HOST=smtp.example.org FHIR_SMTP_FROM=record@example.org "
                             "fhir-server notifications send", parents=[data_option])
    _command(notifications.add_subparsers(dest="action", required=True, metavar="ACTION"), "send",
             "deliver what is due now (FHIR_SMTP_* settings)",
             "FHIR_SMTP_HOST=smtp.example.org FHIR_SMTP_FROM=record@example.org fhir-server notifications send",
             parents=[data_after])
    notifications.set_defaults(run=cmd_notifications)
    return parser


# Short commands called as the program end at once: pymongo's monitor threads, stopped at exit, would take
# another half second to notice (every database write was acknowledged before; stdout and stderr are flushed).
LONG_RUNNING = ("serve", "mllp")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code = args.run(args)
    if argv is None and args.command not in LONG_RUNNING:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
