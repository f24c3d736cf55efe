"""The Flask app factory: settings, receivers, Redis and metrics wired once per process.

Nothing happens at import. ``create_app`` reads settings and ``bumper.yaml`` (unless given),
resolves every receiver's secret, and creates (without connecting) the Redis client; the
first request opens the connection. Every error reply is JSON
``{"error": reason, "message": ...}``; no view lets a traceback reach a client.

Two Flask apps share that state: the public one (webhooks, probes), which ``create_app``
returns, and the operations one (dashboard, ``/metrics``), served only on the ops listener
(``bumper.web.listeners``, which explains why).
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Flask, Response
from werkzeug.exceptions import HTTPException

from bumper import configcheck, configfile, redisconn, redisready
from bumper import settings as settings_module
from bumper.core.config import BumperConfig
from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import agentauth, agents, dashboard, hooks, listeners, ops, pollmetrics, replicas
from bumper.web import receivers as receivers_module
from bumper.web.intake import Intake
from bumper.web.metrics import WebMetrics
from bumper.web.replies import error_reply
from bumper.web.state import WebState

log = logging.getLogger("bumper.web")


def make_redis(settings: Settings) -> redis.Redis:
    """A client that fails fast: an outage or a failover in progress must become a 503 with
    ``Retry-After`` quickly, not a hung worker (``bumper.redisconn``, ``Role.WEB``)."""
    return redisconn.connect(settings, redisconn.Role.WEB)


def create_app(settings: Settings | None = None, config: BumperConfig | None = None) -> Flask:
    settings = settings if settings is not None else settings_module.load()
    if config is None:
        config = configfile.load(settings.config_file)
    receivers = receivers_module.load_receivers(
        config, base=settings.config_dir(), dedup_window=settings.web.dedup_window_seconds
    )
    agent_tokens = agentauth.load_agents(config, base=settings.config_dir(), receivers=receivers)
    client = make_redis(settings)
    intake = Intake(client, settings.queue_name, settings.web, settings.worker.job_timeout_seconds)
    metrics = WebMetrics(settings.queue_name, intake.queue_depth, client)
    metrics.add_collector(pollmetrics.PollCollector(client))

    st = WebState(settings, receivers, client, intake, metrics, agent_tokens, config)
    app = _flask_app(st, hooks.blueprint, ops.probes, agents.blueprint)
    hooks.install_fast_path(app, st)
    operations = _flask_app(st, ops.blueprint, dashboard.blueprint)
    listeners.install(app, operations, settings.web.ops_bind)
    log.info(
        "web app ready",
        extra={
            "receivers": sorted(receivers),
            "agents": sorted(agent.name for agent in agent_tokens),
            "queue": settings.queue_name,
            "ops_bind": settings.web.ops_bind or None,
        },
    )
    return app


def start() -> Flask:
    """The app gunicorn serves: settings, the web process' checks of bumper.yaml
    (``bumper.configcheck``: file, line, key and fix of the first problem) and a look at Redis.
    A configuration error is logged as one line and ends the process with exit 2; Redis down
    is not one (the receivers answer 503 until it is back), a refused password is."""
    try:
        settings = settings_module.load()
        config = configcheck.startup(settings.config_file, "web")
        try:
            redisready.ping(make_redis(settings), settings.redis_url)
        except redis.RedisError as error:
            log.warning(
                "Redis at %s does not answer (%s): webhooks get 503 until it does",
                redisready.redacted(settings.redis_url),
                type(error).__name__,
            )
        return create_app(settings, config)
    except ConfigError as error:
        log.error("cannot start: %s", error)
        raise SystemExit(2) from None


def _flask_app(st: WebState, *blueprints: Blueprint) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = st.settings.web.max_body_bytes
    app.extensions["bumper"] = st
    app.before_request(replicas.start_heartbeat)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    reason = (error.name or "error").lower().replace(" ", "-")
    return error_reply(status, reason, error.description or reason)


def _unexpected_error(error: Exception) -> Response:
    # Outside /hooks (which handles its own failures): answer JSON, log the type only.
    log.error("unexpected error", extra={"exception": type(error).__name__})
    return error_reply(503, "internal-error", "temporary failure, retry later")
