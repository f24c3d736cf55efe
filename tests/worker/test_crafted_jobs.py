"""Whoever can write to Redis cannot make the worker run code (issue 13, item 8).

Jobs are written straight into Redis the way an attacker with Redis access would (the hash
and the queue list, as ``bumper.web.intake`` writes them), then a real ``bumper worker
--burst`` process runs the queue. A pickled payload, a JSON job naming ``os.system``,
``subprocess.call`` or ``builtins.eval``, a callback and a webhook: each one leaves no marker
and sends nothing, fails with one ``refused job`` log line and ``refused-job`` in its meta,
and the worker goes on to run the real job queued behind them.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper import rqjobs
from bumper.core import events
from bumper.settings import WebSettings
from bumper.web import intake
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "bumper-crafted"
EVENT = events.to_dict(
    events.ImageEvent(type="image.pushed", image="ghcr.io/acme/api", tag="1.2.3", source="t")
)


def touch_marker(job: Any, *rest: Any) -> None:
    """A callback that leaves a trace: on main, RQ imported and called it from the hash."""
    Path(os.environ["CRAFTED_MARKERS"], "callback").touch()


class _Pickled:
    """Unpickling this runs a shell command: what a forged pickled job does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


class _Hits(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self) -> None:
        self._hit()

    def do_POST(self) -> None:
        self._hit()

    def _hit(self) -> None:
        type(self).count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def forge(client: redis.Redis, job_id: str, data: bytes, **fields: str) -> None:
    """Write a job hash and queue it, as anyone with write access to Redis can."""
    mapping: dict[str, str | bytes] = {
        "data": data,
        "origin": QUEUE,
        "description": "crafted",
        "status": "queued",
        "created_at": "2026-01-01T00:00:00.000000Z",
        **fields,
    }
    client.hset(f"rq:job:{job_id}", mapping=mapping)  # type: ignore[arg-type]
    client.rpush(f"rq:queue:{QUEUE}", job_id)
    client.sadd("rq:queues", f"rq:queue:{QUEUE}")


def as_json(func: str, *args: Any) -> bytes:
    return json.dumps([func, None, list(args), {}]).encode()


