"""One log format: the same JSON fields from web, worker and agent, a job's lines carrying its
job id and delivery id, text on a terminal, and RQ's per-job chatter quiet unless asked for."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper import logs, rqjobs
from bumper.agent import config as agent_config
from bumper.agent import main as agent_main
from bumper.settings import LogSettings
from tests.support.redis_server import RedisServer

FIELDS = ["time", "level", "logger", "message"]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_fields_context_and_extra() -> None:
    record = logging.LogRecord("bumper.worker", logging.INFO, "", 0, "bumped %s", ("api",), None)
    record.created, record.msecs = 1_795_000_000.25, 250.0
    record.sha = "abc"
    with logs.context(job_id="j-1", delivery_id="d-1"):
        logs.bind(target="api")
        line = json.loads(logs.JsonFormatter().format(record))
    assert line == {
        "time": "2026-11-18T11:06:40.250Z",
        "level": "info",
        "logger": "bumper.worker",
        "message": "bumped api",
        "job_id": "j-1",
        "delivery_id": "d-1",
        "target": "api",
        "sha": "abc",
    }
    # The context ends with its block, bind included.
    assert json.loads(logs.JsonFormatter().format(record)).keys() == {*FIELDS, "sha"}


def test_web_lines_are_unchanged() -> None:
    """The web's formatter is the shared one: same keys and order as before, exception by type."""
    from bumper.web.logs import LOGCONFIG

    assert LOGCONFIG["formatters"]["json"]["()"] == "bumper.logs.JsonFormatter"
    assert LOGCONFIG["handlers"]["stderr"]["formatter"] == "json"
    try:
        raise KeyError("secret-in-message")
    except KeyError:
        record = logging.LogRecord("bumper.web", 40, "", 0, "boom", None, sys.exc_info())
    record.delivery_id = "d-9"
    text = logs.JsonFormatter().format(record)
    assert list(json.loads(text)) == [*FIELDS, "delivery_id", "exception"]
    assert json.loads(text)["exception"] == "KeyError" and "secret-in-message" not in text


def test_a_terminal_gets_text_and_a_pipe_json() -> None:
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as tty, os.fdopen(primary, "rb"):
        assert logs.formatter_for("auto", tty) == "text"
        assert logs.formatter_for("json", tty) == "json"
    assert logs.formatter_for("auto", io.StringIO()) == "json"
    assert logs.formatter_for("text", io.StringIO()) == "text"
    record = logging.LogRecord("bumper.agent", logging.WARNING, "", 0, "slow %s", ("x",), None)
    with logs.context(job_id="j-2"):
        text = logs.TextFormatter().format(record)
    assert text.endswith(" WARNING bumper.agent: slow x job_id=j-2") and "{" not in text


def test_the_agent_logs_the_same_fields(
    tmp_path: Path, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    logs.configure(LogSettings(format="auto"), stream=stream)  # not a terminal: JSON
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    cfg = agent_config.load(
        {"repo_url": str(tmp_path), "kubeconfig": kubeconfig, "ssh_key_file": tmp_path / "k"}
    )
    agent_main.build(cfg)  # warns: an SSH key without known_hosts
    [line] = json_lines(stream.getvalue())
    assert list(line) == FIELDS
    assert (line["level"], line["logger"]) == ("warning", "bumper.agent")
    assert "ssh_known_hosts" in line["message"]


def _worker(tmp_path: Path, redis_server: RedisServer, **env: str) -> list[dict[str, Any]]:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    queue = rqjobs.queue("logs-test", client)
    job = queue.enqueue(
        "worker.jobs.handle_event", {"type": "no-such-event", "delivery_id": "dlv-42"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--burst", "--no-scheduler"],
        cwd=tmp_path,
        env={
            **os.environ,
            "BUMPER_REDIS_URL": redis_server.url,
            "BUMPER_CONFIG_FILE": str(config),
            "BUMPER_QUEUE_NAME": "logs-test",
            "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr + done.stdout)
    assert len(lines) == len((done.stderr + done.stdout).strip().splitlines()), "all JSON"
    for line in lines:
        assert list(line)[:4] == FIELDS
    failed = [line for line in lines if line["logger"] == "bumper.worker"]
    assert failed and failed[0]["level"] == "error" and "malformed event" in failed[0]["message"]
    assert (failed[0]["job_id"], failed[0]["delivery_id"]) == (job.id, "dlv-42")
    return lines


def test_a_worker_jobs_lines_carry_job_and_delivery_ids_and_rq_is_quiet(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    lines = _worker(tmp_path, redis_server)
    # the failed job is one line, the job's own: RQ's, with the traceback, is left out
    # (worker.rqworker.BumpWorker.handle_exception), and so are its per-job INFO lines
    [error] = [line for line in lines if line["level"] == "error"]
    assert "malformed event" in error["message"]
    assert [line for line in lines if line["logger"].startswith("rq.")] == []
    assert all("Traceback" not in line["message"] for line in lines)


def test_rq_chatter_when_asked_for(tmp_path: Path, redis_server: RedisServer) -> None:
    lines = _worker(tmp_path, redis_server, BUMPER_LOG__RQ_LEVEL="INFO")
    assert any(line["logger"] == "rq.worker" and line["level"] == "info" for line in lines)
    # still one line for the failure, and no traceback, however chatty RQ is asked to be
    [error] = [line for line in lines if line["level"] == "error"]
    assert error["logger"] == "bumper.worker" and "malformed event" in error["message"]
    assert all("Traceback" not in line["message"] for line in lines)


def test_the_stderr_handler_writes_to_the_current_stderr(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One process configuring logging, then running with its stderr replaced (and the old one
    # closed), as an in-process ``bumper.cli.main`` with redirected output does.
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logs.configure(LogSettings(format="json", level="info"))
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("bumper.test").info("after the swap")
    assert [line["message"] for line in json_lines(second.getvalue())] == ["after the swap"]
    assert "Logging error" not in second.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, {"b": "é\n\u2028"}], 1: 2, None: 3, 2.5: "k", False: []},
        [float("nan"), float("inf"), -float("inf"), 10**30, -0.0, 1e-7],
        "just a string \x00",
        {"nested": {"deep": [[[{}]]]}, "empty": ""},
    ],
)
def test_compact_json_writes_what_json_writes(value: Any) -> None:
    """The encoder built once (log lines, replies, job data) gives ``JSONEncoder``'s text."""
    expected = json.JSONEncoder(separators=(",", ":"), default=str).encode(value)
    assert logs.compact_json(default=str)(value) == expected


def test_compact_json_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        logs.compact_json()(object())
    assert logs.compact_json(default=str)(Path("/x")) == '"/x"'


def test_compact_json_fails_on_a_cycle_as_json_does() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="Circular reference"):
        logs.compact_json(default=str)(cycle)
