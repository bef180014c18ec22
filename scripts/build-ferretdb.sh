#!/usr/bin/env bash
# Builds FerretDB v1.24.2 (MongoDB wire protocol, SQLite backend) from the Go module proxy into
# .cache/bin/ferretdb. The binary is reused when it is already there.
#   --check    exit 0 when the binary is there (nothing to build), 1 otherwise
#   --version  print the version it builds
#
# A plain `go install` of the module leaves FerretDB's generated build/version/version.txt out, and the
# binary then panics at start. So the throwaway module vendors its dependencies, writes that file into
# the vendored copy, and installs from the vendor tree.
set -euo pipefail
VERSION=v1.24.2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$ROOT/.cache"
BIN="$CACHE/bin/ferretdb"

# The version is read whole, then matched: `--version | grep -q` can kill the writer with SIGPIPE (exit 141
# under pipefail) when grep stops reading first.
built_version() { "$BIN" --version 2>/dev/null || true; }
built() { [[ -x "$BIN" && "$(built_version)" == *"version: $VERSION"* ]]; }
case "${1:-}" in
  --version) echo "$VERSION"; exit 0 ;;
  --check) built; exit ;;
esac
if built; then
  exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: Go is not installed (needed to build FerretDB)" >&2; exit 1; }

export GOPATH="$CACHE/go" GOBIN="$CACHE/bin" GOFLAGS=-modcacherw GOTOOLCHAIN=local GOTELEMETRY=off
MOD="$CACHE/ferretdb-build"
rm -rf "$MOD" && mkdir -p "$MOD" && cd "$MOD"
echo "build-ferretdb: building FerretDB $VERSION (first run only, about 2 minutes)" >&2
go mod init ferretdb-build >/dev/null 2>&1
go get -tool "github.com/FerretDB/FerretDB/cmd/ferretdb@$VERSION"
go mod vendor
echo "$VERSION" > vendor/github.com/FerretDB/FerretDB/build/version/version.txt
go install -mod=vendor github.com/FerretDB/FerretDB/cmd/ferretdb
[[ "$(built_version)" == *"version: $VERSION"* ]] || { echo "build-ferretdb: the build is not $VERSION" >&2; exit 1; }
rm -rf "$MOD"
