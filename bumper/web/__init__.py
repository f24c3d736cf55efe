"""The web process: webhook intake and the agents' reports on the public listener; health,
metrics and a small dashboard on the operations listener (``listeners``).

It only accepts and enqueues (and records the agents' reports through the worker's store);
the worker does the work. ``create_app`` is the factory
(``gunicorn "bumper.web:create_app()"``). Importing this package has no side effects and does
not import Flask or prometheus_client yet: ``gunicorn_conf`` must set the Prometheus
multiprocess directory before prometheus_client is first imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bumper.core.config import BumperConfig
    from bumper.settings import Settings


def create_app(settings: Settings | None = None, config: BumperConfig | None = None) -> Flask:
    """Build the Flask app; see ``bumper.web.app.create_app``.

    Called without arguments (gunicorn's ``bumper.web:create_app()``), a configuration error
    ends the process with one line and exit 2: gunicorn would print the factory's traceback."""
    from bumper.web import app

    if settings is not None or config is not None:
        return app.create_app(settings, config)
    return app.start()
