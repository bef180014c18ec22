"""storage/matcher.py decides as the database does, on every document shape and condition it accepts, and
refuses (Unsupported) what it does not know."""
from __future__ import annotations

import itertools
import random

import pytest

from fhir_server.storage.matcher import Unsupported, meets

SHAPES = [None, "a", "b", [], ["a"], ["b", "c"], ["a", "b", "c"]]  # None: the field is missing
FIELDS = ("x:record", "w")


def documents() -> list[dict]:
    docs = []
    for n, (first, second) in enumerate(itertools.product(SHAPES, SHAPES)):
        doc = {"_id": f"d{n}"}
        for field, shape in zip(FIELDS, (first, second)):
            if shape is not None:
                doc[field] = shape
        docs.append(doc)
    return docs


def leaf(rng: random.Random) -> dict:
    field = rng.choice(FIELDS)
    values = rng.sample(["a", "b", "c", "d"], rng.randint(0, 3))
    return {field: rng.choice([
        rng.choice("abd"), {"$in": values}, {"$nin": values}, {"$ne": rng.choice("abd")},
        {"$exists": rng.choice([True, False])}, {"$in": values, "$exists": True},
        {"$nin": values, "$exists": rng.choice([True, False])}])}


def condition(rng: random.Random, depth: int = 0) -> dict:
    if depth < 2 and rng.random() < 0.4:
        return {rng.choice(["$and", "$or"]): [condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if rng.random() < 0.2:
        return {**leaf(rng), **leaf(rng)}  # two fields (or the second overriding the first): both must hold
    return leaf(rng)


def test_the_matcher_agrees_with_the_database(db):
    collection = db["matcher_check"]
    collection.insert_many(documents())
    rng = random.Random(20261207)
    conditions = [condition(rng) for _ in range(300)]
    conditions += [{"_id": {"$in": []}}, {"$or": [{"x:record": {"$in": ["a"]}}, {"x:record": {"$exists": False},
                                                                                 "w": "b"}]}]
    for query in conditions:
        by_database = {d["_id"] for d in collection.find(query, {"_id": 1})}
        by_matcher = {d["_id"] for d in documents() if meets(d, query)}
        assert by_matcher == by_database, query


@pytest.mark.parametrize("doc, query", [
    ({"t": "a"}, {"t": {"$regex": "^a"}}),  # an operator it does not know
    ({"t": "a"}, {"t": {"$gte": "a"}}),
    ({"t": "a"}, {"$nor": [{"t": "a"}]}),
    ({"t": {"x": "a"}}, {"t.x": "a"}),  # a path
    ({"t": 1}, {"t": {"$in": ["1"]}}),  # a value that is not a string
    ({"t": None}, {"t": {"$exists": True}}),
    ({"t": [["a"]]}, {"t": "a"}),
    ({"t": "a"}, {"t": {"$in": [None]}}),
    ({"t": "a"}, {"t": 1}),
    ({"t": "a"}, {"$or": []}),
])
def test_what_it_does_not_know_is_left_to_the_database(doc, query):
    with pytest.raises(Unsupported):
        meets(doc, query)
