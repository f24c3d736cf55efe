"""Web replicas' heartbeats, for the dashboard's processes panel.

Each web process (each gunicorn worker, on every replica) starts one daemon thread on its
first request, which writes ``host:pid`` → ``{host, pid, started, seen}`` into the hash
``REPLICAS`` every ``BEAT_SECONDS``. The dashboard shows a replica as live while its ``seen``
is recent, and drops entries silent for ``FORGET_SECONDS``. Best effort: a Redis error skips
a beat. Started lazily, after gunicorn forked (``preload_app``: a thread started in the
master would not survive the fork).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any, cast

import redis

from bumper.web.state import state

REPLICAS = "bumper:web:replicas"
BEAT_SECONDS = 10.0
LIVE_SECONDS = 3 * BEAT_SECONDS
FORGET_SECONDS = 3600.0

log = logging.getLogger("bumper.web")
_started_in: int | None = None
_lock = threading.Lock()


def start_heartbeat() -> None:
    """``before_request``: start this process's heartbeat thread once."""
    global _started_in
    if _started_in == os.getpid():
        return
    with _lock:
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
        client = state().redis
        threading.Thread(target=_beat_forever, args=(client,), daemon=True).start()


def _beat_forever(client: redis.Redis) -> None:
    field = f"{socket.gethostname()}:{os.getpid()}"
    started = time.time()
    while True:
        beat(client, field, started)
        time.sleep(BEAT_SECONDS)


def beat(client: redis.Redis, field: str, started: float) -> None:
    host, _, pid = field.rpartition(":")
    entry = {"host": host, "pid": pid, "started": started, "seen": time.time()}
    try:
        client.hset(REPLICAS, field, json.dumps(entry))
    except redis.RedisError as error:
        log.debug("heartbeat skipped", extra={"exception": type(error).__name__})


def read(client: redis.Redis) -> list[dict[str, Any]]:
    """Every replica heard from within ``FORGET_SECONDS`` (older ones are removed), with
    ``live``: heard from within ``LIVE_SECONDS``. Newest first."""
    now = time.time()
    replicas: list[dict[str, Any]] = []
    for field, raw in cast(dict[bytes, bytes], client.hgetall(REPLICAS)).items():
        try:
            entry = json.loads(raw)
            seen = float(entry["seen"])
        except (ValueError, KeyError, TypeError):
            client.hdel(REPLICAS, field)
            continue
        if now - seen > FORGET_SECONDS:
            client.hdel(REPLICAS, field)
            continue
        replicas.append({**entry, "name": field.decode(), "live": now - seen <= LIVE_SECONDS})
    replicas.sort(key=lambda r: float(r["seen"]), reverse=True)
    return replicas
