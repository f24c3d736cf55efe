"""Two bump jobs noting commits of one digest at once each keep theirs
(``PromotionStore.note_commit`` redoes its read-merge-write when the hash changed meanwhile)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from worker import promotionstore
from worker.promotionstore import PromotionStore


def test_a_commit_noted_while_another_is_noted_keeps_both(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = PromotionStore(redis_client), PromotionStore(redis_client)
    carriers = promotionstore._carriers
    interleaved: list[bool] = []

    def read_then_let_the_other_job_write(raw: Any) -> Any:
        found = carriers(raw)
        if not interleaved:  # between this job's read and its write, the other job writes
            interleaved.append(True)
            other.note_commit("api", "sha256:d1", "staging", "s-staging", "cfg")
        return found

    monkeypatch.setattr(promotionstore, "_carriers", read_then_let_the_other_job_write)
    store.note_commit("api", "sha256:d1", "dev", "s-dev", "cfg")

    assert interleaved
    assert store.commits("api", "sha256:d1") == {
        "dev": [{"sha": "s-dev", "repo": "cfg"}],
        "staging": [{"sha": "s-staging", "repo": "cfg"}],
    }


def test_noting_the_same_commit_twice_keeps_one_entry(redis_client: redis.Redis) -> None:
    store = PromotionStore(redis_client)
    for sha in ("a", "b", "a"):
        store.note_commit("api", "sha256:d1", "dev", sha, "cfg")
    assert store.commits("api", "sha256:d1") == {
        "dev": [{"sha": "b", "repo": "cfg"}, {"sha": "a", "repo": "cfg"}]
    }
