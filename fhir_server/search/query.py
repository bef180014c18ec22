"""Query string -> `SearchRequest`: criteria on registered search parameters plus the control parameters.

FHIR R4 search (http://hl7.org/fhir/R4/search.html). Values are validated here, so that `filters.py` only
ever sees well-formed ones: a malformed value is a `BadRequest` whether or not the search is strict. What
the server does not support (unknown parameters or modifiers, chains it cannot follow, composite and special
parameters) is listed in `ignored`, or a `BadRequest` when the client asked for strict handling.

Chained parameters (`subject:Patient.identifier=...`, `patient.family=...`) become a `ChainCriterion` and reverse
chains (`_has:DocumentReference:subject:type=...`) a `HasCriterion`, each holding the criterion to run on the
other type; search/chains.py resolves them (search.html#chaining, #has). Both nest, up to `MAX_CHAIN_DEPTH`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhir_server.errors import BadRequest
from fhir_server.search.registry import SearchParam, parameters
from fhir_server.search.values import date_range

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ORDERED_TYPES = ("date", "number", "quantity")
MODIFIERS: dict[str, tuple[str, ...]] = {
    "string": ("exact", "contains"),
    "token": ("not", "text", "of-type"),
    "reference": ("identifier",),  # plus a target resource type, e.g. subject:Patient
    "uri": ("below", "above"),
    "date": (), "number": (), "quantity": (),
}
SUMMARY_VALUES = ("true", "count", "data", "text", "false")
TOTAL_VALUES = {"none": "none", "estimate": "accurate", "accurate": "accurate"}
SINGLE_CONTROLS = ("_count", "_offset", "_sort", "_total", "_summary", "_elements")
PASSIVE_CONTROLS = ("_format", "_pretty")
ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
COUNT = re.compile(r"[0-9]{1,9}")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
MAX_CHAIN_DEPTH = 3  # links (`.` or `_has`) in one parameter


@dataclass
class Criterion:
    """One search parameter as sent: its values are ORed (comma), criteria are ANDed (repetition)."""

    code: str
    modifier: str | None
    values: list[str]
    param: SearchParam

    def name(self) -> str:
        return f"{self.code}:{self.modifier}" if self.modifier else self.code


@dataclass
class ChainCriterion:
    """`code[:Type].<inner>`: the reference parameter `code` points to a resource matching `inner`; `targets`
    pairs each target type searched (the `:Type` given, else every target type that has the inner parameter)
    with the inner criterion parsed on that type."""

    code: str
    modifier: str | None
    targets: list[tuple[str, AnyCriterion]]

    @property
    def values(self) -> list[str]:
        return self.targets[0][1].values

    def name(self) -> str:
        head = f"{self.code}:{self.modifier}" if self.modifier else self.code
        return f"{head}.{self.targets[0][1].name()}"


@dataclass
class HasCriterion:
    """`_has:<source_type>:<reference_code>:<inner>` on `target_type`: the resources that a `source_type`
    matching `inner` refers to through its reference parameter `reference_code`."""

    source_type: str
    reference_code: str
    inner: AnyCriterion
    target_type: str

    @property
    def values(self) -> list[str]:
        return self.inner.values

    def name(self) -> str:
        return f"_has:{self.source_type}:{self.reference_code}:{self.inner.name()}"


AnyCriterion = Criterion | ChainCriterion | HasCriterion


class Unsupported(Exception):
    """A parameter the server does not support; the message says why."""


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[AnyCriterion] = field(default_factory=list)
    count: int | None = None
    offset: int = 0
    sort: list[tuple[str, bool]] = field(default_factory=list)
    total: str | None = None
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def self_query(self) -> list[tuple[str, str]]:
        """The accepted parameters in canonical form, for the Bundle's self link (ignored ones left out)."""
        pairs = [(c.name(), ",".join(v.replace(",", r"\,") for v in c.values)) for c in self.criteria]
        if self.sort:
            pairs.append(("_sort", ",".join(("-" if desc else "") + code for code, desc in self.sort)))
        if self.count is not None:
            pairs.append(("_count", str(self.count)))
        if self.offset:
            pairs.append(("_offset", str(self.offset)))
        for name in ("total", "summary"):
            if getattr(self, name) is not None:
                pairs.append((f"_{name}", getattr(self, name)))
        if self.elements:
            pairs.append(("_elements", ",".join(self.elements)))
        return pairs


