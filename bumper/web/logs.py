"""JSON log lines for the web process (one object per line, on stderr).

``JsonFormatter`` turns a record into ``{"time", "level", "logger", "message", ...extra}``;
values passed with ``extra=`` (receiver, delivery_id, status...) become top-level keys.
Callers never pass headers, bodies or secrets; exception tracebacks are not rendered (an
exception is logged by type only) so that no payload or secret can reach the log through a
stack frame. ``LOGCONFIG`` is the ``logging.config.dictConfig`` used by ``gunicorn_conf``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any

from gunicorn import glogging

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        line: dict[str, Any] = {
            "time": f"{utc_second(seconds)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key[0] != "_":
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return _dumps(line)


@functools.lru_cache(maxsize=4)
def utc_second(seconds: int) -> str:
    """``2026-11-27T06:06:57`` for a Unix time: one strftime per second, not per line or job."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


# One encoder for every line: ``json.dumps`` with options builds a new one per call.
_dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode


LOGCONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "bumper.web.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # gunicorn's access log would print request lines, which may carry ?token=: keep it off
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


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
