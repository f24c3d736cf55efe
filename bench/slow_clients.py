"""Slow clients: ``/healthz`` and signed-webhook p99 with and without 1,000 slow connections.

Starts a real redis-server and the real gunicorn (``bumper.web.gunicorn_conf``, its default
worker count, ``bumper.web.serving``'s worker) on loopback, with one GitHub receiver. A few
client threads (``--clients``, default 4) send, in turn, ``GET /healthz`` and a signed GitHub
``package`` delivery (a real payload from ``../shared/fixtures/webhooks``, each body distinct,
so none is a duplicate), one at a time per thread over keep-alive connections, for
``--seconds`` per round.

Rounds alternate between the two conditions (quiet, slow, slow, quiet, ...), so that the noise
of a shared machine weighs on both: ``quiet`` has no other client; ``slow`` holds ``--slow``
(default 1,000) connections that each sent the start of a request and stalled (a third each:
unfinished headers, an unfinished chunked body, a ``Content-Length`` body that never comes;
``tests/support/slow_clients.py``). Connections the server closes (at its deadlines) are
reopened at once, as an attacker would. Prints p50/p99 per endpoint and condition, the ratio
slow/quiet of the p99, and the requests that failed or timed out (``--timeout``, default 5 s).

``--worker gthread`` runs the same against gunicorn's gthread worker (the serving model before
issue 13), for comparison. Exits 1 if, under the default worker, a request failed or timed
out, or a 202's jobs are not all in Redis.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import redis

from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.support.slow_clients import SlowClients

REPO_ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = REPO_ROOT.parent / "shared" / "fixtures" / "webhooks" / "github"
PAYLOAD_FILE = PAYLOAD / "package.published.docker.json"
SECRET = "bench-secret-0123456789"
QUEUE = "bench-slow"


@dataclass
class Samples:
    """Latencies (s) per endpoint, failures, and the job ids the 202s promised."""

    latency: dict[str, list[float]] = field(default_factory=lambda: {"healthz": [], "hook": []})
    failures: dict[str, int] = field(default_factory=lambda: {"healthz": 0, "hook": 0})
    promised: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection, reopened after a failure."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            reply = self.conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if reply.status not in (200, 202):
            raise RuntimeError(f"{method} {path}: {reply.status}")
        return data


def _signed_delivery(template: dict[str, object], n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({**template, "bench_delivery": n}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "package",
        "X-GitHub-Delivery": f"bench-slow-{n}",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    return body, headers


def drive(port: int, seconds: float, clients: int, timeout: float, start: int) -> Samples:
    """``clients`` threads alternating healthz and a delivery for ``seconds``."""
    template = json.loads(PAYLOAD_FILE.read_bytes())
    samples = Samples()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(index: int) -> None:
        client = Client(port, timeout)
        n = start + index * 1_000_000
        while time.monotonic() < deadline:
            n += 1
            body, headers = _signed_delivery(template, n)
            requests: tuple[tuple[str, str, str, bytes | None, dict[str, str]], ...] = (
                ("healthz", "GET", "/healthz", None, {}),
                ("hook", "POST", "/hooks/gh", body, headers),
            )
            for name, method, path, payload, fields in requests:
                began = time.perf_counter()
                try:
                    data = client.call(method, path, payload, fields)
                except (OSError, http.client.HTTPException, RuntimeError):
                    with lock:
                        samples.failures[name] += 1
                    continue
                elapsed = time.perf_counter() - began
                with lock:
                    samples.latency[name].append(elapsed)
                    if name == "hook":
                        samples.promised.extend(json.loads(data).get("events", []))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


class Attackers:
    """``count`` slow connections, reopened by a background thread when the server drops one."""

    def __init__(self, port: int, count: int) -> None:
        self.slow = SlowClients(port)
        self.count = count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True)

    def __enter__(self) -> Attackers:
        self.slow.open(self.count)
        self._thread.start()
        return self

    def _keep(self) -> None:
        while not self._stop.wait(0.2):
            self.reopened += self.slow.reconnect()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.slow.close()


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def run(workdir: Path, args: argparse.Namespace) -> int:
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    secret = workdir / "secret"
    secret.write_text(SECRET + "\n")
    config = workdir / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        f"  - {{name: gh, type: github, secret: {{file: {secret}}}}}\n"
    )
    env = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_QUEUE_NAME": QUEUE,
    }
    flags = ("-k", "gthread") if args.worker == "gthread" else ()
    server = GunicornServer(workdir / "gunicorn", env, workers=args.workers, args=flags)
    server.start()
    results: dict[str, Samples] = {"quiet": Samples(), "slow": Samples()}
    reopened = 0
    try:
        order = ["quiet", "slow", "slow", "quiet"] * (args.rounds // 4) or ["quiet", "slow"]
        for number, condition in enumerate(order):
            start = number * 100_000
            if condition == "slow":
                with Attackers(server.port, args.slow) as attackers:
                    time.sleep(0.5)  # let the server take them in
                    got = drive(server.port, args.seconds, args.clients, args.timeout, start)
                reopened += attackers.reopened
            else:
                got = drive(server.port, args.seconds, args.clients, args.timeout, start)
            total = results[condition]
            for name in total.latency:
                total.latency[name] += got.latency[name]
                total.failures[name] += got.failures[name]
            total.promised += got.promised
        lost = _lost(redis_server.url, [job for s in results.values() for job in s.promised])
    finally:
        server.stop()
        redis_server.stop()
    return _report(args, results, lost, reopened)


def _lost(url: str, promised: list[str]) -> int:
    client = redis.Redis.from_url(url)
    try:
        raw_queue = cast(list[bytes], client.lrange(f"rq:queue:{QUEUE}", 0, -1))
        queued = {raw.decode() for raw in raw_queue}
    finally:
        client.close()
    return len([job for job in promised if job not in queued])


def _report(args: argparse.Namespace, results: dict[str, Samples], lost: int, reopened: int) -> int:
    print(
        f"worker: {args.worker}; {args.clients} clients, rounds of {args.seconds:g} s "
        f"(quiet/slow alternated), slow: {args.slow} connections; timeout {args.timeout:g} s"
    )
    print(f"{'endpoint':<9}{'condition':<11}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  failed")
    failed = 0
    for name in ("healthz", "hook"):
        for condition in ("quiet", "slow"):
            got = results[condition]
            values = got.latency[name]
            failed += got.failures[name]
            print(
                f"{name:<9}{condition:<11}{len(values):>9}"
                f"{_ms(_percentile(values, 0.5)):>9}{_ms(_percentile(values, 0.99)):>9}"
                f"  {got.failures[name]}"
            )
    for name in ("healthz", "hook"):
        quiet = _percentile(results["quiet"].latency[name], 0.99)
        slow = _percentile(results["slow"].latency[name], 0.99)
        shown = f"{slow / quiet:.2f}" if slow and quiet else "none: every request failed"
        print(f"{name} p99 ratio slow/quiet: {shown}")
    print(f"slow connections the server closed (and were reopened): {reopened}")
    print(f"202 job ids missing from Redis: {lost}")
    if args.worker == "buffering" and (failed or lost):
        print("FAILED: a request failed or timed out, or a 202's job is missing")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (a multiple of 4)")
    parser.add_argument("--clients", type=int, default=4, help="threads sending requests")
    parser.add_argument("--slow", type=int, default=1000, help="slow connections held")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, s")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: config)")
    parser.add_argument("--worker", choices=["buffering", "gthread"], default="buffering")
    args = parser.parse_args()
    if not PAYLOAD_FILE.exists():
        print(f"bench/slow_clients: skipped, {PAYLOAD_FILE} is absent (shared webhook fixtures)")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bumper-bench-slow-"))
    try:
        return run(workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
