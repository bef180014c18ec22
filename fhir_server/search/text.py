"""Text normalisation shared by indexing and querying: string search ignores case, accents and spacing."""
from __future__ import annotations

import unicodedata


def normalise(text: str) -> str:
    """NFKD, combining marks removed, casefolded, whitespace collapsed: "Hélène  Dupont" -> "helene dupont"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())
