#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and cached under git-ignored folders:
# the virtualenv (.venv), the package with its test dependencies, the official FHIR R4 definitions
# (.cache/fhir-packages), the headless browser of the portal's tests (.cache/chromium, .cache/axe-core) and,
# unless MONGODB_URI points at a database, the FerretDB binary (.cache/bin).
# One line per step; the tools' own output goes to a log file, whose end is shown when a step fails.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
mkdir -p .cache

# step LABEL WHAT LOG COMMAND...: "set-up: LABEL: WHAT... done in N s", COMMAND's output in LOG.
step() {
  local label="$1" what="$2" log="$3"; shift 3
  local start=$SECONDS
  printf 'set-up: %s: %s... ' "$label" "$what"
  if "$@" > "$log" 2>&1; then
    echo "done in $((SECONDS - start)) s"
  else
    echo "FAILED after $((SECONDS - start)) s; the end of $log:"
    tail -n 25 "$log" | sed 's/^/    /'
    echo "set-up: the whole output is in $log"
    exit 1
  fi
}

if [[ -x .venv/bin/python ]]; then
  echo "set-up: virtualenv: .venv ready"
else
  step virtualenv "creating .venv with $PYTHON" .cache/venv.log "$PYTHON" -m venv .venv
fi

STAMP=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
install_packages() {
  .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[test]' &&
    rm -f .venv/.installed-* && touch "$STAMP"
}
if [[ -f "$STAMP" ]]; then
  echo "set-up: Python packages: up to date"
else
  step "Python packages" "installing (about a minute the first time; log .venv/pip.log)" .venv/pip.log \
    install_packages
fi

if scripts/fetch-fhir-packages.sh --check; then
  echo "set-up: FHIR R4 definitions: in .cache/fhir-packages"
else
  step "FHIR R4 definitions" "fetching from the npm registry (about 10 s; log .cache/fhir-packages.log)" \
    .cache/fhir-packages.log scripts/fetch-fhir-packages.sh
fi

if scripts/setup_browser.sh --check; then
  echo "set-up: browser (portal tests): chromium, chromedriver and axe-core ready"
else
  step "browser (portal tests)" "Debian's chromium and chromedriver, axe-core (about 15 s, no root needed; log .cache/browser.log)" \
    .cache/browser.log scripts/setup_browser.sh
fi

if [[ -n "${MONGODB_URI:-}" ]]; then
  echo "set-up: database: MONGODB_URI is set, no FerretDB needed"
elif scripts/build-ferretdb.sh --check; then
  echo "set-up: database: FerretDB $(scripts/build-ferretdb.sh --version) in .cache/bin"
else
  command -v go >/dev/null || { echo "set-up: database: Go is not installed (needed once, to build FerretDB;" \
                                     "or set MONGODB_URI to use a MongoDB)"; exit 1; }
  step database "building FerretDB $(scripts/build-ferretdb.sh --version) with Go (once, about 2 minutes; log .cache/ferretdb-build.log)" \
    .cache/ferretdb-build.log scripts/build-ferretdb.sh
fi
