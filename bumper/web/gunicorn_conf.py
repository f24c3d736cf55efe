"""gunicorn configuration for the web process: ``gunicorn -c python:bumper.web.gunicorn_conf``.

Values come from ``bumper.settings`` (``BUMPER_WEB__*``); gunicorn's own command-line flags
still override them. It also:

- points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory (removed at exit) before any worker
  imports prometheus_client, so ``/metrics`` adds up every worker (a dead worker's files are marked
  in ``child_exit``); an operator-provided directory is used as is and emptied at start; the
  values' files are named by ``bumper.web.procid``'s pid (no system call per write);
- logs in ``bumper.logs``'s one format (``bumper.web.logs``) and keeps gunicorn's access log
  off, because request lines can carry a receiver's URL token;
- warns once when Redis' persistence settings weaken the 202 (``when_ready``, docs/redis.md);
- binds ``BUMPER_WEB__OPS_BIND`` too, the operations listener (``bumper.web.listeners``);
- pins each worker to one CPU (``BUMPER_WEB__PIN_WORKERS``, on by default; see ``pre_fork``);
- serves with ``bumper.web.serving``'s worker: each request is read whole, within the header
  and body deadlines, before a thread runs the app, and connections are bounded per worker;
  the open-files limit is raised to fit them.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bumper import logs
from bumper import settings as settings_module
from bumper.errors import ConfigError
from bumper.web import logs as web_logs
from bumper.web import procid, serving

# Logging first, so that a deprecation warning while loading the settings is a proper line.
try:
    logs.configure(settings_module.load_log())
    _settings = settings_module.load()
except ConfigError as _error:
    # One line and exit 2, where gunicorn would print the traceback of its config module.
    logging.getLogger("bumper.web").error("cannot start: %s", _error)
    raise SystemExit(2) from None
_web = _settings.web

bind = [_web.bind]
# The operations listener (dashboard, /metrics): the app tells it apart by the connection's
# local port (bumper.web.listeners).
if _web.ops_bind:
    bind.append(_web.ops_bind)
workers = _web.worker_count(multiprocessing.cpu_count())
threads = _web.threads
timeout = _web.timeout_seconds
graceful_timeout = _web.timeout_seconds
keepalive = 5
worker_connections = _web.max_connections
worker_class = serving.worker_class(
    serving.FrontLimits(
        header_timeout=_web.header_timeout_seconds,
        body_timeout=_web.body_timeout_seconds,
        keepalive=keepalive,
        max_connections=_web.max_connections,
        buffer_bytes=_web.buffer_bytes,
        max_body_bytes=_web.max_body_bytes,
    )
)
# Each worker holds up to max_connections sockets, plus Redis, metrics files and the listener.
serving.raise_open_files_limit(
    _web.max_connections + 128, logging.getLogger("bumper.web.serving").warning
)
accesslog = None
errorlog = "-"
logconfig_dict = web_logs.logconfig(_settings.log)
logger_class = "bumper.web.logs.GunicornLogger"
# The app (settings, bumper.yaml, secrets) is built once in the master and forked: workers
# start at once, and a bad config stops gunicorn before it listens. The Redis pool notices
# the fork and opens new connections in each worker.
preload_app = True
# gunicorn >= 24 opens a control socket under ~/.gunicorn; the receiver does not use it, and
# several instances on one host would share the path.
control_socket_disable = True

# Per-record lookups the JSON lines never show (caller frame, thread and process names):
# skipped, as the logging docs' "Optimization" section suggests. A few µs per delivery.
logging._srcfile = None
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

_PROM_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set when the directory is made here: ours to remove at exit (an operator's is left alone).
_own_prom_dir: str | None = None
if not os.environ.get(_PROM_ENV):
    _own_prom_dir = tempfile.mkdtemp(prefix="bumper-prometheus-")
    os.environ[_PROM_ENV] = _own_prom_dir
# Before the app (and any metric) is made: the file-backed values' fork check without a system
# call per write.
procid.use_for_metric_files()
_master_pid = os.getpid()


@atexit.register
def _remove_prom_dir_if_never_served() -> None:
    # A start refused for its config (exit 2 before the arbiter runs) never reaches on_exit;
    # forked workers run atexit too, hence the pid check.
    if _own_prom_dir and os.getpid() == _master_pid:
        shutil.rmtree(_own_prom_dir, ignore_errors=True)


def on_starting(server: Any) -> None:
    # Stale files from a previous run would resurrect old counters.
    for stale in Path(os.environ[_PROM_ENV]).glob("*.db"):
        stale.unlink()


def when_ready(server: Any) -> None:
    """Warn once, in the master, when Redis' persistence settings weaken "202 means queued"
    (``bumper.redisconn.persistence_warning``); an unreachable Redis is the readiness
    probe's business, not a reason to stop."""
    from bumper import redisconn
    from bumper.errors import ConfigError

    try:
        client = redisconn.connect(_settings, redisconn.Role.CLI, timeout=2)
    except ConfigError:
        return  # the app reports it, as the workers start
    try:
        redisconn.warn_on_persistence(client, "web")
    finally:
        client.close()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    # Without this every start of the web process left a directory behind in $TMPDIR.
    if _own_prom_dir:
        shutil.rmtree(_own_prom_dir, ignore_errors=True)


# The CPUs this process may run on (a container's cpuset, taskset), read once in the master.
_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pre_fork(server: Any, worker: Any) -> None:
    """Choose the CPU for the worker about to be forked: the one with the fewest live workers.

    Why pin: a gthread worker's threads take turns on one GIL. Left to the scheduler they run
    on both cores and pass the GIL from core to core on every I/O wait (the Redis round trip,
    the reply), and the hand-offs cost more CPU than the requests: four threads calling the
    intake in one process handled 1,900 deliveries/s at 510 µs of CPU each, and 4,300/s at
    230 µs pinned to one core. Processes still run in parallel; the kernel still places
    redis-server and everything else. Runs in the master, where ``server.WORKERS`` lists the
    live workers (a replacement for a dead worker takes its CPU back).
    """
    if not _web.pins_workers(len(_cpus)):
        return
    taken = Counter(getattr(live, "bumper_cpu", None) for live in server.WORKERS.values())
    worker.bumper_cpu = min(_cpus, key=lambda cpu: (taken[cpu], cpu))


def post_fork(server: Any, worker: Any) -> None:
    cpu = getattr(worker, "bumper_cpu", None)
    if cpu is None:
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as error:  # the cpuset changed since the master read it: stay unpinned
        server.log.warning("could not pin worker to CPU %s: %s", cpu, error)
