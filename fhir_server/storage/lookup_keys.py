"""Posting keys of the lookups by traits and by author (the lists themselves: storage/postings.py).

- `Patient|s:name|<sha256 of a prefix>`: the Patients with a name part (`s:name`: each family, given, prefix,
  suffix and text, normalised by search/text.py) starting with that prefix, for each length of
  `PREFIX_LENGTHS` the part reaches. Every `family` and `given` value is a name part, so these lists also
  serve `family=` and `given=`: a starts-with search (the default) uses the longest length its normalised
  value reaches; a value shorter than the shortest length has no list (nor has `:exact` or `:contains`: the
  search scans). Bounded lengths keep a part's lists few (five at most).
- `Patient|dl:birthdate|<YYYY-MM-DD>`: the Patients born that day (`birthdate=YYYY-MM-DD`, or any range
  within one day).
- `DocumentReference|r:author|Practitioner/<id>` (or `PractitionerRole/<id>`): the documents with that
  author reference; `author.identifier=` is a chained search whose inner search reads the Practitioners'
  identifier lists and whose outer criterion is these lists.
- `DocumentReference|ri:author|<sha256 of system|value>`: the documents whose author is a logical reference
  with that identifier (`author:identifier=`).
Names and identifiers are hashed, so that no key names a person. Like the other lists, they are supersets
of the matches. Each entry of a list holds all of it, so a list costs its length at every addition: these
overflow past `MAX_IDS` (5,000, the most candidates a search tests: storage/candidates.py), not the 20,000 of
the others (a common 3-letter prefix, a name prefix such as "mme" in a large store; an author of more than
5,000 documents), and the search then uses the other criteria's lists, or scans.
"""
from __future__ import annotations

import hashlib
import re

PREFIX_LENGTHS = (3, 4, 5, 6, 8)
MAX_IDS = 5_000
_NAME_PARTS = "s:name"
_NAME_FIELDS = ("name", "family", "given")  # all hold name parts: the name-part lists cover each
_BIRTH = "birthdate"
_AUTHOR_REFERENCE = re.compile(r"(?:Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64}")
_REGEX_SPECIAL = set(".^$*+?{}[]|()\\")


def _hashed(resource_type: str, field: str, text: str) -> str:
    return f"{resource_type}|{field}|{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def name_key(prefix: str) -> str:
    return _hashed("Patient", _NAME_PARTS, prefix)


def birth_key(day: str) -> str:
    return f"Patient|dl:{_BIRTH}|{day}"


def is_lookup_key(key: str) -> bool:
    """Whether `key` names a list of this module."""
    return key.split("|", 2)[1:2] in (["s:name"], [f"dl:{_BIRTH}"], ["r:author"], ["ri:author"])


def lookup_keys(resource_type: str, index: dict) -> list[str]:
    """The lists of this module a resource with these index fields (search/values.py) belongs to."""
    keys: list[str] = []
    if resource_type == "Patient":
        for part in _strings(index.get(_NAME_PARTS)):
            keys += [name_key(part[:n]) for n in PREFIX_LENGTHS if len(part) >= n]
        low, high = index.get(f"dl:{_BIRTH}"), index.get(f"dh:{_BIRTH}")
        if isinstance(low, str) and isinstance(high, str) and low[:10] == high[:10]:
            keys.append(birth_key(low[:10]))
    elif resource_type == "DocumentReference":
        keys += [f"{resource_type}|r:author|{v}" for v in _strings(index.get("r:author"))
                 if _AUTHOR_REFERENCE.fullmatch(v)]
        keys += [_hashed(resource_type, "ri:author", v) for v in _strings(index.get("ri:author")) if _token(v)]
    return keys


def value_keys(resource_type: str, field: str, value: object) -> list[str] | None:
    """The lists whose union holds every resource with `value` in `field` (an equality, or one member of an
    `$in`), or None when this module keeps none for it."""
    if not isinstance(value, str):
        return None
    if resource_type == "DocumentReference" and field == "r:author" and _AUTHOR_REFERENCE.fullmatch(value):
        return [f"{resource_type}|r:author|{value}"]
    if resource_type == "DocumentReference" and field == "ri:author" and _token(value):
        return [_hashed(resource_type, "ri:author", value)]
    return None


def pattern_keys(resource_type: str, field: str, pattern: object) -> list[str] | None:
    """The list holding every Patient with a name part matching `{field: {"$regex": pattern}}`, when `pattern`
    is a starts-with search on a name field (search/filters.py: `^` and the escaped normalised value, which
    the index's name parts are normalised as)."""
    if resource_type != "Patient" or field not in {f"s:{name}" for name in _NAME_FIELDS}:
        return None
    prefix = _literal_prefix(pattern)
    return None if prefix is None else _prefix_keys(prefix)


def range_keys(resource_type: str, criterion: dict) -> list[str] | None:
    """The list holding every Patient meeting a birth date criterion that lies within one day: `{dl: {$gte:
    lo[, $lte: hi]}, dh: {$lte: hi}}` (search/filters.py's `eq`)."""
    low, high = f"dl:{_BIRTH}", f"dh:{_BIRTH}"
    if resource_type != "Patient" or set(criterion) != {low, high}:
        return None
    lower, upper = criterion[low], criterion[high]
    if not (isinstance(lower, dict) and isinstance(upper, dict) and list(upper) == ["$lte"]
            and set(lower) in ({"$gte"}, {"$gte", "$lte"})):
        return None
    start, end = lower["$gte"], upper["$lte"]
    if not (isinstance(start, str) and isinstance(end, str) and start[:10] == end[:10] and start <= end):
        return None
    return [birth_key(start[:10])]  # lo <= dl <= dh <= hi: both ends on that day


def _prefix_keys(prefix: str) -> list[str] | None:
    lengths = [n for n in PREFIX_LENGTHS if len(prefix) >= n]
    return [name_key(prefix[:lengths[-1]])] if lengths else None


def _literal_prefix(pattern: object) -> str | None:
    """The text `^<re.escape(text)>` matches at the start, or None for any other pattern."""
    if not isinstance(pattern, str) or not pattern.startswith("^"):
        return None
    text, escaped = [], False
    for char in pattern[1:]:
        if escaped:
            text.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _REGEX_SPECIAL:
            return None
        else:
            text.append(char)
    literal = "".join(text)
    return literal if not escaped and "^" + re.escape(literal) == pattern else None


def _strings(values: object) -> list[str]:
    values = values if isinstance(values, list) else [values]
    return [v for v in values if isinstance(v, str)]


def _token(value: str) -> bool:
    system, bar, code = value.partition("|")
    return bool(bar and system and code)
