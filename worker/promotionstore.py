"""Promotion state in Redis: the health evidence agents (and push mode) report, per agent and
digest, and each pipeline's record of its digests. The one owner of these keys.

Keys (all under ``bumper:``):

- ``health:<agent>`` hash ``<repository>@<digest>`` → JSON ``{tag, ready_since,
  last_ready_at, seen_at, commit, unready}``: what the agent's reports said of that digest
  (``unready``: why the newest report had it not ready, when the reporter says: push mode's
  re-check gives the workload's rollout status). ``ready_since``
  is the time of the first of an unbroken run of reports that had every container of it ready
  (the server's clock, stamped when the report arrived: an agent cannot backdate its health);
  a report with the digest not ready, or not running at all, breaks the run (None). At most
  ``MAX_DIGESTS`` fields per agent, the least recently seen dropped first.
- ``promotion:<pipeline>`` hash digest → JSON ``{tag, first_seen, evaluated_at, entered: {env:
  {at, change, pr, repo, merged_at, closed}}, statuses: [...]}``: the promotions Bumper made
  and the last statuses computed (dashboard, ``bumper explain-promotion``). At most
  ``MAX_DIGESTS`` fields, the least recently written first out (an evaluation writes its
  records oldest first seen first). Evaluations and bump jobs write a record at once: each
  merges its fields into the record as stored (``save_digests``, ``update_entered``), so
  neither erases the other's.
- ``health-reported`` hash agent → when its newest report arrived (even one that named nothing):
  an environment whose agent is not in it was never seen.
- ``promotion-brought:<pipeline>`` hash tag → when the first environment's rule bumped it (the
  tag policy brought it there; a digest merely found running there was not brought).
- ``promotion-revisions:<pipeline>`` hash tag → source revision of the image (from the push
  event), for a CI gate of a later environment. Bounded like the rest.
- ``promotion-commits:<pipeline>`` hash digest → JSON ``{env: [{sha, repo}]}``: the commits
  that carry the digest into each environment (the tag policy's bump for the first one, the
  promotion commit or PR head after it), where its commit statuses go.
- ``promotion-commit-statuses:<pipeline>`` hash ``<digest>|<env>|<sha>`` → JSON ``[state,
  description]``: the commit status last written there, so a tick writes only a change.
- ``promotion-pending``: set while an evaluation job is queued, so a burst of reports queues one.

The promotion, brought, revisions, commits and commit-statuses hashes are bounded
(``MAX_DIGESTS``, ``MAX_WRITTEN``) by one mechanism, ``_capped_hset``: each has a companion
sorted set ``<key>:order`` (field → write sequence), and past the cap the least recently
written fields go, so the records of digests still moving through the pipeline stay.

Timers are these timestamps: they live in Redis and survive a worker restart.
Must not: decide anything (``bumper.core.promotion`` does). Imports only redis (the web
process writes the reports' evidence through it, .importlinter ``web-only-enqueues``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import redis

HEALTH = "bumper:health:"
REPORTED = "bumper:health-reported"
BROUGHT = "bumper:promotion-brought:"
PROMOTION = "bumper:promotion:"
REVISIONS = "bumper:promotion-revisions:"
PENDING = "bumper:promotion-pending"
COMMITS = "bumper:promotion-commits:"
WRITTEN = "bumper:promotion-commit-statuses:"
MAX_DIGESTS = 500
MAX_WRITTEN = MAX_DIGESTS * 8  # a few environments and commits per digest
ORDER = ":order"

_CAPPED_HSET = """
-- KEYS[1] hash, KEYS[2] its write order (sorted set field -> sequence); ARGV[1] cap,
-- ARGV[2] field, ARGV[3] value: write the field as the newest, then drop the least recently
-- written fields past the cap. Fields written before the order was kept count as the oldest
-- (in field order: their age is unknown).
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local sequence = 1
if top[2] then sequence = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[2], sequence, ARGV[2])
local over = redis.call('HLEN', KEYS[1]) - tonumber(ARGV[1])
if over <= 0 then return 0 end
if redis.call('ZCARD', KEYS[2]) < redis.call('HLEN', KEYS[1]) then
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    redis.call('ZADD', KEYS[2], 'NX', 0, field)
  end
