"""Values in a JSON body by a small path language: `entry[0].resource.id`, `entry[*].search.mode`, `total`."""
from __future__ import annotations

import re

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


def values(document: object, path: str) -> list:
    """Every value the path reaches ([] when none); `[*]` spreads a list, a name on a list spreads too."""
    current = [document]
    for name, index in _STEP.findall(path):
        following = []
        for value in current:
            if name:
                items = value if isinstance(value, list) else [value]
                following += [item[name] for item in items if isinstance(item, dict) and name in item]
            elif index == "*":
                following += value if isinstance(value, list) else []
            elif isinstance(value, list) and int(index) < len(value):
                following.append(value[int(index)])
        current = following
    return current
