"""This process's id, read once and again in the child of each ``os.fork``.

``os.getpid()`` is a system call (0.2 µs here) and the receiver asked for it five times per
delivery: prometheus_client's file-backed values check it on every write, so that a forked
worker never writes into its parent's files, and ``intake.ThreadConnections`` checks it before
each Redis command, so that a worker never shares its parent's socket. ``pid`` answers from a
variable that ``os.register_at_fork`` refreshes in every child (gunicorn forks its workers with
``os.fork``; ``multiprocessing``'s fork start method does too).

Must not: be trusted in a process whose children are forked by C code calling ``fork(2)``
itself, which skips Python's fork hooks (none does in the web process).
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def pid() -> int:
    """``os.getpid()`` without the system call."""
    return _pid


def use_for_metric_files() -> None:
    """Have prometheus_client's file-backed values ask ``pid`` rather than ``os.getpid``.

    Call once ``PROMETHEUS_MULTIPROC_DIR`` is set and before any metric is made
    (``gunicorn_conf``): values made by the library's own class before the switch would map the
    same per-process file through a second ``MmapedDict``, and the two would write over each
    other's new entries. Without the directory (single process) it does nothing.
    """
    from prometheus_client import values

    if values.ValueClass is not values.MutexValue:
        values.ValueClass = values.MultiProcessValue(process_identifier=pid)  # type: ignore[no-untyped-call]
