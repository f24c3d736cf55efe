"""``POST /agent/v1/reports``: pull agents report bad images and their health to the web process.

This is the one channel for agent reports: an agent holds no Redis credentials (it used to be
handed a writable Redis URL, and Redis write access is code execution in the worker). The web
process writes what it accepts through ``worker.store``, the owner of those keys, where the
bump worker's bad-image screen and the dashboard read it.

Authentication (``bumper.web.agentauth``): ``Authorization: Bearer <token>``, each agent of
bumper.yaml's ``agents`` with its own token, shared with no receiver and no other agent, so
neither a sender nor another agent can speak for it. Missing: 401; wrong: 403; nothing is read
or written then. The records are stamped with the agent's configured
name, whatever the report says.

Validation: a JSON body of at most ``agentreport.MAX_BODY_BYTES`` (413 above, 415 for another
media type), matching ``bumper.core.agentreport.Report`` (400 naming the field, never its
value). Redis unavailable: 503 with ``Retry-After``; the agent retries.

Why the public listener: an agent runs in its own cluster, often far from the web process,
and reaches it the way senders do; the token is the gate. The worst a stolen token can do is
mark images bad (that blocks bumps, it never causes one), within the store's bound.

Health evidence: a report's ``running`` entries (observed digests, ready or not) are folded into
``worker.promotionstore`` and, when a promotion pipeline listens to the agent, one
``evaluate_promotions`` job is queued (the web only enqueues; the worker decides).

Must not: import anything of the worker but ``worker.store`` and ``worker.promotionstore``
(.importlinter).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from flask import Blueprint, Response, request
from pydantic import ValidationError

from bumper import rqjobs
from bumper.core import agentreport
from bumper.web.agentauth import identify
from bumper.web.recent import record_outcome
from bumper.web.replies import error_reply, json_reply
from bumper.web.state import WebState, state
from worker import store as store_module
from worker.promotionstore import PromotionStore

log = logging.getLogger("bumper.web.agents")
blueprint = Blueprint("agents", __name__)

# The name refused agent reports are listed under with the refused requests.
REFUSED_LABEL = "_agents"


@blueprint.post(agentreport.PATH)
def report() -> Response:
    st = state()
    header = request.headers.get("Authorization")
    if not header:
        return _refused(st, 401, "missing-credential", "send Authorization: Bearer <agent token>")
    agent = identify(header, st.agents)
    if agent is None:
        return _refused(st, 403, "bad-token", "the token is no agent's")
    parsed = _read_report()
    if isinstance(parsed, Response):
        log.info("agent report refused", extra={"agent": agent, "status": parsed.status_code})
        return parsed
    records = [{**r.model_dump(), "agent": agent} for r in parsed.bad_images]
    try:
        store = store_module.Store(st.redis)
        if not store.mark_bad_images(records):
            return error_reply(507, "store-full", "too many bad-image records are stored")
        if parsed.status is not None:
            # stamped here: the dashboard shows the time since the report and since the sync
            reported = {**parsed.status.model_dump(), "reported_at": time.time()}
            store.record_agent_status(agent, reported)
        if parsed.running:
            _record_health(st, agent, parsed.running)
    except redis.RedisError as error:
        log.warning("agent report not stored", extra={"exception": type(error).__name__})
        retry = str(st.settings.web.retry_after_seconds)
        return error_reply(
            503, "redis-unavailable", "store unavailable, retry later", Retry_After=retry
        )
    health = parsed.status.health if parsed.status else None
    log.info("agent report", extra={"agent": agent, "bad_images": len(records), "health": health})
    return json_reply(200, {"status": "recorded", "agent": agent, "bad_images": len(records)})


def _record_health(st: WebState, agent: str, running: list[agentreport.Running]) -> None:
    """Fold the report's ``running`` into the agent's health evidence (stamped with the web's
    clock, never the agent's) and, when a pipeline listens to this agent, queue one
    evaluation (``worker.jobs.evaluate_promotions``) unless one is already queued."""
    now = time.time()
    PromotionStore(st.redis).record_running(agent, [r.model_dump() for r in running], now)
    pipelines = st.config.pipelines if st.config is not None else []
    if not any(env.agent == agent for p in pipelines for env in p.environments):
        return
    if PromotionStore(st.redis).mark_pending(ttl=300):
        queue = rqjobs.queue(st.settings.queue_name, st.redis)
        queue.enqueue(
            rqjobs.EVALUATE_PROMOTIONS,
            f"report-{agent}",
            job_id=f"promotion-report-{int(now * 1000)}",
            result_ttl=60,
            failure_ttl=3600,
            description=f"evaluate promotions (report of {agent})",
        )


def _read_report() -> agentreport.Report | Response:
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json":
        return error_reply(415, "unsupported-media-type", "expected application/json")
    limit = agentreport.MAX_BODY_BYTES
    declared = request.content_length
    body = None if declared is not None and declared > limit else _read_at_most(limit)
    if body is None:
        return error_reply(413, "body-too-large", f"the body exceeds {limit} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return error_reply(400, "malformed", "the body is not JSON")
    try:
        return agentreport.Report.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])[:200] or "report"
        return error_reply(400, "invalid-report", f"{where}: {first['msg']}")


def _read_at_most(limit: int) -> bytes | None:
    """The body, or None past ``limit`` bytes (reading at most one byte more)."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = request.stream.read(limit + 1 - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(parts)


def _refused(st: WebState, status: int, reason: str, message: str) -> Response:
    log.warning("agent report refused", extra={"status": status, "result": reason})
    record_outcome(st, REFUSED_LABEL, status, reason, None, authenticated=False)
    return error_reply(status, reason, message)


def dashboard_view(st: WebState, limit: int) -> dict[str, Any]:
    """What the dashboard shows of the agents: each one's last health, the newest bad images.
    Raises ``redis.RedisError`` like the dashboard's other reads."""
    store = store_module.Store(st.redis)
    return {
        "agents": sorted(store.agent_statuses().items()),
        "bad_images": store.recent_bad_images(limit),
        "configured": sorted(agent.name for agent in st.agents),
    }