def run_worker(tmp_path: Path, redis_url: str, markers: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    env = {
        **os.environ,
        "BUMPER_REDIS_URL": redis_url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_QUEUE_NAME": QUEUE,
        "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
        "BUMPER_LOG__FORMAT": "json",
        "CRAFTED_MARKERS": str(markers),
    }
    return subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--burst", "--no-scheduler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_job_forged_in_redis_runs_nothing_and_the_worker_moves_on(
    tmp_path: Path, redis_server: RedisServer, client: redis.Redis, webhook_url: str
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    touch = f"touch {markers}/"
    forged = {
        "pickle": pickle.dumps(
            ("worker.jobs.handle_event", None, (_Pickled(touch + "pickle"),), {})
        ),
        "os-system": as_json("os.system", touch + "os-system"),
        "subprocess": as_json("subprocess.call", ["touch", str(markers / "subprocess")]),
        "eval": as_json("builtins.eval", f"__import__('os').system('{touch}eval')"),
        "event-as-string": as_json(rqjobs.HANDLE_EVENT, "not an event"),
    }
    for name, data in forged.items():
        forge(client, name, data)
    # a real job's data, with a callback or a webhook (an HTTP request) added to its hash
    callback = f"{__name__}.touch_marker"
    hooks = json.dumps(
        [{"url": webhook_url, "job_status": status} for status in ("finished", "failed")]
    )
    event_job = as_json(rqjobs.HANDLE_EVENT, EVENT)
    forge(client, "callback", event_job, failure_callback_name=callback)
    forge(client, "success-callback", event_job, success_callback_name=callback)
    forge(client, "webhook", event_job, webhooks=hooks)
    # a job as Bumper wrote them before (pickled): refused too, see docs/worker.md "Upgrading"
    old = pickle.dumps((rqjobs.HANDLE_EVENT, None, (EVENT,), {}))
    forge(client, "old-pickled", old, webhooks=hooks, success_callback_name=callback)
    real = intake.Intake(client, QUEUE, WebSettings(), job_timeout=60)
    accepted = real.submit("gh", "id:real", [EVENT], "{}", "{}")

    done = run_worker(tmp_path, redis_server.url, markers)

    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in markers.iterdir()) == [], "a forged job ran code"
    assert _Hits.count == 0, "a forged webhook was sent"
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    refused = [
        line["message"].removeprefix("refused job ").split(": ", 1)
        for line in lines
        if line["logger"] == "bumper.worker" and line["message"].startswith("refused job ")
    ]
    crafted = [*forged, "callback", "success-callback", "webhook", "old-pickled"]
    assert sorted(job_id for job_id, _ in refused) == sorted(crafted)
    reasons = dict(refused)
    assert "not Bumper's JSON job format" in reasons["pickle"]
    assert reasons["os-system"] == "function 'os.system' is not a Bumper job"
    assert "callback" in reasons["callback"] and "callback" in reasons["success-callback"]
    assert "webhook" in reasons["webhook"] and "JSON job format" in reasons["old-pickled"]
    for job_id in crafted:
        job = rqjobs.BumperJob.fetch(job_id, connection=client)
        assert job.get_status() == "failed", job_id
        assert job.meta["failure"]["reason"] == "refused-job", job_id
    (real_id,) = accepted.job_ids
    assert rqjobs.BumperJob.fetch(real_id, connection=client).get_status() == "finished"


def test_job_data_is_json_and_bounded() -> None:
    serializer = rqjobs.JobSerializer
    with pytest.raises(ValueError):
        serializer.loads(pickle.dumps({"type": "image.pushed"}))
    with pytest.raises(ValueError, match="over"):
        serializer.loads(b'"' + b"a" * rqjobs.MAX_BYTES + b'"')
    assert serializer.loads(serializer.dumps([rqjobs.RUN_BUMP, None, ["api/0"], {}])) == [
        rqjobs.RUN_BUMP,
        None,
        ["api/0"],
        {},
    ]


def test_a_forged_job_is_a_call_of_refused_once_loaded(client: redis.Redis) -> None:
    """Fetched by anyone (worker, registry cleanup, dashboard), the job names nothing of its
    own: its function is ``refused``, with no callback and no webhook left to resolve."""
    hooks = json.dumps([{"url": "http://127.0.0.1:9/x", "job_status": "failed"}])
    forge(client, "j", as_json("os.system", "true"), stopped_callback_name="os.system")
    forge(client, "k", as_json(rqjobs.RUN_BUMP, "api/0"), webhooks=hooks)
    for job_id in ("j", "k"):
        job = rqjobs.BumperJob.fetch(job_id, connection=client)
        assert isinstance(job, rqjobs.BumperJob)
        assert job.refusal is not None and job.func_name == rqjobs.REFUSED
        assert job.func is rqjobs.refused and job.args == (job.refusal, "")
        assert (job.success_callback, job.failure_callback, job.stopped_callback) == (None,) * 3
        assert job.webhooks == []
    fine = rqjobs.BumperJob.fetch("k", connection=client)
    assert isinstance(fine, rqjobs.BumperJob)
    client.hdel("rq:job:k", "webhooks")
    fine.refresh()  # type: ignore[no-untyped-call]
    assert fine.refusal is None and fine.func_name == rqjobs.RUN_BUMP


def test_a_webhook_body_with_nan_still_makes_a_job() -> None:
    """Python's json reads NaN and Infinity in a body; the job format must hold them too."""
    event = {**EVENT, "extra": {"score": float("nan"), "limit": float("inf")}}
    data = rqjobs.JobSerializer.dumps([rqjobs.HANDLE_EVENT, None, [event], {}])
    (loaded,) = rqjobs.JobSerializer.loads(data)[2]
    assert loaded["extra"]["limit"] == float("inf") and math.isnan(loaded["extra"]["score"])
