"""What every request of the web process reads: the ``WebState`` built once by ``create_app``.

Kept apart from the app factory so that views (``hooks``, ``ops``, ``dashboard``) can read it
without importing the factory that registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis
from flask import current_app

from bumper.core.config import BumperConfig
from bumper.settings import Settings
from bumper.web import receivers as receivers_module
from bumper.web.agentauth import AgentToken
from bumper.web.intake import Intake
from bumper.web.metrics import WebMetrics


@dataclass
class WebState:
    """Everything a request needs, built once by ``create_app``."""

    settings: Settings
    receivers: dict[str, receivers_module.ReceiverEndpoint]
    redis: redis.Redis
    intake: Intake
    metrics: WebMetrics
    agents: tuple[AgentToken, ...] = ()  # who may POST /agent/v1/reports
    config: BumperConfig | None = None  # the rules and targets the dashboard lists


def state() -> WebState:
    return cast(WebState, current_app.extensions["bumper"])
