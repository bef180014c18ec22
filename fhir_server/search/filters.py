"""`SearchRequest` -> MongoDB filter document over the index fields stored on each current resource.

Index fields (written by search/values.py): `s:`/`e:` normalised/exact strings; `t:` tokens, `x:` their
display texts, `o:` identifier of-type tokens; `r:` references, `ri:` their identifier tokens; `dl:`/`dh:`
lowest start/highest end of dates (scalar UTC strings, fixed width, so string order is time order); `u:` uris;
`n:` numbers and quantity values, `q:` quantity units.

Security: field names come from the registry's parameter codes, operators from this module; what the client
sent only ever appears as a plain string or number value, and regexes are built with `re.escape`.
Comma-separated values are ORed; each criterion is one member of the top-level `$and`.

Chained and `_has` criteria are resolved first, through the `resolve` callback (search/chains.py), into a
filter on the references or ids they found.

Number ranges use `$elemMatch` so that one value satisfies both bounds. FerretDB v1 tests each bound against
any element instead, so a multi-valued `n:` field can over-match there (no searched type has one today).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from fhir_server.search import chains
from fhir_server.search.chains import Resolver
from fhir_server.search.query import AnyCriterion, ChainCriterion, HasCriterion, SearchRequest, split_prefix
from fhir_server.search.text import normalise
from fhir_server.search.values import date_range

# The index field holding each parameter type's values (dates: their lowest start), as values.py writes them.
FIELD_PREFIX = {"string": "s", "token": "t", "reference": "r", "date": "dl", "uri": "u", "number": "n",
                "quantity": "n"}
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
REFERENCE_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
ORDER_OPERATOR = {"gt": "$gt", "sa": "$gt", "lt": "$lt", "eb": "$lt", "ge": "$gte", "le": "$lte"}


def search_filter(request: SearchRequest, now: datetime | None = None, resolve: Resolver | None = None) -> dict:
    """All criteria ANDed, on resources that are not deleted. `resolve` runs the inner searches of chained and
    `_has` criteria (chains.store_resolver); without it they are a BadRequest."""
    return {"$and": [criterion_filter(c, now, resolve) for c in request.criteria] + [{"deleted": False}]}


def criterion_filter(criterion: AnyCriterion, now: datetime | None = None, resolve: Resolver | None = None) -> dict:
    """The filter of one criterion (`now`, timezone-aware, anchors `ap` on dates; default: the current time)."""
    if isinstance(criterion, (ChainCriterion, HasCriterion)):
        def inner_filter(inner: AnyCriterion) -> dict:
            return {"$and": [criterion_filter(inner, now, resolve), {"deleted": False}]}
        return chains.linked_filter(criterion, inner_filter, resolve)
    code, modifier, values = criterion.param.code, criterion.modifier, criterion.values
    kind = criterion.param.type
    if modifier == "missing":
        return {f"{FIELD_PREFIX[kind]}:{code}": {"$exists": values[0] == "false"}}
    if kind == "string":
        return _string(code, modifier, values)
    if kind == "token":
        return _token(code, modifier, values)
    if kind == "reference":
        return _reference(code, modifier, values, criterion.param.targets)
    if kind == "uri":
        return _uri(code, modifier, values)
    if kind == "date":
        moment = now or datetime.now(timezone.utc)
        return _any([_date(code, value, moment) for value in values])
    if kind == "number":
        return _any([_number(f"n:{code}", value) for value in values])
    return _any([_quantity(code, value) for value in values])


def _equal(field: str, values: list[str]) -> dict:
    return {field: values[0]} if len(values) == 1 else {field: {"$in": values}}


def _any(filters: list[dict]) -> dict:
    return filters[0] if len(filters) == 1 else {"$or": filters}


def _starts_with(field: str, texts: list[str], anchored: bool = True) -> dict:
    return _any([{field: {"$regex": ("^" if anchored else "") + re.escape(normalise(t))}} for t in texts])


def _string(code: str, modifier: str | None, values: list[str]) -> dict:
    if modifier == "exact":
        return _equal(f"e:{code}", values)
    return _starts_with(f"s:{code}", values, anchored=modifier != "contains")


def _token(code: str, modifier: str | None, values: list[str]) -> dict:
    if modifier == "not":
        return {f"t:{code}": {"$nin": values}}
    if modifier == "text":
        return _starts_with(f"x:{code}", values)
    if modifier == "of-type":
        return _equal(f"o:{code}", values)
    if code == "_id":
        return _equal("_id", values)  # the current document's own key: found by `_id`, not by a scan
    return _equal(f"t:{code}", values)


def _reference(code: str, modifier: str | None, values: list[str], targets: tuple[str, ...]) -> dict:
    """A bare id is typed by the `:Type` modifier or the parameter's one target type (`patient=1` is
    `Patient/1`, which relative references are indexed as too, and which the posting lists key on)."""
    if modifier == "identifier":
        return _equal(f"ri:{code}", values)
    wanted: list[str] = []
    for value in values:
        target = modifier or (targets[0] if len(targets) == 1 else None)
        if target and "/" not in value:
            value = f"{target}/{value}"
        wanted.append(value)
        tail = REFERENCE_TAIL.search(value)
        if tail and (ABSOLUTE_URL.match(value) or tail.group(1) != value):
            wanted.append(tail.group(1))  # an absolute URL, or a versioned reference, also as Type/id
    return _equal(f"r:{code}", list(dict.fromkeys(wanted)))


def _uri(code: str, modifier: str | None, values: list[str]) -> dict:
    field = f"u:{code}"
    if modifier == "below":
        return _any([{field: {"$regex": "^" + re.escape(v)}} for v in values])
    if modifier == "above":
        return _equal(field, list(dict.fromkeys(p for v in values for p in _uri_prefixes(v))))
    return _equal(field, values)


def _uri_prefixes(uri: str) -> list[str]:
    """The uri and each shorter one cut at a '/', down to the authority: the uris it is 'below'."""
    parts = uri.split("/")
    shortest = 3 if "://" in uri else 1
    return ["/".join(parts[:n]) for n in range(len(parts), shortest - 1, -1)]


def _date(code: str, value: str, now: datetime) -> dict:
    """Compare the search range [lo, hi] with the resource's [dl, dh] as R4 search describes per prefix."""
    prefix, text = split_prefix(code, value)
    lo, hi = date_range(text)
    low, high = f"dl:{code}", f"dh:{code}"
    if prefix == "eq":  # lo <= dl <= dh <= hi: dl's upper bound is implied, and bounds an index scan on dl
        return {low: {"$gte": lo, "$lte": hi}, high: {"$lte": hi}}
    if prefix == "ne":
        return {"$or": [{low: {"$lt": lo}}, {high: {"$gt": hi}}]}
    if prefix == "ap":
        lo, hi = _widen(lo, hi, now)
        return {low: {"$lte": hi}, high: {"$gte": lo}}
    bound = {"gt": (high, "$gt", hi), "lt": (low, "$lt", lo), "ge": (high, "$gte", lo), "le": (low, "$lte", hi),
             "sa": (low, "$gt", hi), "eb": (high, "$lt", lo)}
    field, operator, limit = bound[prefix]
    return {field: {operator: limit}}


