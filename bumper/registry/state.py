"""What registry polling keeps in Redis, and ``poll_status``: the read the dashboard and the
metrics use. The worker (``worker.polling``) writes through the same functions.

Keys (``<image>`` is the normalised image name, e.g. ``ghcr.io/acme/api``):

- ``bumper:poll:repo:<image>`` hash: ``last_poll`` (epoch s), ``result`` (``ok``, ``baseline``,
  ``rate-limited``, or an error reason), ``message`` (one line, no secret), ``tags``,
  ``interval``, ``events`` and ``caught`` (running totals: events made; of those, pushes no
  webhook had reported: webhooks missed that the poll caught);
- ``bumper:poll:tags:<image>`` hash: each tag seen → its digest (empty when not fetched);
- ``bumper:poll:seen:<image>`` hash: tag → digest of pushes a webhook reported (7 days):
  a poll does not queue a push a webhook reported with the same digest;
- ``bumper:poll:due:<image>``: exists while the repository's interval runs (``SET NX EX``: at
  most one tags list per repository per interval, however many ticks or workers);
- ``bumper:poll:wait:<host>``: exists while a host's ``Retry-After`` / rate limit runs;
- ``bumper:poll:lock``: held by the one tick that runs; ``bumper:poll:stats`` hash: totals
  (``ticks``, ``polls``, ``requests``, ``errors``, ``events``, ``caught``).

Must not: import the worker or requests (the web imports this module).
"""

from __future__ import annotations

from typing import Any

import redis

PREFIX = "bumper:poll:"
REPO = PREFIX + "repo:"
TAGS = PREFIX + "tags:"
SEEN = PREFIX + "seen:"
DUE = PREFIX + "due:"
WAIT = PREFIX + "wait:"
LOCK = PREFIX + "lock"
STATS = PREFIX + "stats"
WATCHED = PREFIX + "watched"  # set of watched image names, for poll_status
SEEN_TTL = 7 * 86_400
STATE_TTL = 30 * 86_400


def note_webhook(client: redis.Redis, image: str, tag: str, digest: str | None) -> None:
    """A webhook reported ``image:tag``: a poll that finds it later caught nothing missed."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(SEEN + image, tag, digest or "")
    pipe.expire(SEEN + image, SEEN_TTL)
    pipe.execute()


def webhook_saw(client: redis.Redis, image: str, tag: str, digest: str | None) -> bool:
    seen: bytes | None = client.hget(SEEN + image, tag)  # type: ignore[assignment]
    if seen is None:
        return False
    text = seen.decode()
    return not text or not digest or text == digest


def webhook_reported(client: redis.Redis, image: str, tag: str, digest: str | None) -> bool:
    """Whether a webhook reported this very push, so a poll need not queue it again: the tag
    with this digest (a chart version, which has none: the tag). Stricter than ``webhook_saw``:
    a webhook without a digest may have been for an earlier push of a mutable tag."""
    seen: bytes | None = client.hget(SEEN + image, tag)  # type: ignore[assignment]
    if seen is None:
        return False
    return digest is None or seen.decode() == digest


def _text(data: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in data.items()}


def poll_status(client: redis.Redis) -> list[dict[str, Any]]:
    """Each watched repository's last poll: ``image``, ``last_poll`` (epoch s or None),
    ``result``, ``message``, ``tags``, ``interval``, ``events``, ``caught``; sorted by image."""
    images = sorted(m.decode() for m in client.smembers(WATCHED))  # type: ignore[union-attr]
    pipe = client.pipeline(transaction=False)
    for image in images:
        pipe.hgetall(REPO + image)
    rows = []
    for image, raw in zip(images, pipe.execute(), strict=True):
        data = _text(raw)
        rows.append(
            {
                "image": image,
                "last_poll": float(data["last_poll"]) if "last_poll" in data else None,
                "result": data.get("result", "pending"),
                "message": data.get("message", ""),
                "tags": int(data.get("tags", 0)),
                "interval": int(data.get("interval", 0)),
                "events": int(data.get("events", 0)),
                "caught": int(data.get("caught", 0)),
            }
        )
    return rows


def totals(client: redis.Redis) -> dict[str, int]:
    """The running totals of ``bumper:poll:stats`` (missing ones are 0)."""
    raw = _text(client.hgetall(STATS))  # type: ignore[arg-type]
    names = ("ticks", "polls", "requests", "errors", "events", "caught")
    return {name: int(raw.get(name, 0)) for name in names}
