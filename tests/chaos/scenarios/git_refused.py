"""The git remote refuses connections for a bounded window, then recovers.

The config repos are cloned and pushed through a ``TcpGate`` in front of the forge (the API
stays reachable). The gate is closed before the first delivery and stays closed while
deliveries arrive, until every image's bump met a refused connection (a transient git error:
RQ retries it) and at least ``WINDOW`` seconds passed (at most ``MAX_WINDOW``). After the gate
opens, every accepted tag lands, once.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from tests.support.tcpgate import TcpGate

NAME = "git-refused-then-back"
IMAGES = 4
WINDOW = 6.0
MAX_WINDOW = 40.0
REFUSED = "transient (git-transient)"


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    gate = TcpGate(int(sim.url.rsplit(":", 1)[1]))
    fleet = Fleet(workdir, server, sim, images=IMAGES, repos=2, workers=2, git_url=gate.url)
    try:
        fleet.start()
        sender = Sender(fleet)
        closed_at = time.monotonic()
        for minor in (1, 2):
            for index in range(IMAGES):
                sender.send(index, f"1.{minor}.0")
            time.sleep(WINDOW / 2)
        fleet.wait(
            "every image's bump refused",
            lambda: fleet.worker_text().count(REFUSED) >= IMAGES,
            timeout=MAX_WINDOW - (time.monotonic() - closed_at),
        )
        time.sleep(max(0.0, WINDOW - (time.monotonic() - closed_at)))
        refused_runs = fleet.worker_text().count(REFUSED)
        refused_bumps = [c for c in fleet.commit_subjects() if c.startswith("Bump ")]
        gate.open()
        expected = settle(fleet, sender, timeout=90)
        result = judge(NAME, fleet, sender, expected)
        if refused_bumps:
            result.problems.append("bumps landed while the remote refused connections")
        if refused_runs < IMAGES or "Failed to connect" not in fleet.worker_text():
            result.problems.append(f"{refused_runs} bump runs met the refused connection")
        if gate.accepted == 0:
            result.problems.append("no git connection went through after the window")
        return result
    finally:
        gate.close()
        fleet.stop()
        sim.stop()
        server.stop()