def _widen(lo: str, hi: str, now: datetime) -> tuple[str, str]:
    """`ap`: the search range widened on both sides by 10% of the time between its start and `now`."""
    start = datetime.strptime(lo, UTC_FORMAT).replace(tzinfo=timezone.utc)
    end = datetime.strptime(hi, UTC_FORMAT).replace(tzinfo=timezone.utc)
    margin = abs(now - start) / 10
    return _utc(start, -margin, datetime.min), _utc(end, margin, datetime.max)


def _utc(moment: datetime, shift: timedelta, limit: datetime) -> str:
    """`moment + shift` as a UTC index string, or `limit` when that falls outside the calendar."""
    try:
        moment = (moment + shift).astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        moment = limit
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _number(field: str, value: str) -> dict:
    """eq and ne use the value's implicit precision (100 means [99.5, 100.5)); ap allows 10%."""
    prefix, text = split_prefix(field, value)
    exact = Decimal(text)
    if prefix in ORDER_OPERATOR:
        return {field: {ORDER_OPERATOR[prefix]: float(exact)}}
    if prefix == "ap":
        margin = abs(exact) / 10
        return {field: {"$elemMatch": {"$gte": float(exact - margin), "$lte": float(exact + margin)}}}
    half = Decimal(5).scaleb(exact.as_tuple().exponent - 1)
    lo, hi = float(exact - half), float(exact + half)
    if prefix == "ne":
        return {"$or": [{field: {"$lt": lo}}, {field: {"$gte": hi}}]}
    return {field: {"$elemMatch": {"$gte": lo, "$lt": hi}}}


def _quantity(code: str, value: str) -> dict:
    """`number|system|code`: the number as for number parameters, and the unit when one is given."""
    number, _, unit = value.partition("|")
    test = _number(f"n:{code}", number)
    system, _, unit_code = unit.partition("|")
    if not unit_code:
        return test
    if system:
        return {"$and": [test, {f"q:{code}": f"{system}|{unit_code}"}]}
    return {"$and": [test, {f"q:{code}": {"$regex": re.escape("|" + unit_code) + "$"}}]}