end
local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
for _, field in ipairs(oldest) do
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
end
return #oldest
"""


def _loads(raw: bytes | str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _merged(stored: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``stored``, but the earlier ``first_seen`` of the two."""
    out = {**(stored or {}), **given}
    if stored and stored.get("first_seen") and given.get("first_seen"):
        out["first_seen"] = min(_number(stored["first_seen"]), _number(given["first_seen"]))
    return out


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``first_seen`` a number, ``entered`` environment → dict with a numeric
    ``at``, and ``statuses`` only dicts."""
    entered = record.get("entered")
    statuses = record.get("statuses")
    return {
        **record,
        "first_seen": _number(record.get("first_seen")),
        "entered": {
            str(env): {**e, "at": _number(e.get("at"))}
            for env, e in (entered.items() if isinstance(entered, dict) else [])
            if isinstance(e, dict)
        },
        "statuses": [s for s in statuses if isinstance(s, dict)]
        if isinstance(statuses, list)
        else [],
    }


def _json(raw: bytes | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _carriers(raw: bytes | None) -> dict[str, list[dict[str, str]]]:
    """A ``promotion-commits`` value in its documented shape, whatever Redis held."""
    found = _loads(raw) or {}
    return {
        str(env): [
            {"sha": str(c["sha"]), "repo": str(c["repo"])}
            for c in carriers
            if isinstance(c, dict) and c.get("sha") and c.get("repo")
        ]
        for env, carriers in found.items()
        if isinstance(carriers, list)
    }


def _field(repository: str, digest: str) -> str:
    return f"{repository}@{digest}"


class PromotionStore:
    """Typed access to the promotion keys (see the module docstring)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._capped = client.register_script(_CAPPED_HSET)

    def _capped_hset(self, key: str, field: str, value: str, cap: int) -> None:
        """Write ``field``; past ``cap`` fields, the least recently written go (atomic)."""
        self._capped(keys=[key, key + ORDER], args=[cap, field, value])

    # -- evidence ---------------------------------------------------------------------------

    def record_running(self, agent: str, running: Iterable[Mapping[str, Any]], now: float) -> int:
        """Fold one report's ``running`` entries into the agent's evidence; the number of
        digests it named. A digest is ready only if every container running it is ready."""
        grouped: dict[str, dict[str, Any]] = {}
        for entry in running:
            field = _field(str(entry["repository"]), str(entry["digest"]))
            seen = grouped.setdefault(
                field,
                {"tag": entry.get("tag"), "ready": True, "commit": entry.get("commit", "")},
            )
            seen["ready"] = seen["ready"] and bool(entry.get("ready"))
            seen["tag"] = seen["tag"] or entry.get("tag")
            if not entry.get("ready") and entry.get("reason"):
                seen["unready"] = str(entry["reason"])
        key = HEALTH + agent

        def fold(pipe: Any) -> None:
            old = {k.decode(): _loads(v) or {} for k, v in pipe.hgetall(key).items()}
            new: dict[str, dict[str, Any]] = {}
            for field, before in old.items():  # no longer running: the run is broken
                new[field] = {**before, "ready_since": None}
            for field, report in grouped.items():
                before = old.get(field, {})
                ready = report["ready"]
                since = before.get("ready_since") if before.get("ready_since") else now
                new[field] = {
                    "tag": report["tag"] or before.get("tag"),
                    "commit": report["commit"],
                    "ready_since": since if ready else None,
                    "last_ready_at": now if ready else before.get("last_ready_at"),
                    "seen_at": now,
                    "unready": None if ready else report.get("unready"),
                }
            keep = sorted(new, key=lambda f: new[f].get("seen_at") or 0)[-MAX_DIGESTS:]
            pipe.multi()
            pipe.delete(key)
            if keep:
                pipe.hset(key, mapping={f: json.dumps(new[f]) for f in keep})

        self.redis.transaction(fold, key)
        self.redis.hset(REPORTED, agent, json.dumps(now))
        return len(grouped)

    def reported(self) -> set[str]:
        """The agents (and push deployers) that sent at least one report."""
        return {k.decode() for k in cast(list[bytes], self.redis.hkeys(REPORTED))}

    def evidence(self, agent: str) -> dict[str, dict[str, Any]]:
        """``<repository>@<digest>`` → evidence, for one agent."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(HEALTH + agent))
        found = {k.decode(): _loads(v) for k, v in raw.items()}
        return {k: v for k, v in found.items() if v is not None}

    # -- pipelines ---------------------------------------------------------------------------

    def digests(self, pipeline: str) -> dict[str, dict[str, Any]]:
        """digest → record, each in the documented shape whatever Redis held (a garbled
        record never stops an evaluation, the dashboard or ``bumper explain-promotion``)."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(PROMOTION + pipeline))
        found = {k.decode(): _loads(v) for k, v in raw.items()}
        return {k: _clean(v) for k, v in found.items() if v is not None}

    def newest(self, pipeline: str, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` records, the most recently first seen first, each with its
        ``digest`` (what ``bumper explain-promotion`` and the dashboard show)."""
        every = self.digests(pipeline)
        order = sorted(every, key=lambda d: every[d]["first_seen"], reverse=True)
        return [{**every[d], "digest": d} for d in order[:limit]]

    def save_digests(self, pipeline: str, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge the fields given into each digest's record (a digest without one gets one);
        the fields not given stay as stored: an evaluation writes the ``tag``, ``statuses``
        and ``evaluated_at`` it computed and keeps the ``entered`` a bump job wrote meanwhile.
        ``first_seen`` keeps the earlier of the two (a bump job may have made the record after
        the evaluation saw none). Past ``MAX_DIGESTS`` records, the least recently written go."""
        if records:
            self._rewrite(
                pipeline,
                list(records),
                lambda stored: {d: _merged(stored[d], r) for d, r in records.items()},
            )

    def enter(
        self,
        pipeline: str,
        digest: str,
        environment: str,
        change: str,
        at: float,
        **more: Any,
    ) -> None:
        """Record the promotion of ``digest`` into ``environment`` (and its change, once known;
        ``more``: the PR's ``pr`` number and ``repo`` name)."""
        self.update_entered(pipeline, digest, environment, at, change=change, **more)

    def update_entered(
        self, pipeline: str, digest: str, environment: str, at: float, **fields: Any
    ) -> None:
        """Merge ``fields`` into the digest's promotion into ``environment`` (``merged_at``,
        ``closed``: what the forge says of its PR); its ``at`` is the first time given. The
        rest of the record (other environments, the statuses) stays as stored."""

        def merge(stored: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
            record = stored[digest] or {"first_seen": at}
            entered = dict(record.get("entered") or {})
            before = entered.get(environment) or {}
            entered[environment] = {**before, **fields, "at": before.get("at", at)}
            return {digest: {**record, "entered": entered}}

        self._rewrite(pipeline, [digest], merge)

    def _rewrite(
        self,
        pipeline: str,
        digests: list[str],
        merge: Callable[[dict[str, dict[str, Any] | None]], Mapping[str, Mapping[str, Any]]],
    ) -> None:
        """Write the records ``merge`` makes of the stored ones (digest → its record in the
        documented shape, None when there is none or it is garbled).

        A read, a merge and a write, redone when the hash changed in between (``WATCH``, as
        ``note_commit``): an evaluation and a bump job writing one digest's record at once
        each keep their fields. Each record is written by ``_CAPPED_HSET`` in the same
        transaction, the oldest first seen first, so past the cap the least recently written
        records go, the oldest first seen of those written together.
        """
        key = PROMOTION + pipeline
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = cast(list[bytes | None], pipe.hmget(key, digests))
                    found = [_loads(value) for value in raw]
                    stored = {
                        digest: _clean(record) if record is not None else None
                        for digest, record in zip(digests, found, strict=True)
                    }
                    records = merge(stored)
                    order = sorted(records, key=lambda d: _number(records[d].get("first_seen")))
                    pipe.multi()
                    for digest in order:
                        self._capped(
                            keys=[key, key + ORDER],
                            args=[MAX_DIGESTS, digest, json.dumps(records[digest])],
                            client=pipe,
                        )
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def note_brought(self, pipeline: str, tag: str, at: float) -> None:
        """The first environment's rule bumped ``tag`` (the tag policy brought it there)."""
        self._capped_hset(BROUGHT + pipeline, tag, json.dumps(at), MAX_DIGESTS)

    def brought(self, pipeline: str) -> set[str]:
        """The tags the first environment's rule bumped (``note_brought``)."""
        return {k.decode() for k in cast(list[bytes], self.redis.hkeys(BROUGHT + pipeline))}

    def note_revision(self, pipeline: str, tag: str, revision: str) -> None:
        self._capped_hset(REVISIONS + pipeline, tag, revision, MAX_DIGESTS)

    def revision(self, pipeline: str, tag: str) -> str | None:
        raw = self.redis.hget(REVISIONS + pipeline, tag)
        return raw.decode() if isinstance(raw, bytes) else None

    # -- commit statuses ---------------------------------------------------------------------

    def note_commit(
        self, pipeline: str, digest: str, environment: str, sha: str, repo: str
    ) -> None:
        """``sha`` in the config repo ``repo`` carries ``digest`` into ``environment``.

        A read, a merge and a write, redone when the hash changed in between (``WATCH``): two
        bump jobs noting commits of one digest at once (its dev and staging bumps) each keep
        theirs, where a plain read-then-write would let the later one erase the earlier.
        """
        key = COMMITS + pipeline
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    every = _carriers(cast(bytes | None, pipe.hget(key, digest)))
                    carrier = {"sha": sha, "repo": repo}
                    kept = [c for c in every.get(environment, []) if c != carrier]
                    every[environment] = [*kept, carrier][-4:]
                    pipe.multi()
                    self._capped(
                        keys=[key, key + ORDER],
                        args=[MAX_DIGESTS, digest, json.dumps(every)],
                        client=pipe,
                    )
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def commits(self, pipeline: str, digest: str) -> dict[str, list[dict[str, str]]]:
        """environment → the commits that carry ``digest`` into it (``note_commit``)."""
        return _carriers(cast(bytes | None, self.redis.hget(COMMITS + pipeline, digest)))

    def commits_of(
        self, pipeline: str, digests: list[str]
    ) -> dict[str, dict[str, list[dict[str, str]]]]:
        """``commits`` of each digest, in one round trip (digests without any left out)."""
        if not digests:
            return {}
        raw = cast(list[bytes | None], self.redis.hmget(COMMITS + pipeline, digests))
        found = {digest: _carriers(value) for digest, value in zip(digests, raw, strict=True)}
        return {digest: every for digest, every in found.items() if every}

    def written_statuses(
        self, pipeline: str, places: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Any]:
        """``(digest, environment, sha)`` → the ``[state, description]`` last written there
        (``note_written_status``), None where none was; in one round trip."""
        if not places:
            return {}
        fields = [f"{digest}|{environment}|{sha}" for digest, environment, sha in places]
        raw = cast(list[bytes | None], self.redis.hmget(WRITTEN + pipeline, fields))
        return {place: _json(value) for place, value in zip(places, raw, strict=True)}

    def note_written_status(
        self, pipeline: str, digest: str, environment: str, sha: str, written: list[str]
    ) -> None:
        field = f"{digest}|{environment}|{sha}"
        self._capped_hset(WRITTEN + pipeline, field, json.dumps(written), MAX_WRITTEN)

    # -- evaluation jobs ---------------------------------------------------------------------

    def mark_pending(self, ttl: int) -> bool:
        """True when no evaluation is queued yet (the caller queues one)."""
        return bool(self.redis.set(PENDING, "1", nx=True, ex=ttl))

    def clear_pending(self) -> None:
        self.redis.delete(PENDING)
