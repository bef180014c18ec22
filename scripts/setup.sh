#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and cached under git-ignored folders:
# the virtualenv (.venv), the package with its test dependencies, the official FHIR R4 definitions
# (.cache/fhir-packages) and, unless MONGODB_URI points at a database, the FerretDB binary (.cache/bin).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
STAMP=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [[ ! -f "$STAMP" ]]; then
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[test]'; } \
      > .venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log >&2
    exit 1
  fi
  rm -f .venv/.installed-* && touch "$STAMP"
fi
scripts/fetch-fhir-packages.sh
if [[ -z "${MONGODB_URI:-}" ]]; then
  scripts/build-ferretdb.sh
fi
