"""The dashboard's routes. Each panel renders from ``model`` alone, in the full page and as a
fragment (``/panels/<name>``) that the page's script fetches every few seconds, so the page
updates in place; without JavaScript, reloading the page shows the same.

Filters are query parameters: ``image``, ``rule``, ``outcome`` and ``page`` for the decisions.
The retry button POSTs ``/jobs/<id>/retry`` with the CSRF token (``csrf``) and calls
``worker.retry.retry``, the same function as ``bumper retry ID``.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis
from flask import Blueprint, Response, abort, render_template, request

from bumper.errors import NotRetryable
from bumper.web import agents, recent
from bumper.web.dashboard import csrf, model
from bumper.web.state import WebState, state
from worker import retry as retry_module

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
blueprint.after_app_request(csrf.remember)
_BAD_IMAGES_SHOWN = 20
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_OUTCOMES = ("accepted", "rejected", "held", "ambiguous")


def _activity(st: WebState) -> dict[str, Any]:
    """Queue depth, receivers, recent and refused deliveries, agents and bad images."""
    keep = st.settings.web.recent_deliveries
    entries = recent.read(st.redis, keep)
    refused = recent.read(st.redis, keep, recent.REFUSED_KEY)
    for entry in entries + refused:
        stamp = entry.get("time")
        entry["when"] = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
            if isinstance(stamp, int | float)
            else "?"
        )
    fleet = agents.dashboard_view(st, _BAD_IMAGES_SHOWN)
    return {
        "depth": st.intake.queue_depth(),
        "entries": entries,
        "results": sorted(Counter(str(e.get("result")) for e in entries).items()),
        "refused": refused,
        "refused_results": sorted(Counter(str(e.get("result")) for e in refused).items()),
        "agents": fleet["agents"],
        "agents_configured": fleet["configured"],
        "bad_images": fleet["bad_images"],
    }


def _filters() -> dict[str, Any]:
    outcome = request.args.get("outcome") or None
    try:
        page = max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    return {
        "image": (request.args.get("image") or "")[:300] or None,
        "rule": (request.args.get("rule") or "")[:100] or None,
        "outcome": outcome if outcome in _OUTCOMES else None,
        "page": page,
    }


def _decisions(st: WebState) -> dict[str, Any]:
    return {"decisions": model.decision_page(st, **_filters())}


PANELS: dict[str, Callable[[WebState], dict[str, Any]]] = {
    "activity": _activity,
    "images": lambda st: {"rows": model.images(st)},
    "jobs": lambda st: {"jobs": model.jobs(st)},
    "processes": lambda st: {"procs": model.processes(st)},
    "polling": lambda st: {"polling": model.polling(st)},
    "promotions": lambda st: {"pipelines": model.promotions(st)},
    "decisions": _decisions,
}


def _context(st: WebState, names: list[str]) -> dict[str, Any]:
    """What the templates need for ``names``' panels; ``redis_ok`` False if Redis failed."""
    context: dict[str, Any] = {
        "redis_ok": True,
        "queue": st.settings.queue_name,
        "receivers": sorted(st.receivers.values(), key=lambda r: r.name),
        "rules": sorted(rule.name for rule in st.config.images) if st.config else [],
        "filters": _filters(),
        "outcomes": _OUTCOMES,
        "csrf": csrf.token(),
    }
    try:
        for name in names:
            context.update(PANELS[name](st))
    except redis.RedisError:
        context["redis_ok"] = False
    return context


def _html(template: str, **context: Any) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/")
def index() -> Response:
    st = state()
    return _html("dashboard/index.html", **_context(st, list(PANELS)))


@blueprint.get("/panels/<name>")
def panel(name: str) -> Response:
    if name not in PANELS:
        abort(404)
    st = state()
    context = _context(st, [name])
    response = _html(f"dashboard/_{name}.html", **context)
    if not context["redis_ok"]:  # the fragment replaces the panel: it says so itself
        note = b'<p class="bad"><strong>Redis unreachable</strong>: empty until it returns.</p>'
        response.set_data(note + response.get_data())
    return response


@blueprint.get("/events/<path:delivery_id>")
def event(delivery_id: str) -> Response:
    st = state()
    context = _context(st, [])
    try:
        context["detail"] = model.event(st, delivery_id[:300])
    except redis.RedisError:
        context["redis_ok"] = False
    return _html("dashboard/event.html", delivery_id=delivery_id[:300], **context)


@blueprint.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> Response:
    if not csrf.valid():
        return _outcome(403, "refused: the form's CSRF token is missing or wrong; reload the page")
    if not _JOB_ID.match(job_id):
        return _outcome(400, "not a job id")
    st = state()
    try:
        done = retry_module.retry(
            st.redis, job_id, by="dashboard", crash_retries=st.settings.worker.crash_retries
        )
    except NotRetryable as error:
        return _outcome(409, str(error))
    except redis.RedisError:
        return _outcome(503, "Redis unreachable: nothing was retried")
    return _outcome(200, done.message)


def _outcome(status: int, message: str) -> Response:
    response = _html("dashboard/retried.html", message=message, ok=status == 200)
    response.status_code = status
    return response
