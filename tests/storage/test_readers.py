"""The store answers no read without a reader, and applies the reader's rules itself: what it may not see is
answered as what does not exist, neither matched nor counted."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from fhir_server.storage.readers import NoReader, ServerLookup
from fhir_server.storage.resources import StoredVersion

EVERYTHING = ServerLookup("the test's own check")


class Refusing:
    """A reader that may not see one resource, and says so as a query too."""

    def __init__(self, hidden: str) -> None:
        self.hidden, self.asked = hidden, []

    def visible(self, version: StoredVersion) -> bool:
        return version.id != self.hidden

    def search_conditions(self, resource_type: str, query: dict, records=None) -> list[dict]:
        self.asked.append((resource_type, query))
        return [{"_id": {"$ne": self.hidden}}]


@pytest.fixture()
def written(store):
    tag = uuid.uuid4().hex
    ids = {name: f"{name}-{tag}" for name in ("hidden", "shown")}
    for rid in ids.values():
        resource = {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": tag}]}
        store.write("Patient", rid, resource, 0, "POST", index={"t:identifier": [f"urn:test|{tag}"]})
        store.write("Patient", rid, {**resource, "gender": "female"}, 1, "PUT",
                    index={"t:identifier": [f"urn:test|{tag}"]})
    return tag, ids


def reads(store, ids: dict, tag: str):
    """Every read of the store, as (name, call taking the reader)."""
    query = {"t:identifier": f"urn:test|{tag}", "deleted": False}
    now = datetime.now(timezone.utc)
    return [
        ("current", lambda reader: store.current("Patient", ids["hidden"], reader=reader)),
        ("version", lambda reader: store.version("Patient", ids["hidden"], 1, reader=reader)),
        ("current_versions", lambda reader: store.current_versions("Patient", list(ids.values()), reader=reader)),
        ("history_page", lambda reader: store.history_page("Patient", ids["hidden"], None, now, 0, 10,
                                                           reader=reader)),
        ("search_ids", lambda reader: store.search_ids("Patient", query, [], 10, True, reader=reader)),
        ("search_page", lambda reader: store.search_page("Patient", query, [], 0, 10, True, reader=reader)),
    ]


def test_a_read_without_a_reader_fails(store, written):
    tag, ids = written
    for name, read in reads(store, ids, tag):
        for missing in (None, "system", {}):
            with pytest.raises(NoReader):
                read(missing)
        with pytest.raises(TypeError):  # the reader is a required keyword
            getattr(store, name)("Patient", ids["hidden"])


def test_what_the_reader_may_not_see_is_answered_as_nothing(store, written):
    tag, ids = written
    refusing = Refusing(ids["hidden"])
    assert store.current("Patient", ids["hidden"], reader=refusing) is None
    assert store.current("Patient", ids["shown"], reader=refusing).version == 2
    assert store.current("Patient", ids["hidden"], reader=EVERYTHING).version == 2
    assert store.version("Patient", ids["hidden"], 1, reader=refusing) is None
    assert store.version("Patient", ids["shown"], 1, reader=refusing).version == 1
    both = list(ids.values())
    assert [v.id for v in store.current_versions("Patient", both, reader=refusing)] == [ids["shown"]]
    assert [v.id for v in store.current_versions("Patient", both, reader=EVERYTHING)] == both
    now = datetime.now(timezone.utc)
    assert store.history_page("Patient", ids["hidden"], None, now, 0, 10, reader=refusing)[0] == []
    assert len(store.history_page("Patient", ids["shown"], None, now, 0, 10, reader=refusing)[0]) == 2
    assert store.taken("Patient", ids["hidden"]) and not store.taken("Patient", f"unknown-{tag}")


def test_searches_match_and_count_under_the_readers_conditions(store, written):
    tag, ids = written
    refusing = Refusing(ids["hidden"])
    query = {"t:identifier": f"urn:test|{tag}", "deleted": False}
    assert store.search_ids("Patient", query, [], 10, True, reader=refusing) == ([ids["shown"]], 1)
    assert refusing.asked == [("Patient", query)]  # the caller's own query, to decide on
    versions, total = store.search_page("Patient", query, [], 0, 10, True, reader=refusing)
    assert [v.id for v in versions] == [ids["shown"]] and total == 1
    assert store.search_ids("Patient", query, [], 10, True, reader=EVERYTHING) == (sorted(ids.values()), 2)
