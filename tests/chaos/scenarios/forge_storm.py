"""The forge answers 429 with ``Retry-After``, then 502s, for a bounded window, on its API and
on git: the bumps wait (RQ retries, run by RQ's scheduler once whatever the number of workers)
and all land afterwards, once each."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

NAME = "forge-429-then-502"
IMAGES = 4


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    # PR mode: every bump calls the API (429s, then 502s) after its git push (502s)
    fleet = Fleet(workdir, server, sim, images=IMAGES, repos=2, workers=3, mode="pr")
    sim.inject(429, r"/api/v3/", times=4, retry_after=1)
    sim.inject(502, r"/api/v3/", times=4)
    sim.inject(502, r"git-receive-pack", times=3)
    try:
        fleet.start()
        sender = Sender(fleet)
        for index in range(IMAGES):
            sender.send(index, "1.1.0")
            sender.send(index, "1.2.0")
        expected = settle(fleet, sender, timeout=150)
        result = judge(NAME, fleet, sender, expected)
        faults = [r for r in sim.requests() if r.fault]
        if len(faults) < 11:
            result.problems.append(f"only {len(faults)} of 11 faults were served")
        prs = [c for r in range(2) for c in sim.repo(f"acme/cfg{r}").changes.values()]
        if len(prs) != IMAGES:
            result.problems.append(f"{len(prs)} PRs for {IMAGES} images")
        return result
    finally:
        fleet.stop()
        sim.stop()
        server.stop()
