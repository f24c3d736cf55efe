"""Registry polling, the safety net for webhooks that never came: one tick polls every watched
repository whose interval has run out, and turns what changed into ``image.pushed`` events with
``source: poll``, queued exactly as a receiver queues a webhook's events.

What is watched: each image rule whose registry has a ``registries:`` entry and that sets
``poll:``, or whose registry entry does; a repository's interval is the shortest asked for it.
An OCI chart rule is watched like an image (its versions are tags). A classic chart rule
(``chart_repository: https://...``) is watched when it sets ``poll:`` or its host has a
``registries:`` entry that does: its versions are ``entries.<chart>[*].version`` of the
repository's ``index.yaml`` (one bounded ``GET``, at most ``MAX_INDEX_BYTES``, read by
``bumper.core.chartindex``), with the entry's credentials if there is one. Only URLs written in
bumper.yaml are fetched; a chart event carries no digest.
All rules of one repository share one tags list per interval (``bumper:poll:due:<image>``,
``SET NX EX``, jittered up by at most 10 %, so any number of ticks or workers polls it once).

What becomes an event:
- a tag not seen before (the first poll of a repository only records what is there);
- a new digest behind a tag that a rule follows by digest (``policy.digest``), found by
  manifest ``HEAD`` each interval.
Each event carries the tag's digest (``HEAD``), like a registry's own webhook. Its delivery id is
derived from (image, tag, digest), so a push is queued once however many polls see it. A push
whose webhook the worker already handled (``state.webhook_reported``: that tag with that digest)
is not queued at all; a poll that comes first and its webhook after make one commit too: the
second bump finds the files already at that tag. ``caught`` counts the events no webhook had
reported first.

Rate limits: a ``Retry-After`` or ``RateLimit-Remaining: 0`` pauses the whole host
(``bumper:poll:wait:<host>``). State lives in Redis (``bumper.registry.state``).
Must not: import rq (``worker.jobs`` schedules the tick), or poll a host without an entry.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis

from bumper.core import chartindex, config, events
from bumper.errors import BumperError, ParseLimitExceeded, PermanentError, TransientError
from bumper.registry import state
from bumper.registry.client import RegistryClient
from worker import registries

log = logging.getLogger("bumper.worker")

MAX_NEW_TAGS = 100  # digests fetched per repository per poll; more wait for the next poll
MAX_KNOWN_TAGS = 20_000
JITTER = 0.1
TICK_BUDGET = 600  # seconds a tick may hold the lock
MAX_INDEX_BYTES = 32 * 2**20  # a classic Helm repository's index.yaml (big public ones: ~15 MB)


@dataclass
class Watch:
    """One repository polled, and what its rules need from it."""

    image: str
    host: str
    repository: str
    interval: int
    follow: set[str] = field(default_factory=set)  # mutable tags tracked by digest
    artifact: events.Artifact = "image"  # "chart": a Helm chart's versions
    index: str | None = None  # a classic Helm repository's index.yaml URL (repository: the chart)


def watches(cfg: config.BumperConfig) -> list[Watch]:
    """The repositories to poll (see the module docstring), sorted by image."""
    found: dict[str, Watch] = {}
    for rule in cfg.images:
        made = _classic_watch(cfg, rule) if _is_classic(rule) else _registry_watch(cfg, rule)
        if made is None:
            continue
        watch = found.setdefault(rule.image, made)
        watch.interval = min(watch.interval, made.interval)
        if rule.policy.digest and watch.index is None:
            watch.follow.add(rule.policy.digest)
    return [found[image] for image in sorted(found)]


def _is_classic(rule: config.Image) -> bool:
    return rule.chart is not None and not rule.chart_identity()[1].startswith("oci://")


def _registry_watch(cfg: config.BumperConfig, rule: config.Image) -> Watch | None:
    host, repository = registries.split(rule.image)
    entry = cfg.registry(host)
    interval = rule.poll or (entry.poll if entry else None)
    if entry is None or interval is None:
        return None
    artifact: events.Artifact = "chart" if rule.chart is not None else "image"
    return Watch(rule.image, host, repository, interval, artifact=artifact)


def _classic_watch(cfg: config.BumperConfig, rule: config.Image) -> Watch | None:
    name, repository = rule.chart_identity()
    host = urlsplit(repository).netloc
    entry = cfg.registry(host)
    interval = rule.poll or (entry.poll if entry else None)
    if interval is None:
        return None
    return Watch(
        rule.image, host, name, interval, artifact="chart", index=f"{repository}/index.yaml"
    )


Enqueue = Callable[[events.ImageEvent], bool]
ClientFor = Callable[[Watch], RegistryClient | None]


def tick(
    client: redis.Redis,
    watched: Iterable[Watch],
    client_for: ClientFor,
    enqueue: Enqueue,
    now: Callable[[], float] = time.time,
) -> dict[str, int]:
    """Poll every watch that is due; a summary. Another tick running → nothing is done."""
    token = f"{time.time()}-{random.random()}"
    if not client.set(state.LOCK, token, nx=True, ex=TICK_BUDGET):
        return {"busy": 1}
    summary = {"polled": 0, "events": 0, "skipped": 0}
    try:
        watched = list(watched)
        client.sadd(state.WATCHED, *[w.image for w in watched]) if watched else None
        for watch in watched:
            if client.exists(state.WAIT + watch.host) or not _due(client, watch):
                summary["skipped"] += 1
                continue
            api = client_for(watch)
            if api is None:
                continue
            summary["polled"] += 1
            summary["events"] += poll(client, watch, api, enqueue, now())
    finally:
        if client.get(state.LOCK) == token.encode():
            client.delete(state.LOCK)
        client.hincrby(state.STATS, "ticks", 1)
    return summary


def jittered(interval: int, rng: random.Random) -> int:
    """``interval`` seconds lengthened by at most ``JITTER`` (10 %), whole seconds, at least 1:
    repositories polled at one interval spread out instead of all falling due together."""
    return max(1, round(interval * (1 + rng.uniform(0, JITTER))))


# The OS's randomness: RQ forks a work horse per tick, and a seeded generator's state would be
# copied into each (the stdlib re-seeds only its global generator at a fork), so every tick
# would draw the same jitter.
_rng = random.SystemRandom()


def _due(client: redis.Redis, watch: Watch) -> bool:
    """Claim this interval of ``watch`` (``jittered``); False if another tick has it."""
    seconds = jittered(watch.interval, _rng)
    return bool(client.set(state.DUE + watch.image, "1", nx=True, ex=seconds))


def poll(
    client: redis.Redis, watch: Watch, api: RegistryClient, enqueue: Enqueue, now: float
) -> int:
    """Poll one repository, queue what changed, record the outcome; the number of events."""
    before = api.requests
    record: dict[str, str | float] = {"last_poll": now, "interval": watch.interval}
    made = caught = 0
    try:
        found = _changes(client, watch, api)
    except BumperError as error:
        record |= {"result": _result(error), "message": str(error)[:300]}
        if isinstance(error, TransientError) and error.reason == "registry-rate-limited":
            client.set(state.WAIT + watch.host, "1", ex=max(1, math.ceil(error.delay)))
        client.hincrby(state.STATS, "errors", 1)
        log.warning("poll of %s: %s (%s)", watch.image, error, error.reason)
    else:
        tags, pushed, baseline = found
        for tag, digest in pushed:
            if state.webhook_reported(client, watch.image, tag, digest):
                continue  # its webhook's job has it: a second run would find nothing to do
            event = _event(watch, tag, digest, now)
            missed = not state.webhook_saw(client, watch.image, tag, digest)
            if enqueue(event):
                made += 1
                caught += int(missed)
        _remember(client, watch, tags)
        result = "baseline" if baseline else "ok"
        record |= {"result": result, "message": "", "tags": len(tags)}
    if api.blocked_until > time.time():
        wait = math.ceil(api.blocked_until - time.time())
        client.set(state.WAIT + watch.host, "1", ex=max(1, wait))
    _record(client, watch, record, made, caught, api.requests - before)
    return made


def _changes(
    client: redis.Redis, watch: Watch, api: RegistryClient
) -> tuple[dict[str, str], list[tuple[str, str | None]], bool]:
    """(every tag → digest to remember, the pushes to report, whether this is the first poll)."""
    known = {k.decode(): v.decode() for k, v in client.hgetall(state.TAGS + watch.image).items()}  # type: ignore[union-attr]
    # "tags" is written by a successful poll only: a first poll that failed is no baseline
    baseline = not known and not client.hexists(state.REPO + watch.image, "tags")
    listed = _listing(watch, api)[:MAX_KNOWN_TAGS]
    tags = {tag: known.get(tag, "") for tag in listed}
    pushed: list[tuple[str, str | None]] = []
    new = [t for t in listed if t not in known]
    for tag in sorted(watch.follow & set(listed)):
        digest = api.digest(watch.repository, tag)
        tags[tag] = digest or ""
        moved = tag in known and known[tag] and digest and digest != known[tag]
        if moved or (tag in new and not baseline):
            pushed.append((tag, digest))
    if not baseline:
        for tag in [t for t in new if t not in watch.follow][:MAX_NEW_TAGS]:
            digest = None if watch.index else api.digest(watch.repository, tag)
            tags[tag] = digest or ""
            pushed.append((tag, digest))
        for tag in [t for t in new if t not in watch.follow][MAX_NEW_TAGS:]:
            del tags[tag]  # not reported yet: still new at the next poll
    return tags, pushed, baseline


def _listing(watch: Watch, api: RegistryClient) -> list[str]:
    """The repository's tags; a classic chart's versions from its index.yaml."""
    if watch.index is None:
        return api.tags(watch.repository)
    parts = urlsplit(watch.index)
    body = api.fetch(parts.path, watch.repository, MAX_INDEX_BYTES)
    try:
        return chartindex.versions(body, watch.repository)
    except ParseLimitExceeded as error:
        raise PermanentError(f"{watch.index}: {error}", reason="registry-error") from None


def _event(watch: Watch, tag: str, digest: str | None, now: float) -> events.ImageEvent:
    key = f"{watch.image}:{tag}@{digest or ''}"
    delivery = "poll-" + hashlib.sha256(key.encode()).hexdigest()[:24]
    return events.ImageEvent(
        type="image.pushed",
        image=watch.image,
        tag=tag,
        digest=digest,
        source="poll",
        delivery_id=delivery,
        received_at=now,
        extra={"registry": watch.host},
        artifact=watch.artifact,
    )


def _remember(client: redis.Redis, watch: Watch, tags: dict[str, str]) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.delete(state.TAGS + watch.image)
    if tags:
        pipe.hset(state.TAGS + watch.image, mapping=tags)  # type: ignore[arg-type]
        pipe.expire(state.TAGS + watch.image, state.STATE_TTL)
    pipe.execute()


def _record(
    client: redis.Redis,
    watch: Watch,
    record: dict[str, str | float],
    made: int,
    caught: int,
    requests: int,
) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.hset(state.REPO + watch.image, mapping=record)  # type: ignore[arg-type]
    pipe.hincrby(state.REPO + watch.image, "events", made)
    pipe.hincrby(state.REPO + watch.image, "caught", caught)
    pipe.expire(state.REPO + watch.image, state.STATE_TTL)
    for name, value in (("polls", 1), ("events", made), ("caught", caught), ("requests", requests)):
        pipe.hincrby(state.STATS, name, value)
    pipe.execute()


def _result(error: BumperError) -> str:
    return "rate-limited" if error.reason == "registry-rate-limited" else error.reason
