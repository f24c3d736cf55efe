"""One log format: the same JSON fields from web, worker and agent, a job's lines carrying its
job id and delivery id, text on a terminal, and RQ's per-job chatter quiet unless asked for."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
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


def _configured(monkeypatch: pytest.MonkeyPatch, format: str, level: str) -> io.StringIO:
    """The process's logging as ``bumper worker`` sets it up, its stderr a fresh buffer."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure(LogSettings(format=format, level=level))
    return stream


DELIVERY = {
    "receiver": "ghcr",
    "delivery_id": "d-1",
    "status": 202,
    "result": "accepted",
    "events": ["ev-1", "ev-2"],
    "duration_ms": 2.51,
    "note": "é\n\u2028",
    "job_id": "from-the-fields",  # wins over the context's, as with extra=
}


@pytest.mark.parametrize("now", [1_795_000_000.25, 1_795_000_000.9995, 1_795_000_059.0004])
def test_info_line_writes_the_line_logging_writes(
    now: float, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _configured(monkeypatch, "json", "info")
    monkeypatch.setattr(time, "time", lambda: now)
    monkeypatch.setattr(time, "time_ns", lambda: int(now * 1e9))
    logger = logging.getLogger("bumper.test.info_line")
    with logs.context(job_id="j-1", target="api"):
        # Written directly: no record is made or handled.
        with monkeypatch.context() as direct:
            direct.setattr(logger, "handle", lambda record: pytest.fail("went through logging"))
            logs.info_line(logger, "delivery", dict(DELIVERY))
        logger.info("delivery", extra=dict(DELIVERY))
    direct_line, logged_line = stream.getvalue().splitlines(keepends=True)
    assert direct_line == logged_line
    assert list(json.loads(direct_line))[:6] == [*FIELDS, "job_id", "target"]


def test_info_line_goes_through_logging_under_capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logs.info_line(logging.getLogger("bumper.test.info_line"), "delivery", {"status": 202})
    [record] = caplog.records
    assert (record.getMessage(), record.__dict__["status"]) == ("delivery", 202)


def test_info_line_in_text_format(restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _configured(monkeypatch, "text", "info")
    logs.info_line(logging.getLogger("bumper.test.info_line"), "delivery", {"status": 202})
    assert stream.getvalue().endswith(" INFO  bumper.test.info_line: delivery status=202\n")


def test_info_line_keeps_what_logging_leaves_out_or_refuses(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _configured(monkeypatch, "json", "info")
    logger = logging.getLogger("bumper.test.info_line")
    logs.info_line(logger, "delivery", {"_private": "x", "status": 202})
    assert json.loads(stream.getvalue()).keys() == {*FIELDS, "status"}
    with pytest.raises(KeyError, match="overwrite"):
        logs.info_line(logger, "delivery", {"message": "clash"})


def test_info_line_writes_nothing_below_the_level_or_when_disabled(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _configured(monkeypatch, "json", "warning")
    logger = logging.getLogger("bumper.test.info_line")
    logs.info_line(logger, "delivery", {"status": 202})
    assert stream.getvalue() == ""
    logging.getLogger().setLevel(logging.INFO)
    monkeypatch.setattr(logger, "disabled", True)
    logs.info_line(logger, "delivery", {"status": 202})
    assert stream.getvalue() == ""
    monkeypatch.setattr(logger, "disabled", False)
    logs.info_line(logger, "delivery", {"status": 202})
    assert json.loads(stream.getvalue())["status"] == 202
