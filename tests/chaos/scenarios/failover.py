"""The Redis primary is SIGKILLed during ingest and the Sentinel promotes the replica.

The web waits for one replica per delivery (``BUMPER_WEB__WAIT_REPLICAS=1``), so a 202 is on
the replica that gets promoted. While there is no primary, or the new one has no replica yet
(the old primary comes back as its replica), deliveries get 503 and the sender retries.
Checked: every 202 bumped, refusals were 503 (never another 5xx), no duplicate commits.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.sentinel import SentinelGroup

NAME = "sentinel-failover"
IMAGES = 6


def run(workdir: Path) -> Result:
    group = SentinelGroup(workdir / "redis").start()
    sim = ForgeSim(workdir / "forge").start()
    fleet = Fleet(
        workdir,
        group,
        sim,
        images=IMAGES,
        repos=2,
        workers=2,
        settings={"BUMPER_WEB__WAIT_REPLICAS": "1", "BUMPER_WEB__WAIT_TIMEOUT_MS": "500"},
    )
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
        time.sleep(3)
        old = group.kill_primary()
        group.wait_promoted(old.port)
        old.start()  # back as a replica: the web's WAIT 1 can be met again
        time.sleep(4)
        stop.set()
        for thread in threads:
            thread.join(90)
        expected = settle(fleet, sender)
        result = judge(NAME, fleet, sender, expected)
        if result.refused_503 == 0:
            result.problems.append("no delivery was refused during the failover")
        return result
    finally:
        fleet.stop()
        sim.stop()
        group.stop()
