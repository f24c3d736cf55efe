"""The worker's state in Redis: bump candidates, the one-pending-job-per-target state machine,
CI results and held (gated) pushes, PRs by revision, and the per-repo lock.

Keys (all under ``bumper:``) and why they exist:

- ``cand:<target>`` hash tag → candidate JSON. A burst of pushes only adds fields here; the
  single pending bump job reads them all when it runs and picks the best (coalescing).
- ``bump:<target>`` hash {phase, job}: ``queued`` → ``running`` → (``dirty`` when a new
  candidate arrived mid-run) → deleted. ``request`` enqueues only from "no state", so one
  target has at most one queued job; ``finish`` tells a dirty job to run once more.
- ``ci:<sha>`` hash: a build result, for pushes that arrive after their CI finished.
- ``held:<rule>`` hash delivery → held event JSON with its own expiry; gated pushes wait here.
- ``prrev:<sha>`` hash target → PR JSON: the open bump PR for an image revision, so a CI
  failure can comment on it.
- ``hold:<target>`` JSON {by, pr, url, at}: a reviewer's ``/bumper hold`` (``worker.commands``):
  the target is not bumped, its candidates wait, until ``/bumper release``. Not to be confused
  with ``held:<rule>`` (pushes waiting for their CI gate).
- ``hold-logged:<target>`` set of candidates (``tag@digest``) whose ``held`` verdict this hold
  already logged: each bump run of a held target logs only the candidates new to the hold.
- ``pin:<target>`` JSON {tag, digest, by, pr, url, at}: a reviewer's ``/bumper pin <tag>``: the
  bump never moves the target past that tag until ``/bumper release``.
- ``lock:repo:<name>``: serialises every bump of one config repo; holds the owning job id.
- ``once:<what>``: a side effect done once (``Store.once``), e.g. a CI-failure comment on a PR.
- ``bad-images`` hash ``<repository>@<digest>`` (or ``:<tag>``) → record JSON: images that
  failed health in a cluster (written by push mode, and by the web process for the pull
  agents' authenticated reports: the agent holds no Redis credentials), read by the bump's
  policy screen. At most ``BAD_IMAGES_LIMIT`` fields, so a rogue reporter cannot fill Redis.
- ``agents`` hash agent name → its last health report JSON (names come from bumper.yaml's
  ``agents``, so the hash is as bounded as that list), for the dashboard.
- ``push:pr:<target>``: the open bump PR of a push target, so the run that deploys its merge
  comments on it (once per commit and state: ``once:push-commented:...``).
- ``lock:deploy:<name>``: one push deploy per deployer name at a time.
- ``targets`` hash target key → JSON ``{"observed": ..., "bump": ..., "deploy": ...}``: what
  the config repo's HEAD held when the target was last scanned, the last bump (commit or PR,
  state) and push mode's last deploy, for the dashboard. Bounded by the targets of bumper.yaml.

Must not: decide anything (``bump.py`` does), or talk to git or a forge. It imports only
redis and ``bumper.errors``: the web process writes the agents' reports through it
(.importlinter, ``web-only-enqueues``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.lock import Lock

from bumper.errors import TransientError

PREFIX = "bumper:"
BAD_IMAGES = f"{PREFIX}bad-images"
BAD_IMAGES_LIMIT = 10_000
AGENTS = f"{PREFIX}agents"
TARGETS = f"{PREFIX}targets"

log = logging.getLogger("bumper.worker")

_REQUEST = """
-- KEYS[1] state hash, KEYS[2] sequence; ARGV[1] ttl, ARGV[2] job id prefix
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then
  local id = ARGV[2] .. redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], 'phase', 'queued', 'job', id)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return {1, id}
