"""Promotion latency: an agent's report received → the promotion commit on the config repo,
through the real stack.

Starts a real redis-server, the forge simulator (GitHub over real git smart HTTP), the real
gunicorn with ``bumper.web:create_app()`` and one ``bumper worker`` process, as the end-to-end
tests do, with the promotion test bed's bumper.yaml (tests/promotion/harness.py: a pipeline
dev → staging, ``healthy_for: 1s`` in dev, staging by commit). The scheduled tick is pushed
out of the run (``BUMPER_WORKER__PROMOTION_TICK_SECONDS``), so the report's own evaluation
job is what promotes.

Each round takes a new digest: a first ready report from the dev agent starts its clock; once
the soak ran out, the clock starts at the second report's POST and stops when staging's file
on the simulator's main branch holds ``tag@digest`` (polled every 5 ms, same clock). The
figure is the engine's added latency: web → evaluation job → bump job → commit. A first
round warms the worker's clone cache and is reported apart (a cold clone is the bump path's
cost, not promotion's).

No target is set by issue 20; the summary records the figure (``promotion_report_to_commit_p50_s``).
Exits 1 if a round did not promote within 30 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import summary
from bumper.core import agentreport
from tests.e2e.stack import Stack, repo_block
from tests.promotion import harness
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

SOAK = 1.0


def send(stack: Stack, tag: str, digest: str, agent: str = "dev") -> None:
    reply = requests.post(
        stack.web.url + agentreport.PATH,
        json=harness.report_body(tag, digest, agent=agent),
        headers={"Authorization": f"Bearer {harness.TOKENS[agent]}"},
        timeout=10,
    )
    reply.raise_for_status()


def promoted(sim: ForgeSim, tag: str, digest: str, timeout: float = 30.0) -> float | None:
    """When staging's file on main first held ``tag@digest`` (None: not within timeout)."""
    deadline = time.monotonic() + timeout
    want = f"{harness.IMAGE}:{tag}@{digest}\n"
    while time.monotonic() < deadline:
        if want in (
            sim.repo(harness.REPO).git.read_file("main", "overlays/staging/deploy.yaml") or ""
        ):
            return time.monotonic()
        time.sleep(0.005)
    return None


def measure(workdir: Path, rounds: int) -> list[float]:
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    sim = ForgeSim(workdir / "forgesim").start()
    stack = None
    try:
        harness.create_repo(sim)
        config = repo_block(sim, "github") + harness.pipeline_yaml(workdir, "config")
        tick = {"BUMPER_WORKER__PROMOTION_TICK_SECONDS": "3600"}
        stack = Stack(workdir, redis_server, sim, config, settings=tick).start()
        # staging's agent reports what it runs: a digest found in dev may be promoted into it
        send(stack, "1.0.0", harness.D0, agent="staging")
        latencies = []
        for i in range(rounds + 1):  # round 0 warms the worker's clone cache: reported apart
            tag, digest = f"1.{i + 1}.0", "sha256:" + f"{i + 1:x}".rjust(64, "0")
            send(stack, tag, digest)
            time.sleep(SOAK + 0.05)
            started = time.monotonic()
            send(stack, tag, digest)
            done = promoted(sim, tag, digest)
            if done is None:
                print(f"round {i}: {tag} not promoted within 30 s\n{stack.logs()}", file=sys.stderr)
                raise SystemExit(1)
            latencies.append(done - started)
        return latencies
    finally:
        if stack is not None:
            stack.stop()
        sim.stop()
        redis_server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="digests promoted (10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-promotion-") as tmp:
        cold, *latencies = measure(Path(tmp), args.rounds)
    p50 = statistics.median(latencies)
    worst = max(latencies)
    print(f"report received → promotion commit, {len(latencies)} rounds: "
          f"p50 {p50:.3f}s, max {worst:.3f}s; first (cold clone cache) {cold:.3f}s")  # fmt: skip
    note = f"{len(latencies)} rounds, max {worst:.3f}s, cold first {cold:.3f}s"
    summary.record("promotion_report_to_commit_p50_s", round(p50, 3), met=True, note=note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
