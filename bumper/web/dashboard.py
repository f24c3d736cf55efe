"""``GET /`` on the operations listener: a small server-rendered page of recent deliveries,
refused requests (kept apart, see ``bumper.web.recent``), results and queue depth.

Shows only what ``bumper.web.recent`` stores (names, results, ids, event summaries) and
counts; no header, body or secret is ever available to it. Jinja autoescapes every value.
It shows the pull agents' last reported health and the newest bad images
(``bumper.web.agents``), and the newest policy decisions from ``bumper.decisions``
(``?image=`` narrows them to one image name or image rule), which hold tags, rules and
explanations only.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import redis
from flask import Blueprint, Response, render_template, request

from bumper import decisions
from bumper.web import agents, recent
from bumper.web.state import state

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
_BAD_IMAGES_SHOWN = 20


@blueprint.get("/")
def index() -> Response:
    st = state()
    entries: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    fleet: dict[str, Any] = {"agents": [], "bad_images": [], "configured": []}
    verdicts: list[dict[str, Any]] = []
    image = request.args.get("image") or None
    depth: int | None = None
    redis_ok = True
    try:
        depth = st.intake.queue_depth()
        entries = recent.read(st.redis, st.settings.web.recent_deliveries)
        refused = recent.read(st.redis, st.settings.web.recent_deliveries, recent.REFUSED_KEY)
        fleet = agents.dashboard_view(st, _BAD_IMAGES_SHOWN)
        journal = decisions.DecisionLog(st.redis, limits=st.settings.decisions)
        verdicts = journal.recent(image=image, limit=st.settings.web.recent_deliveries)
    except redis.RedisError:
        redis_ok = False
    for entry in entries + refused + verdicts:
        stamp = entry.get("time")
        entry["when"] = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
            if isinstance(stamp, int | float)
            else "?"
        )
    results = Counter(str(e.get("result")) for e in entries)
    html = render_template(
        "dashboard.html",
        entries=entries,
        results=sorted(results.items()),
        refused=refused,
        refused_results=sorted(Counter(str(e.get("result")) for e in refused).items()),
        depth=depth,
        redis_ok=redis_ok,
        queue=st.settings.queue_name,
        receivers=sorted(st.receivers.values(), key=lambda r: r.name),
        decisions=verdicts,
        image=image,
        agents=fleet["agents"],
        agents_configured=fleet["configured"],
        bad_images=fleet["bad_images"],
    )
    return Response(html, mimetype="text/html")
