"""The one element-path style all layers report in, so that the same problem found twice merges.

``("name", 0, "given", 1)`` under ``Patient`` is ``Patient.name[0].given[1]``. A primitive's companion
``_given`` (its id and extensions in FHIR JSON) is reported under the primitive's own name, as FHIRPath
does: ``("_birthDate", "extension", 0)`` is ``Patient.birthDate.extension[0]``.
"""
from __future__ import annotations

import re
from typing import Iterable

_NUMBERS = re.compile(r"(\d+)")


def element_path(root: str, location: Iterable[str | int]) -> str:
    """The FHIRPath-style path of a location (property names and array indexes) under `root`."""
    path = root
    for step in location:
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            name = step[1:] if step.startswith("_") and len(step) > 1 else step
            path = f"{path}.{name}" if path else name
    return path


def sort_key(path: str) -> list:
    """Orders paths naturally: ``name[2]`` before ``name[10]``."""
    return [int(part) if part.isdigit() else part for part in _NUMBERS.split(path)]
