"""The receiver's own CPU per delivery, in-process: its WSGI app called in a loop.

No gunicorn and no HTTP: ``bench/ingest.py``'s mix (real payloads, signed, each a distinct
delivery) goes straight into ``create_app()``'s WSGI callable, against a real redis-server,
with the file-backed metrics and the JSON log line of the web process (to a file). Rounds
alternate with ``bench/ingest.py``'s bare Flask app in the same loop, and the CPU time of this
process per request is printed for both (median of the rounds). Redis' own CPU is not in it;
the client side of the round trip is.

It is the harness for the profile in bench/README.md ("Where the receiver's CPU goes"):

    py-spy record -r 1000 -- .venv/bin/python -m bench.ingest_profile --deliveries 20000

No target: the figure to compare is the receiver's CPU before and after a change, measured
back to back (the machine's speed drifts).
"""

from __future__ import annotations

import argparse
import io
import logging
import logging.config
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis

from bench import ingest
from bumper.settings import LogSettings
from tests.support.redis_server import RedisServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ_of(raw: bytes) -> dict[str, Any]:
    """The WSGI environ gunicorn would give the app for one raw HTTP/1.1 request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, protocol = lines[0].split(" ")
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return environ


def cpu_per_request(app: WsgiApp, requests: list[bytes]) -> float:
    """CPU µs of this process per request, the environs built beforehand."""
    environs = [environ_of(raw) for raw in requests]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("202"):
            raise SystemExit(f"bench/ingest_profile: answered {status}, expected 202")

    started = time.process_time()
    for environ in environs:
        reply = app(environ, start_response)
        b"".join(reply)
        close = getattr(reply, "close", None)
        if close is not None:
            close()
    return (time.process_time() - started) / len(environs) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=4000, help="per app, over all rounds")
    parser.add_argument("--rounds", type=int, default=8)
    return ingest.with_redis("bench/ingest_profile", run, parser.parse_args())


def run(workdir: Path, redis_server: RedisServer, args: argparse.Namespace) -> int:
    redis.Redis.from_url(redis_server.url).config_set("appendfsync", "everysec")
    # As under gunicorn (bumper.web.gunicorn_conf): file-backed metrics, set before
    # prometheus_client is imported, and log records without caller, thread or process lookups.
    (workdir / "prometheus").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "prometheus")
    from bumper.web import procid

    procid.use_for_metric_files()  # as gunicorn_conf does
    os.environ.update(
        BUMPER_REDIS_URL=redis_server.url,
        BUMPER_CONFIG_FILE=str(ingest.write_config(workdir)),
        BUMPER_QUEUE_NAME=ingest.QUEUE,
    )
    from bumper.web import create_app, metrics
    from bumper.web import logs as web_logs

    # The web process's logging config, its stderr a file as in bench/ingest.py.
    log_file = open(workdir / "web.log", "w", buffering=1)  # noqa: SIM115 - closed below
    stderr, sys.stderr = sys.stderr, log_file
    logging.config.dictConfig(web_logs.logconfig(LogSettings(format="json")))
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    try:
        receiver: WsgiApp = create_app()
        bare: WsgiApp = ingest.bare_app()
        assert metrics.multiprocess_mode(), "prometheus_client was imported too early"
        factory = ingest.RequestFactory(ingest.MIX)
        per_round = max(args.deliveries // args.rounds, 1)
        counter = iter(range(10**9))
        cpu: dict[str, list[float]] = {"bare Flask 202": [], "bumper receiver": []}
        cpu_per_request(receiver, [factory.build(next(counter))[1] for _ in range(200)])  # warm
        for index in range(args.rounds):
            order = [("bare Flask 202", bare), ("bumper receiver", receiver)]
            for label, app in order if index % 2 == 0 else order[::-1]:
                requests = [factory.build(next(counter))[1] for _ in range(per_round)]
                cpu[label].append(cpu_per_request(app, requests))
    finally:
        sys.stderr = stderr
        log_file.close()
    print(f"in-process, {per_round * args.rounds} deliveries per app in {args.rounds} rounds")
    for label, values in cpu.items():
        print(f"{label:<17} CPU/request {statistics.median(values):7.1f} us (median of rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