def parse_search(resource_type: str, items: list[tuple[str, str]], strict: bool) -> SearchRequest:
    """Parse the query string pairs of a search on `resource_type` (strict: `Prefer: handling=strict`)."""
    known = parameters(resource_type)
    request = SearchRequest(resource_type)
    seen: set[str] = set()
    for name, raw in items:
        if name in PASSIVE_CONTROLS:
            continue
        if name in SINGLE_CONTROLS:
            if name in seen:
                raise BadRequest(f"Search parameter '{name}' may appear only once")
            seen.add(name)
            _control(request, name, raw, known)
            continue
        values = [v for v in split_values(raw) if v]
        try:
            criterion = parse_criterion(resource_type, name, values)
        except Unsupported as reason:
            if strict:
                raise BadRequest(str(reason)) from None
            request.ignored.append(name)
            request.problems.append(str(reason))
            continue
        if values:  # FHIR: a parameter without a value is ignored
            request.criteria.append(criterion)
    return request


def parse_criterion(resource_type: str, name: str, values: list[str], depth: int = 0) -> AnyCriterion:
    """The criterion `name=values` on `resource_type`: plain, chained or `_has`. Raises `Unsupported` for what
    the server does not support, `BadRequest` for a malformed value."""
    if name.startswith("_has:") or "." in name:
        if depth >= MAX_CHAIN_DEPTH:
            raise Unsupported(f"Search parameter '{name}': chains of more than {MAX_CHAIN_DEPTH} links are "
                              f"not supported")
        if name.startswith("_has:"):
            return _has(resource_type, name, values, depth)
        return _chain(resource_type, name, values, depth)
    code, _, modifier = name.partition(":")
    param = parameters(resource_type).get(code)
    reason = _unsupported(name, code, modifier, param)
    if reason:
        raise Unsupported(reason)
    if modifier == "missing" and len(values) > 1:
        raise BadRequest(f"Search parameter '{name}' takes a single true or false")
    for value in values:
        check_value(name, param, modifier or None, value)
    return Criterion(code, modifier or None, values, param)


def _chain(resource_type: str, name: str, values: list[str], depth: int) -> ChainCriterion:
    """`code[:Type].rest`: `rest` parsed on each target type (search.html#chaining)."""
    head, _, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    param = parameters(resource_type).get(code)
    if param is None or param.type != "reference" or not rest:
        raise Unsupported(f"Search parameter '{name}': '{code}' is not a reference parameter of {resource_type}")
    if modifier and modifier not in param.targets:
        raise Unsupported(f"Search parameter '{name}': ':{modifier}' is not a target type of '{code}'")
    inner_code = re.split(r"[:.]", rest, maxsplit=1)[0]
    if modifier:
        candidates = [modifier]
    else:  # each searchable target type that has the inner parameter (any, for a nested _has)
        candidates = [t for t in param.targets if inner_code in parameters(t) or (inner_code == "_has"
                                                                                  and parameters(t))]
    targets, reasons = [], []
    for target in candidates:
        try:
            targets.append((target, parse_criterion(target, rest, values, depth + 1)))
        except Unsupported as reason:
            reasons.append(str(reason))
    if not targets:
        raise Unsupported(f"Search parameter '{name}': {reasons[0]}" if reasons else
                          f"Unknown search parameter '{name}': no target type of '{code}' has '{inner_code}'")
    return ChainCriterion(code, modifier or None, targets)


def _has(resource_type: str, name: str, values: list[str], depth: int) -> HasCriterion:
    """`_has:Source:reference:rest`: `rest` parsed on Source, whose `reference` must be able to point to
    `resource_type` (search.html#has)."""
    parts = name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise Unsupported(f"Search parameter '{name}': _has takes _has:Type:reference:parameter")
    _, source, code, rest = parts
    param = parameters(source).get(code)
    if param is None or param.type != "reference" or resource_type not in param.targets:
        raise Unsupported(f"Search parameter '{name}': _has needs a reference parameter of a searchable type "
                          f"that can point to {resource_type}")
    try:
        inner = parse_criterion(source, rest, values, depth + 1)
    except Unsupported as reason:
        raise Unsupported(f"Search parameter '{name}': {reason}") from None
    return HasCriterion(source, code, inner, resource_type)


