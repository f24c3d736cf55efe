"""A worker is SIGKILLed (with its work horse) while its ``git push`` is on the wire.

The push request is held at the forge until the worker is dead, then let through, so the
remote has the commit its dead author never confirmed. Another worker finds the job abandoned
(``BUMPER_WORKER__ABANDONED_AFTER_SECONDS``), re-runs it, takes over the repo lock the dead run
left, and finds the change already on main: one commit, the right content.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

NAME = "kill-9-mid-push"


def hold(sim: ForgeSim, suffix: str, verb: str = "POST") -> tuple[threading.Event, threading.Event]:
    """Hold the first request whose path ends with ``suffix`` until ``release`` is set."""
    arrived, release = threading.Event(), threading.Event()
    original = sim.handle

    def handle(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == verb and raw_path.split("?")[0].endswith(suffix) and not arrived.is_set():
            arrived.set()
            release.wait(60)
        return original(method, raw_path, headers, body)

    sim.handle = handle  # type: ignore[method-assign]
    return arrived, release


def killed_mid(workdir: Path, name: str, suffix: str, mode: str) -> tuple[Fleet, Result]:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    arrived, release = hold(sim, suffix)
    fleet = Fleet(workdir, server, sim, images=1, workers=3, mode=mode)
    try:
        fleet.start()
        sender = Sender(fleet)
        sender.send(0, "1.7.0")
        result = Result(name)
        if not arrived.wait(60):
            result.problems.append("the request to hold never came")
        elif not fleet.kill_worker_with_horse():
            result.problems.append("no busy worker to kill")
        release.set()
        expected = settle(fleet, sender, timeout=90)
        result = judge(name, fleet, sender, expected) if not result.problems else result
        if "took over the lock of repo" not in fleet.worker_text():
            result.problems.append("the re-run did not take over the dead run's lock")
        return fleet, result
    finally:
        fleet.stop()
        sim.stop()
        server.stop()


def run(workdir: Path) -> Result:
    fleet, result = killed_mid(workdir, NAME, "/git-receive-pack", "commit")
    if fleet.commit_subjects().count("Bump svc0 to 1.7.0") != 1:
        result.problems.append("not exactly one commit")
    return result
