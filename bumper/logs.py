"""One log format for every process (web, worker, agent): one line per record, on stderr.

JSON (``JsonFormatter``): ``{"time", "level", "logger", "message", ...context, ...extra}``.
``time`` is UTC to the millisecond (``2026-11-27T06:06:57.123Z``), ``level`` lower case. Context
fields are bound for a stretch of work with ``context(job_id=..., delivery_id=...)``: the
worker binds the RQ job id and the deliveries a job serves, so ``grep <delivery id>`` follows
one webhook from the receiver's ``delivery`` line to the commit. Values passed with ``extra=``
become top-level keys too (and win over context fields of the same name).

Text (``TextFormatter``): the same fields as a readable line, chosen when stderr is a terminal
(``BUMPER_LOG__FORMAT=auto``, the default) or forced with ``text``; ``json`` forces JSON.

Callers never pass headers, bodies or secrets. Tracebacks are not rendered (an exception is
logged by its type only), so no payload or secret can reach a log through a stack frame.

Must not: import anything but the stdlib (the agent imports it), or do per-record work the
web's hot path would feel (bench/ingest.py): one encoder, one strftime per second.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import logging.config
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bumper.settings import LogSettings

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "bumper_log_context", default=types.MappingProxyType({})
)


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged in this thread/task until the block ends."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**fields: Any) -> None:
    """Add ``fields`` to the current ``context`` block (they end with it)."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


def add_fields(line: dict[str, Any], record: logging.LogRecord) -> dict[str, Any]:
    """``line`` plus the record's context and ``extra=`` fields (in that order)."""
    bound = _CONTEXT.get()
    if bound:
        line.update(bound)
    for key, value in vars(record).items():
        if key not in _STANDARD and key[0] != "_":
            line[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        line["exception"] = record.exc_info[0].__name__
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": stamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return _dumps(add_fields(line, record))


class TextFormatter(logging.Formatter):
    """``06:06:57.123 INFO  bumper.worker: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{key}={_text(value)}" for key, value in add_fields({}, record).items())
        head = f"{stamp(record)[11:-1]} {record.levelname:<5} {record.name}: {record.getMessage()}"
        return f"{head} {extra}" if extra else head


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value and " " not in value else _dumps(value)


def stamp(record: logging.LogRecord) -> str:
    """``2026-11-27T06:06:57.123Z``: the record's time in UTC, to the millisecond."""
    return f"{utc_second(int(record.created))}.{int(record.msecs):03d}Z"


if sys.version_info >= (3, 13):

    def _now_stamp() -> str:
        """``stamp`` of a record made now: 3.13's ``LogRecord`` reads ``time.time_ns()``."""
        ns = time.time_ns()
        return f"{utc_second(int(ns / 1e9))}.{(ns % 1_000_000_000) // 1_000_000:03d}Z"

else:

    def _now_stamp() -> str:
        """``stamp`` of a record made now, with ``LogRecord``'s arithmetic (gh-89047)."""
        now = time.time()
        return f"{utc_second(int(now))}.{int((now - int(now)) * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def utc_second(seconds: int) -> str:
    """``2026-11-27T06:06:57`` for a Unix time: one strftime per second, not per line or job."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def compact_json(default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(",", ":"), default=default).encode``, built once.

    ``JSONEncoder.encode`` builds a new C encoder and a dict of the containers it is inside on
    every call: a third of the time of a log line. The text and the errors are the same: the
    C encoder is made without the circular-reference check, so a value that contains itself
    (or is nested too deeply) ends in ``RecursionError``, and ``JSONEncoder.encode`` then
    raises what it always did (``ValueError`` for a cycle). Used for log lines, the receiver's
    replies and job data (``bumper.web.replies``, ``bumper.rqjobs``).
    """
    encoder = json.JSONEncoder(separators=(",", ":"), default=default)
    # The C accelerator's encoder (``JSONEncoder.iterencode`` builds one per call); typeshed
    # does not declare it.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python built without the C accelerator
        return encoder.encode
    chunks = make(
        None,
        encoder.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def encode(value: Any) -> str:
        try:
            return "".join(chunks(value, 0))
        except RecursionError:
            return encoder.encode(value)

    return encode


# One encoder for every line.
_dumps = compact_json(default=str)


# Loggers of RQ, quiet unless ``BUMPER_LOG__RQ_LEVEL`` asks (INFO prints a line per job).
RQ_LOGGERS = ("rq", "rq.worker", "rq.job", "rq.queue", "rq.scheduler", "rq.registry")


def formatter_for(format: str, stream: TextIO) -> str:
    """``json`` or ``text`` for a ``LogSettings.format`` writing to ``stream``."""
    if format == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if isatty is not None and isatty() else "json"
    return format


def dict_config(
    settings: LogSettings, *, level: str | None = None, stream: TextIO | None = None
) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a process; ``level`` (a flag) overrides settings."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "bumper.logs.JsonFormatter"},
            "text": {"()": "bumper.logs.TextFormatter"},
        },
        "handlers": {
            "stderr": _handler(formatter_for(settings.format, stream or sys.stderr), stream)
        },
        "root": {"level": (level or settings.level).upper(), "handlers": ["stderr"]},
        "loggers": {name: {"level": settings.rq_level.upper()} for name in RQ_LOGGERS},
    }


