"""The web process's logging: ``bumper.logs``'s lines under gunicorn.

``logconfig`` is the ``logging.config.dictConfig`` that ``gunicorn_conf`` hands to gunicorn:
``bumper.logs``'s one format (JSON unless stderr is a terminal or ``BUMPER_LOG__FORMAT`` says
otherwise), plus gunicorn's own loggers; ``LOGCONFIG`` is it with JSON forced.
``GunicornLogger`` skips the access-log work while the access log is off. ``HideTargets``
takes request targets out of gunicorn's own lines: gunicorn quotes a malformed request line
in its warning, and a request line can carry a receiver's URL token (``?token=`` or
``/hooks/<name>/<token>``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn import glogging

from bumper import logs
from bumper.settings import LogSettings


def logconfig(settings: LogSettings) -> dict[str, Any]:
    config = logs.dict_config(settings)
    config.setdefault("filters", {})["hide_targets"] = {"()": HideTargets}
    config["loggers"].update(
        {
            "gunicorn.error": {
                "level": "INFO",
                "handlers": ["stderr"],
                "propagate": False,
                "filters": ["hide_targets"],
            },
            # gunicorn's access log would print request lines, which may carry ?token=: off
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        }
    )
    return config


# A path after whitespace or a quote ("GET /hooks/gh/<token>"), the path of an absolute URI
# ("http://host/hooks/..."), a query: each up to the next whitespace (quotes included: a token
# may hold one). "HTTP/1.1", "unix:/run/x.sock" and "http://127.0.0.1:8000" (the listening
# address) stay.
_TARGET = re.compile(r"(?<![\w:/.~-])/\S*|(?<=://)([^/\s]*)/\S*|\?\S*")


def hide_targets(text: str) -> str:
    """``text`` with every request target replaced by ``/…`` (a bare query by ``?…``)."""
    return _TARGET.sub(_hidden, text)


def _hidden(match: re.Match[str]) -> str:
    if match.group(0).startswith("?"):
        return "?…"
    return (match.group(1) or "") + "/…"


class HideTargets(logging.Filter):
    """Rewrites each of gunicorn's lines with ``hide_targets``, arguments included."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = hide_targets(record.getMessage())
        record.args = None
        return True


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
