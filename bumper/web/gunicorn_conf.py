"""gunicorn configuration for the web process: ``gunicorn -c python:bumper.web.gunicorn_conf``.

Values come from ``bumper.settings`` (``BUMPER_WEB__*``); gunicorn's own command-line flags
still override them. It also:

- points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker imports
  prometheus_client, so ``/metrics`` adds up every worker (a dead worker's files are marked
  in ``child_exit``); an operator-provided directory is used as is and emptied at start;
- logs JSON lines (``bumper.web.logs``) and keeps gunicorn's access log off, because request
  lines can carry a receiver's URL token.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

from bumper import settings as settings_module
from bumper.web.logs import LOGCONFIG

_settings = settings_module.load()
_web = _settings.web

bind = [_web.bind]
workers = _web.workers or multiprocessing.cpu_count() * 2 + 1
threads = _web.threads
worker_class = "gthread" if _web.threads > 1 else "sync"
timeout = _web.timeout_seconds
graceful_timeout = _web.timeout_seconds
keepalive = 5
accesslog = None
errorlog = "-"
logconfig_dict = LOGCONFIG
# Workers build their own app (and Redis pool) after the fork.
preload_app = False

_PROM_ENV = "PROMETHEUS_MULTIPROC_DIR"
if not os.environ.get(_PROM_ENV):
    os.environ[_PROM_ENV] = tempfile.mkdtemp(prefix="bumper-prometheus-")


def on_starting(server: Any) -> None:
    # Stale files from a previous run would resurrect old counters.
    for stale in Path(os.environ[_PROM_ENV]).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