def _handler(formatter: str, stream: TextIO | None) -> dict[str, Any]:
    if stream is None:
        return {"class": "bumper.logs.StderrHandler", "formatter": formatter}
    return {"class": "logging.StreamHandler", "formatter": formatter, "stream": stream}


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes each record to ``sys.stderr`` as it is when the record is emitted.

    A handler bound to the ``sys.stderr`` of the moment it was configured keeps writing to that
    object after it is replaced and closed (a program running ``bumper.cli.main`` in-process
    with its stderr redirected, a test capture), and every later record then fails with
    ``ValueError: I/O operation on closed file``. The stdlib's last-resort handler does the same.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        """``StreamHandler.emit`` without its second lock round for ``flush``: ``handle``
        already holds the lock, and the receiver logs a line per delivery."""
        try:
            self.write_line(self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """``text`` and the terminator to the current ``sys.stderr``, flushed; the caller holds
        the lock (``emit``, ``info_line``)."""
        stream = sys.stderr
        stream.write(text + self.terminator)
        if hasattr(stream, "flush"):
            stream.flush()


def info_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """``logger.info(message, extra=fields)``, written straight to stderr when that is the same.

    For the receiver's line per delivery (bench/ingest.py): making a ``LogRecord``, walking the
    handlers and reading the record back into a dict cost as much as the line itself. The line
    is written directly only when logging would write exactly it: no filter on the way, and a
    ``StderrHandler`` with a ``JsonFormatter`` as the one handler the record reaches (the web
    process's ``dictConfig``). Anything else (pytest's capture, text lines, another handler, a
    record factory, a field a ``LogRecord`` would refuse or hide) goes through ``logger.info``.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _json_stderr_handler(logger)
    if handler is None or not _plain(fields):
        logger.info(message, extra=fields)
        return
    line: dict[str, Any] = {
        "time": _now_stamp(),
        "level": logging.getLevelName(logging.INFO).lower(),
        "logger": logger.name,
        "message": message,
    }
    bound = _CONTEXT.get()
    if bound:
        line.update(bound)
    line.update(fields)
    handler.acquire()
    try:
        handler.write_line(_dumps(line))
    except RecursionError:
        raise
    except Exception:
        handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, message, (), None))
    finally:
        handler.release()


def _json_stderr_handler(logger: logging.Logger) -> StderrHandler | None:
    """The handler a record of ``logger`` would reach when it is the only one, writes JSON to
    stderr, and nothing on the way filters; else None."""
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or handler.level > logging.INFO:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if (
        type(found) is not StderrHandler
        or found.filters
        or type(found.formatter) is not JsonFormatter
    ):
        return None
    return found


def _plain(fields: dict[str, Any]) -> bool:
    """No key a ``LogRecord`` refuses (``message``...) or ``JsonFormatter`` leaves out (``_x``)."""
    if _PLAIN_KEYS.issuperset(fields):  # the keys of one call site: a fifth of the checks' time
        return True
    for key in fields:
        if key in _STANDARD or key[:1] == "_":
            return False
    if len(_PLAIN_KEYS) < 1024:
        _PLAIN_KEYS.update(fields)
    return True


# Keys ``_plain`` found plain: they come from the code, a few dozen names.
_PLAIN_KEYS: set[str] = set()


def configure(
    settings: LogSettings, *, level: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up the process's logging (``bumper worker``, ``bumper agent``; gunicorn for web)."""
    logging.config.dictConfig(dict_config(settings, level=level, stream=stream))
