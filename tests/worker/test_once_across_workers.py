"""RQ's scheduler and a job's retry run once, whatever the number of workers (issue 19 item 1).

Three real ``bumper worker`` processes, each starting RQ's scheduler, on one real Redis: the
bump's first push gets a 502 from the forge (a transient error: the job returns ``rq.Retry``
and RQ's scheduler moves it back to its queue when due). Exactly one retry run follows, and
exactly one success; each registry polling tick (one job id per time slot) runs once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bumper import jobmetrics
from tests.chaos.harness import Fleet
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

WORKERS = 3
POLL_TICK = re.compile(r"Job OK \((poll-tick-[0-9-]+)\)")
POLLED = """\
  - name: probe
    image: 127.0.0.1:1/acme/probe
    policy: {semver: "^1.0"}
    targets: [{repo: cfg0, paths: ["apps/probe/**"], mode: commit}]
registries:
  - {host: "127.0.0.1:1", plain_http: true, poll: 1h}
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    sim = ForgeSim(tmp_path / "forge").start()
    sim.inject(502, r"git-receive-pack", times=1)
    fleet = Fleet(
        tmp_path,
        server,
        sim,
        images=1,
        workers=WORKERS,
        settings={"BUMPER_WORKER__POLL_TICK_SECONDS": "1"},
    )
    # a polled repository, or no polling tick is scheduled at all: on a port nothing listens
    # on (each poll fails at once and is recorded; the tick itself runs fine)
    with (tmp_path / "bumper.yaml").open("a") as config:
        config.write(POLLED)
    try:
        yield fleet.start()
    finally:
        fleet.stop()
        sim.stop()
        server.stop()


def bump_runs(fleet: Fleet) -> dict[str, float]:
    runs = jobmetrics.read(fleet.redis)[jobmetrics.JOBS]
    return {outcome: float(n) for (kind, outcome), n in runs.items() if kind == "bump"}  # type: ignore[arg-type]


def test_a_retry_and_the_polling_tick_run_once_with_three_workers(fleet: Fleet) -> None:
    listening = fleet.wait(
        "every worker listening",
        lambda: fleet.worker_text().count("*** Listening on") >= WORKERS,
        timeout=60,
    )
    assert listening, fleet.logs()
    fleet.push("1.1.0", "ghcr.io/acme/svc0")
    landed = fleet.wait("the bump", lambda: fleet.current_tag(0) == "1.1.0", timeout=60)
    assert landed, fleet.logs()
    # The push is visible before the job's run ends and records "succeeded": wait for that
    # record, not for ticks counted from the start (two may have run before the bump landed).
    ended = fleet.wait("the bump run's end", lambda: "succeeded" in bump_runs(fleet), timeout=30)
    assert ended, (bump_runs(fleet), fleet.logs())
    # then give duplicate runs (if any) time to show: two more polling ticks
    ticked = len(POLL_TICK.findall(fleet.worker_text()))
    fleet.wait("two more ticks", lambda: len(POLL_TICK.findall(fleet.worker_text())) >= ticked + 2)
    assert bump_runs(fleet) == {"retrying": 1.0, "succeeded": 1.0}, fleet.logs()
    pushes = fleet.sim.requests("POST", r"git-receive-pack")
    assert [r.fault for r in pushes] == [True, False]
    assert fleet.commit_subjects().count("Bump svc0 to 1.1.0") == 1
    ticks = Counter(POLL_TICK.findall(fleet.worker_text()))
    assert ticks, "no polling tick ran"
    assert set(ticks.values()) == {1}, ticks
