"""Write profiles/search-parameters.json: the official R4 SearchParameters (CC0) of the types we search.

Reads `Bundle-searchParams.json` from the `hl7.fhir.r4.examples` package and keeps, as published, every
SearchParameter whose base includes one of the searchable types, plus the Resource-level ones we support.
Entries are sorted by id so that the output is deterministic.
Run: `.venv/bin/python scripts/extract_search_parameters.py`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from validation.definitions import packages_dir  # noqa: E402

TYPES = {"Patient", "DocumentReference", "List", "Consent", "AuditEvent", "Practitioner", "Organization",
         "RelatedPerson"}
RESOURCE_LEVEL = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}
OUTPUT = ROOT / "profiles" / "search-parameters.json"


def selected(parameter: dict) -> bool:
    bases = set(parameter.get("base", []))
    return bool(bases & TYPES) or ("Resource" in bases and parameter.get("code") in RESOURCE_LEVEL)


def main() -> None:
    source = packages_dir() / "hl7.fhir.r4.examples" / "Bundle-searchParams.json"
    bundle = json.loads(source.read_text(encoding="utf-8"))
    parameters = [e["resource"] for e in bundle.get("entry", [])
                  if e.get("resource", {}).get("resourceType") == "SearchParameter" and selected(e["resource"])]
    parameters.sort(key=lambda p: p["id"])
    result = {
        "resourceType": "Bundle",
        "id": "search-parameters",
        "type": "collection",
        "entry": [{"fullUrl": p["url"], "resource": p} for p in parameters],
    }
    OUTPUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUTPUT.relative_to(ROOT)}: {len(parameters)} SearchParameters")


if __name__ == "__main__":
    main()
