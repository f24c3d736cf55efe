"""Operations endpoints: ``/healthz`` (the process), ``/readyz`` (Redis), ``/metrics``."""

from __future__ import annotations

import redis
from flask import Blueprint, Response

from bumper.web.metrics import CONTENT_TYPE
from bumper.web.replies import error_reply, json_reply
from bumper.web.state import state

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. Never touches Redis (a Redis outage must not restart us)."""
    return json_reply(200, {"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready to accept deliveries: Redis serves data commands (``LLEN`` of the queue).

    Not ready while Redis is unreachable, or still loading its AOF after a restart (it answers
    ``LOADING`` then, and deliveries get 503 too).
    """
    st = state()
    try:
        depth = st.intake.queue_depth()
    except redis.RedisError:
        retry = str(st.settings.web.retry_after_seconds)
        return error_reply(503, "redis-unavailable", "Redis is not serving", Retry_After=retry)
    return json_reply(
        200, {"status": "ready", "receivers": sorted(st.receivers), "queue_depth": depth}
    )


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(state().metrics.render(), mimetype=None, content_type=CONTENT_TYPE)
