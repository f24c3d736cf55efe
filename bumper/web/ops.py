"""Operations endpoints: ``/healthz`` (the process), ``/readyz`` (Redis), ``/metrics``."""

from __future__ import annotations

import redis
from flask import Blueprint, Response

from bumper.web.app import error_reply, json_reply, state
from bumper.web.metrics import CONTENT_TYPE

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. Never touches Redis (a Redis outage must not restart us)."""
    return json_reply(200, {"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready to accept deliveries: Redis answers PING."""
    st = state()
    try:
        st.redis.ping()
    except redis.RedisError:
        retry = str(st.settings.web.retry_after_seconds)
        return error_reply(503, "redis-unavailable", "Redis does not answer", Retry_After=retry)
    return json_reply(200, {"status": "ready", "receivers": sorted(st.receivers)})


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(state().metrics.render(), mimetype=None, content_type=CONTENT_TYPE)
