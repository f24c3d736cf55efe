"""``bumper explain-webhook``: parse-only view of a payload, JSON out, exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bumper.cli import main

FIXTURES = ("fixtures", "webhooks")


def _path(shared_dir: Path, *parts: str) -> str:
    return str(shared_dir.joinpath(*FIXTURES, *parts))


def test_prints_image_event_as_json(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["explain-webhook", "--source", "dockerhub", _path(shared_dir, "dockerhub", "push.json")]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out) == [
        {
            "type": "image.pushed",
            "image": "docker.io/svendowideit/testhook",
            "tag": "latest",
            "digest": None,
            "source": "dockerhub",
            "delivery_id": None,
            "extra": {},
        }
    ]


def test_headers_file_routes_and_gives_delivery_id(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = tmp_path / "headers.json"
    headers.write_text(json.dumps({"x-github-event": "workflow_job", "X-GitHub-Delivery": "d-1"}))
    body = _path(shared_dir, "github", "workflow_job.completed.failure.json")
    assert main(["explain-webhook", "--source", "github", "--headers", str(headers), body]) == 0
    (event,) = json.loads(capsys.readouterr().out)
    assert {
        k: event[k] for k in ("type", "status", "commit", "ref", "repository", "delivery_id")
    } == {
        "type": "build.finished",
        "status": "failure",
        "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625",
        "ref": "refs/heads/main",
        "repository": "Codertocat/Hello-World",
        "delivery_id": "d-1",
    }


def test_irrelevant_payload_prints_empty_array_and_says_why(
    shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _path(shared_dir, "distribution", "pull.envelope.json")
    assert main(["explain-webhook", "--source", "distribution", body]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "bumper: note: dropped: action 'pull' is not a push or delete" in captured.err


def test_reads_stdin_and_exits_2_with_one_line_on_malformed_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bumper", "explain-webhook", "--source", "harbor", "-"],
        input=b'{"type": "PUSH_ARTIFACT", "event_data": ',
        capture_output=True,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "not valid JSON" in lines[0] and "Traceback" not in lines[0]


def test_bad_headers_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    headers, body = tmp_path / "h.json", tmp_path / "b.json"
    headers.write_text('["not", "an", "object"]')
    body.write_text("{}")
    assert main(["explain-webhook", "--source", "quay", "--headers", str(headers), str(body)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_unknown_source_exits_2(tmp_path: Path) -> None:
    assert main(["explain-webhook", "--source", "bitbucket", str(tmp_path)]) == 2
