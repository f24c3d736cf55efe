"""The bounded promotion hashes (``worker.promotionstore``): past their cap, the least recently
written fields go, so the records of digests still moving through the pipeline stay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from worker import promotionstore
from worker.promotionstore import PromotionStore

CAP = 3
Write = Callable[[PromotionStore, str], None]
Read = Callable[[PromotionStore, str], Any]

# each bounded hash: how to write the record of one digest (or tag) and read it back
KEYS: dict[str, tuple[Write, Read]] = {
    "brought": (
        lambda s, name: s.note_brought("api", name, 1.0),
        lambda s, name: name in s.brought("api"),
    ),
    "revisions": (
        lambda s, name: s.note_revision("api", name, "rev-" + name),
        lambda s, name: s.revision("api", name) == "rev-" + name,
    ),
    "commits": (
        lambda s, name: s.note_commit("api", name, "staging", "sha-" + name, "cfg"),
        lambda s, name: s.commits("api", name) != {},
    ),
    "written statuses": (
        lambda s, name: s.note_written_status("api", name, "staging", "sha", ["pending", name]),
        lambda s, name: (
            s.written_statuses("api", [(name, "staging", "sha")])
            == {(name, "staging", "sha"): ["pending", name]}
        ),
    ),
}


@pytest.fixture
def store(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> PromotionStore:
    monkeypatch.setattr(promotionstore, "MAX_DIGESTS", CAP)
    monkeypatch.setattr(promotionstore, "MAX_WRITTEN", CAP)
    return PromotionStore(redis_client)


@pytest.mark.parametrize("kind", list(KEYS))
def test_past_the_cap_the_oldest_record_goes_and_the_recent_ones_stay(
    store: PromotionStore, kind: str
) -> None:
    write, read = KEYS[kind]
    for name in ("d0", "d1", "d2", "d3"):
        write(store, name)
    assert [read(store, name) for name in ("d0", "d1", "d2", "d3")] == [False, True, True, True]


@pytest.mark.parametrize("kind", list(KEYS))
def test_writing_a_record_again_makes_it_recent(store: PromotionStore, kind: str) -> None:
    write, read = KEYS[kind]
    for name in ("d0", "d1", "d2", "d0", "d3"):
        write(store, name)
    assert [read(store, name) for name in ("d0", "d1", "d2", "d3")] == [True, False, True, True]


def test_fields_written_before_the_order_was_kept_go_first(
    store: PromotionStore, redis_client: redis.Redis
) -> None:
    # a hash an older Bumper filled to its cap (no write order): the new record stays
    key = promotionstore.BROUGHT + "api"
    redis_client.hset(key, mapping={"old-a": "1", "old-b": "1", "old-c": "1"})
    store.note_brought("api", "new", 2.0)
    store.note_brought("api", "newer", 3.0)
    brought = store.brought("api")
    assert {"new", "newer"} <= brought and len(brought) == CAP


def test_digest_records_past_the_cap_the_oldest_first_seen_of_a_batch_goes(
    store: PromotionStore,
) -> None:
    # an evaluation writes every record at once (in its own order): past the cap, the one
    # first seen the longest ago goes, in the same transaction as the write
    records = {f"d{n}": {"first_seen": float(n), "tag": f"1.{n}"} for n in (2, 0, 3, 1)}
    store.save_digests("api", records)
    assert sorted(store.digests("api")) == ["d1", "d2", "d3"]


def test_a_digest_record_entered_again_stays_past_the_cap(store: PromotionStore) -> None:
    for n in range(3):
        store.save_digests("api", {f"d{n}": {"first_seen": float(n)}})
    store.enter("api", "d0", "staging", "sha-d0", 5.0)  # still moving through the pipeline
    store.save_digests("api", {"d3": {"first_seen": 3.0}})
    assert sorted(store.digests("api")) == ["d0", "d2", "d3"]
    assert store.digests("api")["d0"]["entered"]["staging"]["change"] == "sha-d0"
