"""1,000 webhooks across 100 images in 20 repos, sent in one burst by 16 concurrent senders.

Ten tags per image, in rounds (every image's ``1.1.0``, then every image's ``1.2.0``, ...).
Checked beyond the common invariants: per-repo serialisation held (each repo's history is
linear and no image's tag ever went backwards in it, which a lost update would show), and
coalescing worked (far fewer commits than deliveries).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.chaos.harness import Fleet, Result, Sender, _version, judge, settle
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.gitstore import git
from tests.support.redis_server import RedisServer

NAME = "burst-1000-100-images-20-repos"
IMAGES = 100
REPOS = 20
TAGS = 10
SENDERS = 16
BUMP = re.compile(r"^Bump (svc\d+) to ([0-9.]+)$")


def run(workdir: Path) -> Result:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    fleet = Fleet(workdir, server, sim, images=IMAGES, repos=REPOS, workers=3)
    try:
        fleet.start()
        sender = Sender(fleet)
        deliveries = [(i, f"1.{minor}.0") for minor in range(1, TAGS + 1) for i in range(IMAGES)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            list(pool.map(lambda d: sender.send(*d), deliveries))
        sent = time.monotonic() - started
        expected = settle(fleet, sender, timeout=240)
        result = judge(NAME, fleet, sender, expected)
        result.problems += serialisation_problems(fleet)
        bumps = sum(1 for s in fleet.commit_subjects() if s.startswith("Bump "))
        print(
            f"chaos: {NAME}: sent in {sent:.1f} s, settled in {time.monotonic() - started:.1f} s,"
            f" {bumps} commits",
            flush=True,
        )
        if bumps * 2 > result.accepted:
            result.problems.append(f"{bumps} commits for {result.accepted} deliveries")
        return result
    finally:
        fleet.stop()
        sim.stop()
        server.stop()


def serialisation_problems(fleet: Fleet) -> list[str]:
    """A merge commit, or an image whose tag went backwards in a repo's history."""
    problems = []
    for r in range(fleet.repos):
        path = fleet.sim.repo(f"acme/cfg{r}").git.path
        if git(path, "rev-list", "--merges", "main").strip():
            problems.append(f"cfg{r}: a merge commit on main")
        newest: dict[str, tuple[int, ...]] = {}
        for subject in reversed(git(path, "log", "--format=%s", "main").splitlines()):
            found = BUMP.match(subject)
            if not found:
                continue
            image, tag = found.group(1), _version(found.group(2))
            if tag <= newest.get(image, ()):
                problems.append(f"cfg{r}: {image} went from {newest[image]} to {tag}")
            newest[image] = tag
    return problems
