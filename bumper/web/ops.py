"""Probes and operations endpoints.

- ``probes`` (public listener): ``/healthz`` (the process) and ``/readyz`` (Redis), answering
  only ``ok`` / ``ready`` / 503: a kubelet reaches them on the pod's address, and so can the
  internet, so they name no receiver and count nothing.
- ``blueprint`` (operations listener, ``bumper.web.listeners``): the same probes with details
  (receivers, queue depth) and ``/metrics``.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, Response

from bumper.web.metrics import CONTENT_TYPE
from bumper.web.replies import error_reply, json_reply
from bumper.web.state import state

probes = Blueprint("probes", __name__)
blueprint = Blueprint("ops", __name__)


@probes.get("/healthz")
@blueprint.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. Never touches Redis (a Redis outage must not restart us)."""
    return json_reply(200, {"status": "ok"})


@probes.get("/readyz")
def readyz() -> Response:
    """Ready to accept deliveries: Redis serves data commands (``LLEN`` of the queue).

    Not ready while Redis is unreachable, or still loading its AOF after a restart (it answers
    ``LOADING`` then, and deliveries get 503 too).
    """
    return _readiness(detailed=False)


@blueprint.get("/readyz")
def readyz_detailed() -> Response:
    """``/readyz`` with the receivers' names and the queue depth."""
    return _readiness(detailed=True)


def _readiness(*, detailed: bool) -> Response:
    st = state()
    try:
        depth = st.intake.queue_depth()
    except redis.RedisError:
        retry = str(st.settings.web.retry_after_seconds)
        return error_reply(503, "redis-unavailable", "Redis is not serving", Retry_After=retry)
    payload: dict[str, Any] = {"status": "ready"}
    if detailed:
        payload.update(receivers=sorted(st.receivers), queue_depth=depth)
    return json_reply(200, payload)


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(state().metrics.render(), mimetype=None, content_type=CONTENT_TYPE)
