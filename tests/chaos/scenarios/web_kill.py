"""A web replica is SIGKILLed (its gunicorn master and workers) while under load.

Two gunicorn masters on one Redis, as two replicas behind a load balancer: the sender spreads
its attempts over both in turn, and a failed attempt (connection refused or dropped, counted
as not accepted) goes to the next one. Checked: every 202 bumped, no 5xx but 503, and the
killed replica was really hit after its death (a refused connection was counted).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer

NAME = "web-replica-killed"
IMAGES = 6


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    fleet = Fleet(workdir, server, sim, images=IMAGES, repos=2, workers=2)
    second = GunicornServer(workdir / "web2", fleet.env, workers=2)
    try:
        fleet.start()
        second.start()
        sender = Sender(fleet, urls=[fleet.web.url, second.url])
        stop = threading.Event()

        def load(index: int) -> None:
            minor = 1
            while not stop.is_set():
                sender.send(index, f"1.{minor}.0")
                minor += 1
                time.sleep(0.1)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(IMAGES)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        kill_replica(second)
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(90)
        expected = settle(fleet, sender)
        result = judge(NAME, fleet, sender, expected)
        if sender.statuses[0] == 0:
            result.problems.append("no attempt met the killed replica")
        if "Traceback" in second.log():
            result.problems.append("traceback in the killed replica's log")
        return result
    finally:
        fleet.stop()
        second.stop()
        sim.stop()
        server.stop()


def kill_replica(web: GunicornServer) -> None:
    """SIGKILL the master first (it cannot replace its workers), then every worker."""
    assert web.process is not None
    master = web.process.pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    os.kill(master, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    web.process.wait(10)
