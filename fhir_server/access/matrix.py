"""The profession matrix (profiles/profession-access.json): which document types each profession reads."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

MATRIX_FILE = Path(__file__).resolve().parents[2] / "profiles" / "profession-access.json"
EVERY_TYPE = "*"


@lru_cache(maxsize=1)
def _professions() -> dict[str, dict]:
    return json.loads(MATRIX_FILE.read_text(encoding="utf-8"))["professions"]


def readable_types(profession: str | None) -> list[str] | None:
    """The `system|code` document types a profession reads; None for every type, [] for none."""
    documents = (_professions().get(profession or "") or {}).get("documents", [])
    return None if documents == EVERY_TYPE else list(documents)