def split_values(raw: str) -> list[str]:
    r"""Split on commas that are not escaped; `\,` stands for a comma inside a value."""
    parts = re.split(r"(?<!\\),", raw)
    return [p.replace(r"\,", ",") for p in parts]


def split_prefix(name: str, value: str) -> tuple[str, str]:
    """('ge', '2020') from 'ge2020'; 'eq' when there is no prefix. An unknown prefix is a BadRequest."""
    head = value[:2]
    if head in PREFIXES:
        return head, value[2:]
    if head.isalpha() and head.islower() and value[2:3] and value[2] in "0123456789+-.":
        raise BadRequest(f"Search parameter '{name}': unknown prefix '{head}' in '{value}' "
                         f"(expected one of {', '.join(PREFIXES)})")
    return "eq", value


def parse_number(name: str, text: str) -> float:
    if not NUMBER.fullmatch(text):
        raise BadRequest(f"Search parameter '{name}': '{text}' is not a number")
    return float(text)


def check_value(name: str, param: SearchParam, modifier: str | None, value: str) -> None:
    """Raise BadRequest when `value` is malformed for the parameter's type and modifier."""
    if modifier == "missing":
        if value not in ("true", "false"):
            raise BadRequest(f"Search parameter '{name}' takes true or false, not '{value}'")
        return
    if modifier == "of-type" and len(value.split("|")) != 3:
        raise BadRequest(f"Search parameter '{name}' takes system|code|value, not '{value}'")
    if param.type not in ORDERED_TYPES:
        return
    _, text = split_prefix(name, value)
    if param.type == "date":
        try:
            date_range(text)
        except ValueError:
            raise BadRequest(f"Search parameter '{name}': '{text}' is not a valid date") from None
    elif param.type == "number":
        parse_number(name, text)
    else:
        parts = text.split("|")
        if len(parts) not in (1, 3):
            raise BadRequest(f"Search parameter '{name}' takes number|system|code, not '{value}'")
        parse_number(name, parts[0])


def _unsupported(name: str, code: str, modifier: str, param: SearchParam | None) -> str | None:
    """Why a parameter is not supported, or None when it is."""
    if param is None:
        return f"Unknown search parameter '{name}'"
    if param.type not in MODIFIERS:
        return f"Search parameter '{name}' of type {param.type} is not supported"
    if not modifier or modifier == "missing" or modifier in MODIFIERS[param.type]:
        return None
    if param.type == "reference" and modifier in param.targets:
        return None
    return f"Search parameter '{name}': modifier ':{modifier}' is not supported"


def _control(request: SearchRequest, name: str, raw: str, known: dict[str, SearchParam]) -> None:
    if name in ("_count", "_offset"):
        if not COUNT.fullmatch(raw):
            raise BadRequest(f"Search parameter '{name}' takes a non-negative integer, not '{raw}'")
        setattr(request, name[1:], int(raw))
    elif name == "_sort":
        request.sort = [_sort_key(item, known) for item in raw.split(",") if item]
    elif name == "_total":
        if raw not in TOTAL_VALUES:
            raise BadRequest(f"Search parameter '_total' takes none, estimate or accurate, not '{raw}'")
        request.total = TOTAL_VALUES[raw]
    elif name == "_summary":
        if raw not in SUMMARY_VALUES:
            raise BadRequest(f"Search parameter '_summary' takes {', '.join(SUMMARY_VALUES)}, not '{raw}'")
        request.summary = raw
    else:
        request.elements = [e.strip() for e in raw.split(",") if e.strip()]
        for element in request.elements:
            if not ELEMENT_NAME.fullmatch(element):
                raise BadRequest(f"Search parameter '_elements': '{element}' is not an element name")


def _sort_key(item: str, known: dict[str, SearchParam]) -> tuple[str, bool]:
    code = item[1:] if item.startswith("-") else item
    param = known.get(code)
    if param is None or param.type not in MODIFIERS:
        raise BadRequest(f"Search parameter '_sort': '{code}' is not a search parameter we can sort on")
    return code, item.startswith("-")
