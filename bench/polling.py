"""Registry polling on 1,000 repositories of a real local registry (the test bed's distribution).

Seeds 1,000 repositories with one tiny image each (a config blob and an OCI manifest pushed over
the distribution HTTP API: far faster than 1,000 ``crane`` runs), then runs ``worker.polling``'s
``tick`` in a process of its own, as the worker would, against a real Redis:
- tick 1 is each repository's first poll (it records the tags already there);
- tick 2 is the steady state, one interval later (the ``due`` keys expired): the cost of the
  safety net. It reports requests per interval (target: at most one per repository, issue 17),
  CPU seconds per interval and the process's peak RSS (VmHWM).
The baseline, in the same process and run: a bare loop of one ``requests`` tags-list GET per
repository on one keep-alive session, the least any poller must do; the ratio is tick 2's CPU
over the bare loop's.
Skips with a message when the test bed has not been built (``make testbed``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import requests

from tests.support import testbed_proc
from tests.support.redis_server import RedisServer
from tests.support.testbed_registry import Registry

ROOT = Path(__file__).resolve().parent.parent
REPOSITORIES = 1000
INTERVAL = 300
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})


def seed(base: str, names: list[str]) -> None:
    """One image per repository: the config blob (monolithic upload), an OCI manifest."""
    config = CONFIG.encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    session = requests.Session()

    def push(name: str) -> None:
        started = session.post(f"{base}/v2/{name}/blobs/uploads/", timeout=10)
        started.raise_for_status()
        location = requests.compat.urljoin(base, started.headers["Location"])
        joiner = "&" if "?" in location else "?"
        session.put(
            f"{location}{joiner}digest={digest}",
            data=config,
            headers={"Content-Type": "application/octet-stream"},
            timeout=10,
        ).raise_for_status()
        session.put(
            f"{base}/v2/{name}/manifests/v1",
            data=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            timeout=10,
        ).raise_for_status()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(push, names))


def names(count: int) -> list[str]:
    return [f"bench/repo-{i:04d}" for i in range(count)]


# --- the measured process ----------------------------------------------------------------------


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(redis_url: str, host: str, count: int) -> dict[str, float]:
    """Runs in its own process (``--measure``): two ticks, then the bare loop."""
    from bumper.core.config import RegistryEntry
    from bumper.registry import state
    from bumper.registry.client import RegistryClient
    from worker import polling

    client = redis.Redis.from_url(redis_url)
    entry = RegistryEntry(host=host, plain_http=True)
    api = RegistryClient(entry)
    watches = [polling.Watch(f"{host}/{name}", host, name, INTERVAL) for name in names(count)]
    queued: list[Any] = []

    def enqueue(event: Any) -> bool:
        queued.append(event)
        return True

    figures: dict[str, float] = {}
    for label in ("first", "steady"):
        client.delete(*client.keys(state.DUE + "*") or [b"-"])  # the next interval has come
        requests_before = api.requests
        cpu, wall = time.process_time(), time.perf_counter()
        summary = polling.tick(client, watches, lambda _watch: api, enqueue)
        figures[f"{label}_cpu_s"] = time.process_time() - cpu
        figures[f"{label}_wall_s"] = time.perf_counter() - wall
        figures[f"{label}_requests"] = api.requests - requests_before
        figures[f"{label}_polled"] = summary.get("polled", 0)
    figures["events"] = len(queued)
    figures["rss_mb"] = peak_rss_mb()
    session = requests.Session()
    base = f"http://{host}"
    cpu, wall = time.process_time(), time.perf_counter()
    for name in names(count):
        session.get(f"{base}/v2/{name}/tags/list", timeout=10).raise_for_status()
    figures["bare_cpu_s"] = time.process_time() - cpu
    figures["bare_wall_s"] = time.perf_counter() - wall
    return figures


def measure(redis_url: str, host: str, count: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.polling", "--measure", redis_url, host, str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the measured tick failed: {done.stderr.strip()[-800:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- orchestration -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--measure", nargs=3, metavar=("REDIS_URL", "HOST", "COUNT"))
    parser.add_argument("--repositories", type=int, default=REPOSITORIES)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measured(args.measure[0], args.measure[1], int(args.measure[2]))))
        return 0
    try:
        bins = testbed_proc.require_binaries(["registry"])
    except testbed_proc.TestbedNotBuilt as error:
        print(f"bench/polling.py skipped: {error}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-polling-"))
    reg = Registry(bins, work / "registry")
    server = RedisServer(work / "redis")
    try:
        reg.start()
        server.start()
        t0 = time.perf_counter()
        seed(reg.url, names(args.repositories))
        seeded = time.perf_counter() - t0
        figures = measure(server.url, reg.host, args.repositories)
        figures["seed_s"] = seeded
        figures["repositories"] = args.repositories
        report(figures)
    finally:
        server.stop()
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(r: dict[str, float]) -> None:
    count = r["repositories"]
    rows = [
        ("repositories", f"{count:.0f}", f"seeded over the HTTP API in {r['seed_s']:.1f} s"),
        ("first poll", f"{r['first_wall_s']:.2f} s", f"{r['first_requests']:.0f} requests"),
        ("requests/interval", f"{r['steady_requests']:.0f}", f"target ≤ {count:.0f} (1/repo)"),
        ("CPU s/interval", f"{r['steady_cpu_s']:.2f} s", f"wall {r['steady_wall_s']:.2f} s"),
        ("bare tags-list loop", f"{r['bare_cpu_s']:.2f} s", f"CPU; wall {r['bare_wall_s']:.2f} s"),
        ("events (no push)", f"{r['events']:.0f}", "must be 0"),
        ("worker peak RSS", f"{r['rss_mb']:.1f} MB", "tick process (VmHWM)"),
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    ratio = r["steady_cpu_s"] / r["bare_cpu_s"] if r["bare_cpu_s"] else float("nan")
    ok = r["steady_requests"] <= count and r["events"] == 0
    print(
        f"ratio: a polling interval costs {ratio:.2f}x the CPU of a bare tags-list loop; "
        f"{r['steady_cpu_s'] / INTERVAL * 100:.2f} % of one core at poll: {INTERVAL // 60}m"
    )
    print(
        f"target ≤ 1 tags list per repository per interval, no event without a push: "
        f"{'met' if ok else 'MISSED'}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    sys.exit(main())
