"""50 webhooks for one image within a second, over three workers: one commit, the newest tag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

NAME = "coalesce-50-in-1s"


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    fleet = Fleet(
        workdir, server, sim, images=1, workers=3, settings={"BUMPER_WORKER__COALESCE_SECONDS": "2"}
    )
    try:
        fleet.start()
        sender = Sender(fleet)
        tags = [f"1.{minor}.{patch}" for minor in range(1, 6) for patch in range(10)]
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda tag: sender.send(0, tag), reversed(tags)))
        expected = settle(fleet, sender)
        result = judge(NAME, fleet, sender, expected)
        bumps = [s for s in fleet.commit_subjects() if s.startswith("Bump ")]
        if len(bumps) != 1:
            result.problems.append(f"{len(bumps)} commits for one burst, not 1")
        return result
    finally:
        fleet.stop()
        sim.stop()
        server.stop()
