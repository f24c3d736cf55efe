"""The decision log: every policy verdict, kept in Redis, bounded, newest first.

Each entry is one JSON object (keys: ``time``, ``image``, ``rule_name``, ``target``,
``source``, ``delivery_id``, ``candidate``, ``current``, ``rule``, ``result``, ``why``,
``pin``) pushed with LPUSH and trimmed with LTRIM in one MULTI, onto two lists:

- ``<prefix>:decisions``: all images, at most ``total`` entries;
- ``<prefix>:decisions:image:<normalised image>``: at most ``per_image`` entries, expiring
  after ``image_ttl_seconds`` without a new entry (so images removed from the config vanish).

The worker writes it; ``bumper log`` and the dashboard read it. Entries never hold secrets:
a decision is made of tags, digests, rule names and the policy's explanation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from bumper.core import events, policy, refs
from bumper.errors import InvalidReference
from bumper.settings import DecisionLogSettings

ENTRY_KEYS = (
    "time",
    "image",
    "rule_name",
    "target",
    "source",
    "delivery_id",
    "candidate",
    "current",
    "rule",
    "result",
    "why",
    "pin",
)


class DecisionLog:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "bumper",
        limits: DecisionLogSettings | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.limits = limits or DecisionLogSettings()

    @property
    def global_key(self) -> str:
        return f"{self.prefix}:decisions"

    def image_key(self, image: str) -> str:
        return f"{self.prefix}:decisions:image:{image}"

    def record(
        self,
        decision: policy.Decision,
        *,
        image: str,
        rule_name: str | None = None,
        target: str | None = None,
        event: events.Event | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        """Store one decision for ``image`` (normalised name); returns the entry written."""
        entries = self.record_many(
            [decision], image=image, rule_name=rule_name, target=target, event=event, at=at
        )
        return entries[0]

    def record_many(
        self,
        decisions: Iterable[policy.Decision],
        *,
        image: str,
        rule_name: str | None = None,
        target: str | None = None,
        event: events.Event | None = None,
        at: float | None = None,
    ) -> list[dict[str, Any]]:
        """Store a batch (e.g. a :class:`policy.Selection`'s decisions) in one round trip."""
        context: dict[str, Any] = {
            "time": time.time() if at is None else at,
            "image": image,
            "rule_name": rule_name,
            "target": target,
            "source": event.source if event is not None else "",
            "delivery_id": event.delivery_id if event is not None else "",
        }
        entries = [context | d.to_dict() for d in decisions]
        if entries:
            self._push(image, [json.dumps(e, sort_keys=True) for e in entries])
        return entries

    def record_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Store an entry built by the caller: :data:`ENTRY_KEYS` missing are filled (``time``
        with now, others with ``None``); extra keys (``stage``, ``pr``, ...) are kept."""
        full: dict[str, Any] = {key: None for key in ENTRY_KEYS}
        full.update(entry)
        if full["time"] is None:
            full["time"] = time.time()
        image = str(full["image"] or "")
        self._push(image, [json.dumps(full, sort_keys=True, default=str)])
        return full

    def _push(self, image: str, payloads: list[str]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(self.global_key, *payloads)
        pipe.ltrim(self.global_key, 0, self.limits.total - 1)
        if image:
            key = self.image_key(image)
            pipe.lpush(key, *payloads)
            pipe.ltrim(key, 0, self.limits.per_image - 1)
            pipe.expire(key, self.limits.image_ttl_seconds)
        pipe.execute()

    def recent(self, *, image: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first. ``image`` is an image name (normalised here) or an image rule's name."""
        if limit <= 0:
            return []
        if image is None:
            return self._read(self.global_key, limit)
        name = _normalised(image)
        if name is not None:
            found = self._read(self.image_key(name), limit)
            if found:
                return found
        # Not an image with entries: maybe the name of a rule in bumper.yaml.
        everything = self._read(self.global_key, self.limits.total)
        return [e for e in everything if e.get("rule_name") == image][:limit]

    def page(
        self,
        *,
        image: str | None = None,
        rule: str | None = None,
        outcome: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of entries (newest first) matching every filter given, and whether more
        follow. ``image`` as in ``recent``; ``rule`` a rule's name; ``outcome`` a result
        (``accepted``, ``rejected``...). Reads at most the bounded global list."""
        source = self.recent(image=image, limit=self.limits.total)
        matched = [
            e
            for e in source
            if (rule is None or e.get("rule_name") == rule)
            and (outcome is None or e.get("result") == outcome)
        ]
        start = max(offset, 0)
        return matched[start : start + limit], len(matched) > start + limit

    def _read(self, key: str, limit: int) -> list[dict[str, Any]]:
        raw: list[bytes] = self.client.lrange(key, 0, limit - 1)  # type: ignore[assignment]
        entries = []
        for item in raw:
            try:
                entry = json.loads(item)
            except ValueError:
                continue  # a foreign or damaged item must not break the reader
            if isinstance(entry, dict):
                entries.append(entry)
        return entries


def record(
    client: redis.Redis,
    entry: Mapping[str, Any],
    *,
    limits: DecisionLogSettings | None = None,
    prefix: str = "bumper",
) -> dict[str, Any]:
    """Shortcut for ``DecisionLog(client).record_entry(entry)``."""
    return DecisionLog(client, prefix=prefix, limits=limits).record_entry(entry)


def _normalised(image: str) -> str | None:
    try:
        return refs.normalize_name(image)
    except InvalidReference:
        return None
