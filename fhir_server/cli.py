"""The `fhir-server` command: serve, capability."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .capability import capability_statement

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPABILITY_FILE = REPO_ROOT / "capability_statement.json"


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

    database = None
    if not os.environ.get("MONGODB_URI"):
        database = LocalFerretDB(args.data)
        os.environ["MONGODB_URI"] = database.start()
        os.environ["FERRETDB_SQLITE_DIR"] = str(database.sqlite_dir)
        print(f"FerretDB (SQLite, data in {args.data}) at {os.environ['MONGODB_URI']}", flush=True)
    try:
        print(f"FHIR R4 base: http://{args.host}:{args.port}/fhir", flush=True)
        Server().run()
    finally:
        if database:
            database.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the FHIR API with gunicorn (starts FerretDB unless MONGODB_URI is set)")
    serve.add_argument("--host", default=os.environ.get("FHIR_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FHIR_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("FHIR_WORKERS", os.cpu_count() or 2)))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("FHIR_THREADS", "8")))
    serve.add_argument("--data", type=Path, default=Path(os.environ.get("FHIR_DATA_DIR", REPO_ROOT / ".data" / "ferretdb")),
                       help="FerretDB's data folder")
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=cmd_serve)

    capability = commands.add_parser("capability", help="write the CapabilityStatement to a file")
    capability.add_argument("--output", type=Path, default=CAPABILITY_FILE)
    capability.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    capability.set_defaults(run=cmd_capability)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
