"""The bounded lists of recent requests shown on the dashboard (Redis lists, newest first).

Two lists, so that what anyone on the internet can send never pushes out what senders did:

- ``RECENT_KEY``, deliveries that passed authentication: accepted and duplicates (recorded by
  the intake script itself, no extra round trip), ignored ones and pings (recorded here);
- ``REFUSED_KEY``, everything else: forged, unauthenticated, malformed, too large, unknown
  receivers, handshakes, failures before authentication (recorded here).

Recording here is best effort. Entries hold the receiver name, result, status, delivery id
(the sender's unverified header for a refused request, so cut short) and one-line event
summaries: never headers, bodies or secrets.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import redis

from bumper.web.intake import RECENT_KEY

REFUSED_KEY = "bumper:web:refused"
_REFUSED_ID_CHARS = 100

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


def _json_text(value: Any) -> str:
    return _quote(value) if isinstance(value, str) else _dumps(value)


def summarise(
    receiver: str,
    delivery_id: str,
    received_at: float,
    dicts: list[dict[str, Any]],
    jobs: tuple[str, ...] = (),
) -> tuple[str, str]:
    """The entries recorded if the delivery is accepted (with its event ``jobs``' ids, which
    the dashboard's event page reads the normalised events from), and if it is a duplicate."""
    base = (
        f'{{"time":{received_at:.3f},"receiver":{_quote(receiver)},'
        f'"delivery_id":{_quote(delivery_id)},'
    )
    # Built from quoted strings: json.dumps of the lists was a tenth of the intake's own CPU.
    events = ",".join(
        f'{{"type":{_json_text(d.get("type"))},"subject":{_quote(_subject(d))}}}' for d in dicts
    )
    job_list = ",".join(_quote(job) for job in jobs)
    accepted = f'{base}"status":202,"result":"accepted","events":[{events}],"jobs":[{job_list}]}}'
    duplicate = f'{base}"status":200,"result":"duplicate","events":[]}}'
    return accepted, duplicate


def record_outcome(
    st: WebState,
    receiver: str,
    status: int,
    result: str,
    delivery_id: str | None,
    *,
    authenticated: bool,
) -> None:
    """Best effort: a request that did not reach the intake script. Authenticated ones (ignored,
    pings) join the recent deliveries; the others go to the refused list."""
    keep = st.settings.web.recent_deliveries
    if keep <= 0:
        return
    key = RECENT_KEY if authenticated else REFUSED_KEY
    if delivery_id is not None and not authenticated:
        delivery_id = delivery_id[:_REFUSED_ID_CHARS]
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
        pipe.lpush(key, entry)
        pipe.ltrim(key, 0, keep - 1)
        pipe.execute()
    except redis.RedisError as error:
        log.debug("could not record a delivery", extra={"exception": type(error).__name__})


def read(client: redis.Redis, limit: int, key: str = RECENT_KEY) -> list[dict[str, Any]]:
    """The newest ``limit`` entries of ``key`` (recent deliveries by default, or
    ``REFUSED_KEY``); malformed ones are skipped."""
    entries: list[dict[str, Any]] = []
    for raw in client.lrange(key, 0, max(limit, 1) - 1):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            entries.append(item)
    return entries
