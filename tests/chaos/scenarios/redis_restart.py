"""Redis (AOF, ``appendfsync always``) is SIGKILLed during ingest and restarted on its port.

Every 202 was fsynced before it was sent, so after the restart every accepted tag is bumped;
while Redis is down, deliveries get 503 and the sender retries.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

NAME = "redis-restart-aof"
IMAGES = 4


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    fleet = Fleet(workdir, server, sim, images=IMAGES, workers=2)
    try:
        fleet.start()
        sender = Sender(fleet)
        stop = threading.Event()

        def load(index: int) -> None:
            minor = 1
            while not stop.is_set():
                sender.send(index, f"1.{minor}.0")
                minor += 1
                time.sleep(0.2)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(IMAGES)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        server.kill()
        time.sleep(2)
        server.start()
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join(90)
        expected = settle(fleet, sender)
        result = judge(NAME, fleet, sender, expected)
        if result.refused_503 == 0:
            result.problems.append("no delivery was refused while Redis was down")
        return result
    finally:
        fleet.stop()
        sim.stop()
        server.stop()
