"""The bounded list of recent deliveries shown on the dashboard (Redis list, newest first).

Accepted and duplicate deliveries are recorded by the intake script itself (no extra round
trip); the others (rejected, ignored, pings) are recorded here, best effort. Entries hold the
receiver name, result, status, delivery id and one-line event summaries: never headers,
bodies or secrets.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import redis

from bumper.web.intake import RECENT_KEY

if TYPE_CHECKING:
    from bumper.web.state import WebState

log = logging.getLogger("bumper.web.recent")
_dumps = json.dumps
# What json.dumps does for one str, without building an encoder around it.
_quote = json.encoder.encode_basestring_ascii


def _subject(data: dict[str, Any]) -> str:
    if data.get("type") == "build.finished":
        commit = (data.get("commit") or "")[:12]
        return f"{data.get('status')} {data.get('repository') or '?'}@{commit or '?'}"
    where = data.get("image") or "?"
    if data.get("tag"):
        where += f":{data['tag']}"
    if data.get("digest"):
        where += f"@{str(data['digest'])[:19]}"
    return where


def summarise(
    receiver: str, delivery_id: str, received_at: float, dicts: list[dict[str, Any]]
) -> tuple[str, str]:
    """The entries recorded if the delivery is accepted, and if it is a duplicate."""
    base = (
        f'{{"time":{received_at:.3f},"receiver":{_quote(receiver)},'
        f'"delivery_id":{_quote(delivery_id)},'
    )
    events = _dumps([{"type": d.get("type"), "subject": _subject(d)} for d in dicts])
    accepted = f'{base}"status":202,"result":"accepted","events":{events}}}'
    duplicate = f'{base}"status":200,"result":"duplicate","events":[]}}'
    return accepted, duplicate


def record_outcome(
    st: WebState, receiver: str, status: int, result: str, delivery_id: str | None
) -> None:
    """Best effort: a delivery that did not reach the intake script (rejected, ignored, ping)."""
    keep = st.settings.web.recent_deliveries
    if keep <= 0:
        return
    entry = json.dumps(
        {
            "time": round(time.time(), 3),
            "receiver": receiver,
            "delivery_id": delivery_id,
            "status": status,
            "result": result,
        }
    )
    try:
        pipe = st.redis.pipeline(transaction=False)
        pipe.lpush(RECENT_KEY, entry)
        pipe.ltrim(RECENT_KEY, 0, keep - 1)
        pipe.execute()
    except redis.RedisError as error:
        log.debug("could not record a delivery", extra={"exception": type(error).__name__})


def read(client: redis.Redis, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` entries; malformed ones are skipped."""
    entries: list[dict[str, Any]] = []
    for raw in client.lrange(RECENT_KEY, 0, max(limit, 1) - 1):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            entries.append(item)
    return entries
