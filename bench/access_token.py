"""Prints an access token for the project's server, as `../shared/bench/loadprobe.py --token-command` wants.

The first run registers a client allowed everything (`system/*.cruds`) in the server's database (MONGODB_URI,
FHIR_DATABASE) and keeps its id and private key in `--state` (mode 0600); each run then signs an assertion and
trades it for a token at the server's `/oauth/token`. See bench/README.md.

    .venv/bin/python bench/access_token.py --origin http://127.0.0.1:8080 --state /tmp/bench-client.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joserfc.jwk import ECKey  # noqa: E402

from fhir_server.auth.backend_client import BackendClient, register  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origin", required=True, help="the server's origin, e.g. http://127.0.0.1:8080")
    parser.add_argument("--state", type=Path, required=True, help="file keeping the registered client")
    args = parser.parse_args(argv)
    if args.state.is_file():
        saved = json.loads(args.state.read_text(encoding="utf-8"))
        client = BackendClient(args.origin, saved["client_id"], ECKey.import_key(saved["key"]))
    else:
        db = connect(os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/"),
                     os.environ.get("FHIR_DATABASE", "fhir"))
        client = register(db, args.origin, "benchmark client", ["system/*.cruds"])
        args.state.touch(mode=0o600)
        args.state.write_text(json.dumps({"client_id": client.client_id, "key": client.key.as_dict(private=True)}),
                              encoding="utf-8")
    print(client.token())
    return 0


if __name__ == "__main__":
    sys.exit(main())
