"""The web process's logging: ``bumper.logs``'s lines under gunicorn.

``logconfig`` is the ``logging.config.dictConfig`` that ``gunicorn_conf`` hands to gunicorn:
``bumper.logs``'s one format (JSON unless stderr is a terminal or ``BUMPER_LOG__FORMAT`` says
otherwise), plus gunicorn's own loggers; ``LOGCONFIG`` is it with JSON forced.
``GunicornLogger`` skips the access-log work while the access log is off.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import glogging

from bumper import logs
from bumper.settings import LogSettings


def logconfig(settings: LogSettings) -> dict[str, Any]:
    config = logs.dict_config(settings)
    config["loggers"].update(
        {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # gunicorn's access log would print request lines, which may carry ?token=: off
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        }
    )
    return config


LOGCONFIG: dict[str, Any] = logconfig(LogSettings(format="json"))


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, minus the access-log work when the access log is off.

    gunicorn builds a request's log atoms (a dozen string operations) whenever a logging
    config is given, even though ``gunicorn.access`` above drops every record: measurable on
    the webhook path. Checking the logger first skips it; turning the access log on in a
    logging config still works.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
