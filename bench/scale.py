"""Scaling out on one Redis (issue 19 item 4): ingest with 1, 2 and 4 gunicorn workers, and
bump throughput with 1, 2 and 4 RQ workers, each as a ratio to the single-process figure of
the same run, plus webhook → commit latency for a burst.

- **ingest**: ``bench.ingest``'s receiver and payload mix (wrk or its asyncio client), one
  server per worker count, driven in interleaved rounds (1, 2, 4, 4, 2, 1, ...) so that the
  noise of a shared machine falls on all three; deliveries answered 202 per second.
- **bumps**: the chaos suite's ``Fleet`` (gunicorn, ``bumper worker`` processes, the forge
  simulator over HTTP with real git; tests/chaos/harness.py) in commit mode, and its patient
  ``Sender``. A burst of ``--deliveries`` webhooks (``--tags`` growing tags for each of
  ``--images`` images spread over ``--repos`` config repos) from 16 concurrent senders; the
  run ends when every image holds its newest tag. Figures: deliveries routed per second and
  commits per second (burst start to settled), and webhook → commit latency per delivery:
  from its send to the first push after which its image holds that tag or a newer one
  (coalescing makes one commit serve several deliveries). Pushes are timed at the simulator.
  The largest worker count also reports Redis commands per delivery (``INFO commandstats``)
  and git pushes per repo.

``--burst`` runs the 1,000-webhook burst (100 images, 20 repos) with the largest worker count
only; ``make bench`` keeps the default, smaller bursts, so the whole bench stays within a few
minutes. Records ``ingest_scale_{2,4}_ratio``, ``bump_scale_{2,4}_ratio``,
``burst_commit_p50_s`` and ``burst_commit_p99_s`` in bench/out/summary.json. No target is
asserted: these figures are for docs/scaling.md. Exits 1 only if a bump was lost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
from rq import Worker

from bench import ingest, summary
from tests.chaos.harness import Fleet, Sender, _version, image_name, settle
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.gitstore import git
from tests.support.redis_server import RedisServer

SENDERS = 16


# --- ingest with 1, 2, 4 gunicorn workers --------------------------------------------------


def ingest_scale(workdir: Path, counts: list[int], seconds: float, rounds: int) -> dict[int, float]:
    """Deliveries answered 202 per second for each gunicorn worker count."""
    server = RedisServer(workdir / "redis")
    server.start()
    targets: dict[int, ingest.IngestTarget] = {}
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("appendfsync", "everysec")
        env = {
            "BUMPER_REDIS_URL": server.url,
            "BUMPER_CONFIG_FILE": str(ingest.write_config(workdir)),
            "BUMPER_QUEUE_NAME": ingest.QUEUE,
        }
        for count in counts:
            args = argparse.Namespace(
                client="wrk" if shutil.which("wrk") else "python",
                threads=2,
                connections=16,
                workers=count,
                worker="buffering",
                pool=4000,
                seconds=seconds,
            )
            run_env = {**env, "BUMPER_WEB__WORKERS": str(count)}
            targets[count] = ingest.IngestTarget(
                f"bumper-{count}", "bumper.web:create_app()", workdir, run_env, args
            )
            targets[count].start()
        order = list(counts)
        for index in range(rounds):
            for count in order if index % 2 == 0 else reversed(order):
                targets[count].measured_round(seconds / rounds, None, collect_ids=False)
                client.flushall()  # keep Redis' memory flat between rounds
        return {count: t.rate(t.total()) for count, t in targets.items()}
    finally:
        for target in targets.values():
            target.stop()
        server.stop()


# --- bump throughput with 1, 2, 4 RQ workers -----------------------------------------------


class PushClock:
    """Times every push at the simulator and records the branch head it left."""

    def __init__(self, sim: ForgeSim) -> None:
        self.sim = sim
        self.pushes: list[tuple[float, str, str]] = []  # (monotonic, repo, main's sha)
        self.lock = threading.Lock()
        original = sim.after_push

        def after_push(repo: Any) -> None:
            head = git(repo.git.path, "rev-parse", "main").strip()
            with self.lock:
                self.pushes.append((time.monotonic(), repo.full_name, head))
            original(repo)

        sim.after_push = after_push  # type: ignore[method-assign]

    def landed(self) -> dict[str, list[tuple[float, tuple[int, ...]]]]:
        """Per image, (push time, tag) for each bump commit, in push order."""
        seen: dict[str, str] = {}
        found: dict[str, list[tuple[float, tuple[int, ...]]]] = {}
        for when, repo, head in sorted(self.pushes):
            path = self.sim.repo(repo).git.path
            span = f"{seen[repo]}..{head}" if repo in seen else head
            seen[repo] = head
            for subject in git(path, "log", "--format=%s", span).splitlines():
                parts = subject.split()
                if len(parts) == 4 and parts[0] == "Bump" and parts[2] == "to":
                    found.setdefault(parts[1], []).append((when, _version(parts[3])))
        return found


def bump_run(workdir: Path, workers: int, images: int, repos: int, tags: int) -> dict[str, Any]:
    server = RedisServer(workdir / "redis")
    server.start()
    sim = ForgeSim(workdir / "forge").start()
    clock = PushClock(sim)
    fleet = Fleet(workdir, server, sim, images=images, repos=repos, workers=workers)
    try:
        fleet.start()
        # the burst starts once every worker listens: their start-up is not throughput
        ready = fleet.wait(
            "workers", lambda: len(Worker.all(connection=fleet.redis)) >= workers, 90
        )
        if not ready:
            raise SystemExit(f"bench/scale: {workers} RQ workers did not start")
        sender = Sender(fleet)
        fleet.redis.config_resetstat()
        sent: list[tuple[str, tuple[int, ...], float]] = []
        lock = threading.Lock()

        def send(delivery: tuple[int, str]) -> None:
            index, tag = delivery
            started = time.monotonic()
            if sender.send(index, tag) in (200, 202):
                with lock:
                    sent.append((image_name(index), _version(tag), started))

        deliveries = [(i, f"1.{minor}.0") for minor in range(1, tags + 1) for i in range(images)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            list(pool.map(send, deliveries))
        accepted_s = time.monotonic() - started
        expected = settle(fleet, sender, timeout=600)
        settled_s = max((when for when, _, _ in clock.pushes), default=started) - started
        lost = sum(1 for i, tag in expected.items() if fleet.current_tag(i) != tag)
        landed = clock.landed()
        latencies = []
        for image, tag, at in sent:
            pushes = [when for when, done in landed.get(image, []) if done >= tag and when >= at]
            if pushes:
                latencies.append(min(pushes) - at)
        stats = fleet.redis.info("commandstats")
        commands = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        commits = sum(len(v) for v in landed.values())
        return {
            "workers": workers,
            "deliveries": len(sent),
            "accepted_s": accepted_s,
            "settled_s": settled_s,
            "deliveries_per_s": len(sent) / settled_s if settled_s else 0.0,
            "commits": commits,
            "commits_per_s": commits / settled_s if settled_s else 0.0,
            "pushes_per_repo": len(clock.pushes) / repos,
            "redis_commands_per_delivery": commands / max(len(sent), 1),
            "p50": ingest.percentile(latencies, 0.50),
            "p99": ingest.percentile(latencies, 0.99),
            "lost": lost,
            "top_commands": sorted(
                ((v["calls"], k.removeprefix("cmdstat_")) for k, v in stats.items()),
                reverse=True,
            )[:6],
        }
    finally:
        fleet.stop()
        sim.stop()
        server.stop()


# --- the report ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4", help="worker counts to compare")
    parser.add_argument("--ingest-seconds", type=float, default=12.0, help="per worker count")
    parser.add_argument("--ingest-rounds", type=int, default=4)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--repos", type=int, default=2)
    parser.add_argument("--tags", type=int, default=4, help="deliveries per image")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="also the 1,000-webhook burst (100 images, 20 repos) with the largest count",
    )
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bumper-scale-") as tmp:
        workdir = Path(tmp)
        if not args.skip_ingest and ingest.SHARED.is_dir():
            rates = ingest_scale(
                workdir / "ingest", counts, args.ingest_seconds, args.ingest_rounds
            )
            print("ingest (gunicorn workers, buffering x threads, pinned; 202/s):")
            for count, rate in rates.items():
                ratio = rate / rates[counts[0]] if rates[counts[0]] else float("nan")
                print(f"  {count} worker(s): {rate:8.0f}/s  ratio to {counts[0]}: {ratio:.2f}")
                if count != counts[0]:
                    summary.record(f"ingest_scale_{count}_ratio", round(ratio, 3), met=True)
        runs = []
        for count in counts:
            runs.append(
                bump_run(workdir / f"bumps-{count}", count, args.images, args.repos, args.tags)
            )
        if args.burst:
            runs.append(bump_run(workdir / "burst", counts[-1], 100, 20, 10))
    print(
        f"bumps (RQ workers; {args.tags} tags x {args.images} images in {args.repos} repos, "
        f"{SENDERS} senders; load average before: {load_before:.1f}):"
    )
    header = "  workers deliveries accepted_s settled_s  deliv/s commits commits/s"
    print(header + "  p50 s  p99 s  redis cmds/deliv  pushes/repo  lost")
    for run in runs:
        print(
            f"  {run['workers']:>7} {run['deliveries']:>10} {run['accepted_s']:>10.1f} "
            f"{run['settled_s']:>9.1f} {run['deliveries_per_s']:>8.1f} {run['commits']:>7} "
            f"{run['commits_per_s']:>9.2f} {run['p50']:>6.2f} {run['p99']:>6.2f} "
            f"{run['redis_commands_per_delivery']:>17.1f} {run['pushes_per_repo']:>12.1f} "
            f"{run['lost']:>5}"
        )
    base = runs[0]["deliveries_per_s"]
    for run in runs[1 : len(counts)]:
        ratio = run["deliveries_per_s"] / base if base else float("nan")
        print(f"  ratio {run['workers']} / {counts[0]} workers (deliveries/s): {ratio:.2f}")
        summary.record(f"bump_scale_{run['workers']}_ratio", round(ratio, 3), met=True)
    burst = runs[-1]
    label = "1,000-webhook burst" if args.burst else f"{burst['deliveries']}-webhook burst"
    print(f"  busiest Redis commands ({label}): {burst['top_commands']}")
    for key in ("p50", "p99"):
        summary.record(
            f"burst_commit_{key}_s",
            round(burst[key], 3),
            met=True,
            note=f"{label}, {burst['workers']} RQ workers",
        )
    return 1 if any(run["lost"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