end
if phase == 'running' then redis.call('HSET', KEYS[1], 'phase', 'dirty') end
return {0, redis.call('HGET', KEYS[1], 'job')}
"""

_START = """
-- KEYS[1] state hash; ARGV[1] job id, ARGV[2] ttl
if redis.call('HGET', KEYS[1], 'job') == ARGV[1] or not redis.call('EXISTS', KEYS[1]) then
  redis.call('HSET', KEYS[1], 'phase', 'running', 'job', ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_FINISH = """
-- KEYS[1] state hash; ARGV[1] job id.  1: run again (dirty), 0: done
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'phase') == 'dirty' then
  redis.call('HSET', KEYS[1], 'phase', 'running')
  return 1
end
redis.call('DEL', KEYS[1])
return 0
"""

_ADOPT = """
-- KEYS[1] state hash; ARGV[1] job id, ARGV[2] ttl: the job becomes the pending one if none is
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGET', KEYS[1], 'job')} end
redis.call('HSET', KEYS[1], 'phase', 'queued', 'job', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, ARGV[1]}
"""

_DROP_IF = """
-- KEYS[1] state hash; ARGV[1] job id: forget the state if it still names that job
if redis.call('HGET', KEYS[1], 'job') == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""

_DROP_LOCK_OF = """
-- KEYS[1] lock; ARGV[1] owner token: free the lock if that owner holds it
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_CONSUME = """
-- KEYS[1] candidates hash; ARGV pairs field, value: delete each field still holding value
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class StoredCandidate:
    """A tag proposed for a target, with the event that proposed it (as a dict)."""

    tag: str
    digest: str | None
    event: dict[str, Any]
    raw: str = ""  # the stored JSON, to delete exactly what was read

    def to_json(self) -> str:
        return json.dumps({"tag": self.tag, "digest": self.digest, "event": self.event})

    @classmethod
    def from_json(cls, raw: str) -> StoredCandidate:
        data = json.loads(raw)
        return cls(tag=data["tag"], digest=data.get("digest"), event=data["event"], raw=raw)


def _json_object(raw: Any) -> dict[str, Any] | None:
    """A stored JSON object, or None when absent or damaged (a damaged record holds nothing)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def bad_image_field(record: dict[str, Any]) -> str:
    """A record's field in ``bumper:bad-images``: ``<repository>@<digest>``, else ``:<tag>``."""
    if record.get("digest"):
        return f"{record['repository']}@{record['digest']}"
    return f"{record['repository']}:{record.get('tag') or 'latest'}"


def job_prefix(target: str) -> str:
    """RQ job ids allow ``[A-Za-z0-9_-]`` only: the target slugged, plus a hash against clashes."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", target)[:60]
    return f"bump-{safe}-{hashlib.sha256(target.encode()).hexdigest()[:6]}-"


class Store:
    """Typed access to the worker's Redis keys."""

    def __init__(self, client: redis.Redis, *, state_ttl: int = 6 * 3600) -> None:
        self.redis = client
        self.state_ttl = state_ttl
        self._request = client.register_script(_REQUEST)
        self._start = client.register_script(_START)
        self._finish = client.register_script(_FINISH)
        self._drop_if = client.register_script(_DROP_IF)
        self._adopt = client.register_script(_ADOPT)
        self._consume = client.register_script(_CONSUME)
        self._drop_lock_of = client.register_script(_DROP_LOCK_OF)

    # -- candidates and the pending-job state machine -----------------------------------

    def add_candidate(self, target: str, candidate: StoredCandidate) -> None:
        key = f"{PREFIX}cand:{target}"
        self.redis.hset(key, candidate.tag, candidate.to_json())
        self.redis.expire(key, self.state_ttl * 4)

    def candidates(self, target: str) -> list[StoredCandidate]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(f"{PREFIX}cand:{target}"))
        return [StoredCandidate.from_json(value.decode()) for value in raw.values()]

    def consume(self, target: str, seen: list[StoredCandidate]) -> int:
        """Remove the candidates a run handled, unless a newer push replaced one meanwhile."""
        if not seen:
            return 0
        args = [item for c in seen for item in (c.tag, c.raw)]
        return int(self._consume(keys=[f"{PREFIX}cand:{target}"], args=args))

    def request(self, target: str) -> tuple[bool, str]:
        """(True, new job id) if a job must be enqueued; else (False, the pending job's id)."""
        keys = [f"{PREFIX}bump:{target}", f"{PREFIX}bumpseq:{target}"]
        fresh, job_id = self._request(keys=keys, args=[self.state_ttl, job_prefix(target)])
        return bool(fresh), job_id.decode() if isinstance(job_id, bytes) else str(job_id)

    def adopt(self, target: str, job_id: str) -> tuple[bool, str]:
        """Make ``job_id`` the target's pending job (a retried job): (True, it) when no job was
        pending; else (False, the pending job's id), changing nothing."""
        keys = [f"{PREFIX}bump:{target}"]
        adopted, pending = self._adopt(keys=keys, args=[job_id, self.state_ttl])
        return bool(adopted), pending.decode() if isinstance(pending, bytes) else str(pending)

    def forget(self, target: str, job_id: str) -> bool:
        """Drop the state if it still names ``job_id`` (its job is gone: lost or failed)."""
        return bool(self._drop_if(keys=[f"{PREFIX}bump:{target}"], args=[job_id]))

    def start(self, target: str, job_id: str) -> None:
        self._start(keys=[f"{PREFIX}bump:{target}"], args=[job_id, self.state_ttl])

    def finish(self, target: str, job_id: str) -> bool:
        """True when candidates arrived during the run, so the job must run once more."""
        return bool(self._finish(keys=[f"{PREFIX}bump:{target}"], args=[job_id]))

    # -- CI results, held pushes, PRs by revision ---------------------------------------

    def record_ci(self, sha: str, status: str, info: dict[str, str], ttl: int) -> None:
        for key in {sha, sha[:7]}:
            mapping: dict[str | bytes, str | bytes] = {"status": status}
            mapping.update(info)
            self.redis.hset(f"{PREFIX}ci:{key}", mapping=mapping)  # type: ignore[arg-type]
            self.redis.expire(f"{PREFIX}ci:{key}", ttl)

    def ci_result(self, revision: str) -> dict[str, str] | None:
        for key in (revision, revision[:7]):
            raw = cast(dict[bytes, bytes], self.redis.hgetall(f"{PREFIX}ci:{key}"))
            if raw:
                return {k.decode(): v.decode() for k, v in raw.items()}
        return None

    def hold(
        self, rule: str, delivery: str, event: dict[str, Any], revision: str, ttl: int
    ) -> None:
        entry = {"event": event, "revision": revision, "expires": time.time() + ttl}
        self.redis.hset(f"{PREFIX}held:{rule}", delivery, json.dumps(entry))
        self.redis.expire(f"{PREFIX}held:{rule}", max(ttl, 60))

    def held(self, rule: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Unexpired held entries (delivery, entry); expired ones are removed on the way."""
        key = f"{PREFIX}held:{rule}"
        raw = cast(dict[bytes, bytes], self.redis.hgetall(key))
        for delivery, value in raw.items():
            entry = json.loads(value)
            if entry["expires"] < time.time():
                self.redis.hdel(key, delivery)
                continue
            yield delivery.decode(), entry

    def release(self, rule: str, delivery: str) -> bool:
        return bool(self.redis.hdel(f"{PREFIX}held:{rule}", delivery))

    # -- a reviewer's hold and pin of one target (``/bumper`` commands) -----------------------

    def set_hold(self, target: str, entry: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(f"{PREFIX}hold:{target}", json.dumps(entry))
        pipe.delete(f"{PREFIX}hold-logged:{target}")  # a new hold logs its candidates afresh
        pipe.execute()

    def newly_held(self, target: str, candidates: list[str]) -> list[str]:
        """Those of ``candidates`` the target's hold had not logged yet, marked as logged."""
        if not candidates:
            return []
        pipe = self.redis.pipeline(transaction=True)
        for candidate in candidates:
            pipe.sadd(f"{PREFIX}hold-logged:{target}", candidate)
        added = pipe.execute()
        return [c for c, new in zip(candidates, added, strict=True) if new]

    def hold_of(self, target: str) -> dict[str, Any] | None:
        return _json_object(self.redis.get(f"{PREFIX}hold:{target}"))

    def set_pin(self, target: str, entry: dict[str, Any]) -> None:
        self.redis.set(f"{PREFIX}pin:{target}", json.dumps(entry))

    def pin_of(self, target: str) -> dict[str, Any] | None:
        return _json_object(self.redis.get(f"{PREFIX}pin:{target}"))

    def holds_and_pins(self, targets: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Target → {"hold": entry, "pin": entry} of the targets held or pinned (one read)."""
        if not targets:
            return {}
        names = [f"{PREFIX}{kind}:{t}" for t in targets for kind in ("hold", "pin")]
        raw = cast(list[bytes | None], self.redis.mget(names))
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for index, target in enumerate(targets):
            for kind, value in zip(("hold", "pin"), raw[2 * index : 2 * index + 2], strict=True):
                entry = _json_object(value)
                if entry is not None:
                    found.setdefault(target, {})[kind] = entry
        return found

    def lift(self, target: str) -> bool:
        """Drop the target's hold and pin; whether there was either."""
        self.redis.delete(f"{PREFIX}hold-logged:{target}")
        return bool(self.redis.delete(f"{PREFIX}hold:{target}", f"{PREFIX}pin:{target}"))

    def remember_pr(self, revision: str, target: str, pr: dict[str, Any], ttl: int) -> None:
        for key in {revision, revision[:7]}:
            self.redis.hset(f"{PREFIX}prrev:{key}", target, json.dumps(pr))
            self.redis.expire(f"{PREFIX}prrev:{key}", ttl)

    def prs_for(self, revision: str) -> dict[str, dict[str, Any]]:
        for key in (revision, revision[:7]):
            raw = cast(dict[bytes, bytes], self.redis.hgetall(f"{PREFIX}prrev:{key}"))
            if raw:
                return {k.decode(): json.loads(v) for k, v in raw.items()}
        return {}

    # -- once-only side effects (a PR comment per build and target) -------------------------

    @contextmanager
    def once(self, what: str, ttl: int) -> Iterator[bool]:
        """Whether ``what`` (e.g. ``commented:<sha>:<target>``) is done here for the first time.

        The mark is taken before the work, so two jobs never both do it, and given back when
        the work raises, so a retry does it; yields False when it was done already.
        """
        key = f"{PREFIX}once:{what}"
        first = bool(self.redis.set(key, b"1", nx=True, ex=ttl))
        try:
            yield first
        except BaseException:
            if first:
                self.redis.delete(key)
            raise

    # -- images the pull agent marked bad ---------------------------------------------------

    def bad_image(self, names: list[str], tag: str, digest: str | None) -> dict[str, Any] | None:
        """The agent's record if ``name@digest`` (or ``name:tag``) failed health in a cluster.
        The agent keys by the name as written in manifests, so every spelling is tried."""
        fields = [f"{n}@{digest}" for n in names if digest] + [f"{n}:{tag}" for n in names]
        values = cast(list[bytes | None], self.redis.hmget(BAD_IMAGES, fields))
        for raw in values:
            if raw:
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                return record if isinstance(record, dict) else {"reason": "marked bad"}
        return None

    def mark_bad_images(self, records: list[dict[str, Any]]) -> bool:
        """Add bad-image records (``bumper.agent.badimages``' format: push mode's own, or an
        agent's report) for ``bad_image`` to find. False, writing nothing, when the hash would
        grow past ``BAD_IMAGES_LIMIT`` fields (a record already there may always be updated)."""
        if not records:
            return True
        fields = {bad_image_field(r): json.dumps(r) for r in records}
        if int(self.redis.hlen(BAD_IMAGES)) + len(fields) > BAD_IMAGES_LIMIT:
            present = cast(list[bytes | None], self.redis.hmget(BAD_IMAGES, list(fields)))
            new = sum(1 for value in present if value is None)
            if int(self.redis.hlen(BAD_IMAGES)) + new > BAD_IMAGES_LIMIT:
                log.warning("bad-image records refused: %s fields already", BAD_IMAGES_LIMIT)
                return False
        self.redis.hset(BAD_IMAGES, mapping=fields)  # type: ignore[arg-type]
        return True

    def recent_bad_images(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` records (by their ``at``), for the dashboard."""
        records: list[dict[str, Any]] = []
        for _, raw in self.redis.hscan_iter(BAD_IMAGES, count=500):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
            if len(records) >= 20 * limit:  # enough to pick the newest from
                break
        records.sort(key=lambda r: str(r.get("at") or ""), reverse=True)
        return records[:limit]

    # -- the pull agents' health, as they last reported it ----------------------------------

    def record_agent_status(self, agent: str, status: dict[str, Any]) -> None:
        self.redis.hset(AGENTS, agent, json.dumps(status))

    def agent_statuses(self) -> dict[str, dict[str, Any]]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(AGENTS))
        statuses: dict[str, dict[str, Any]] = {}
        for name, value in raw.items():
            try:
                status = json.loads(value)
            except ValueError:
                continue
            if isinstance(status, dict):
                statuses[name.decode()] = status
        return statuses

    # -- what the dashboard shows of each target -------------------------------------------

    def record_target(self, target: str, **parts: dict[str, Any]) -> None:
        """Merge ``parts`` (``observed``, ``bump``, ``deploy``) into the target's record. Only
        the job holding the target's bump writes it, so read-modify-write is enough."""
        raw = self.redis.hget(TARGETS, target)
        try:
            record = json.loads(raw) if raw else {}
        except ValueError:
            record = {}
        if not isinstance(record, dict):
            record = {}
        record.update(parts)
        self.redis.hset(TARGETS, target, json.dumps(record, default=str))

    def target_records(self) -> dict[str, dict[str, Any]]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(TARGETS))
        records: dict[str, dict[str, Any]] = {}
        for name, value in raw.items():
            try:
                record = json.loads(value)
            except ValueError:
                continue
            if isinstance(record, dict):
                records[name.decode()] = record
        return records

    def held_count(self, rule: str) -> int:
        """Pushes of ``rule`` held by its CI gate (expired ones included until next read)."""
        return int(self.redis.hlen(f"{PREFIX}held:{rule}"))

    # -- push mode: the PR a deploy comments on ------------------------------------------

    def remember_push_pr(self, target: str, pr: dict[str, Any], *, ttl: int) -> None:
        self.redis.set(f"{PREFIX}push:pr:{target}", json.dumps(pr), ex=ttl)

    def push_pr(self, target: str) -> dict[str, Any] | None:
        raw = self.redis.get(f"{PREFIX}push:pr:{target}")
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    def forget_push_pr(self, target: str) -> None:
        self.redis.delete(f"{PREFIX}push:pr:{target}")

    # -- serialisation: per repo, per push deployer ---------------------------------------

    @contextmanager
    def deploy_lock(self, name: str, *, timeout: float, wait: float) -> Iterator[None]:
        """Hold deployer ``name``'s lock; ``TransientError`` if another deploy keeps it."""
        lock = self.redis.lock(
            f"{PREFIX}lock:deploy:{name}", timeout=timeout, blocking_timeout=wait
        )
        busy = TransientError(f"deployer {name!r} is busy", delay=5, reason="busy")
        with _holding(lock, busy):
            yield

    @contextmanager
    def repo_lock(
        self, repo: str, *, timeout: float, wait: float, owner: str | None = None
    ) -> Iterator[None]:
        """Hold the repo's lock; ``TransientError`` if another bump keeps it past ``wait``.

        ``owner`` (the RQ job id) is stored as the lock's token. A job that finds the lock
        still held under its own id is a re-run of itself whose worker died holding it (RQ
        re-runs a job only once that worker stopped sending heartbeats), so it takes the lock
        over instead of waiting up to ``timeout`` (the job timeout) for it to expire."""
        name = f"{PREFIX}lock:repo:{repo}"
        if owner is not None and self._drop_lock_of(keys=[name], args=[owner]):
            log.warning("took over the lock of repo %r left by a dead run of job %s", repo, owner)
        lock = self.redis.lock(name, timeout=timeout, blocking_timeout=wait)
        busy = TransientError(f"repo {repo!r} is busy with another bump", delay=2, reason="busy")
        with _holding(lock, busy, token=owner):
            yield


@contextmanager
def _holding(lock: Lock, busy: TransientError, *, token: str | None = None) -> Iterator[None]:
    """Hold ``lock`` (raising ``busy`` when it stays taken) for the block, then release it."""
    if not lock.acquire(token=token):
        raise busy
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass  # expired under a very slow job; the next holder already has it: nothing to undo
