"""``bumper explain-webhook``: parse-only view of a payload, JSON out, exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bumper import logs
from bumper.cli import main
from bumper.settings import LogSettings

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
            "artifact": "image",
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
        "ref": None,  # a workflow_job names no event; main is not the default branch
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


OWN = Path(__file__).parent / "fixtures"


def test_header_lines_as_vendors_show_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request as curl -v or a vendor's docs print it: request line, '>' prefixes, an
    HTTP/2 pseudo-header, then the body after a blank line (not read as headers)."""
    headers = tmp_path / "headers.txt"
    headers.write_text(
        "> POST /hooks/github HTTP/1.1\n"
        "> :authority: bumper.example.com\n"
        "> Content-Type: application/json\n"
        "> X-GitHub-Event: workflow_run\n"
        "> X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\n"
        "\n"
        '{"not": "a header"}\n'
    )
    body = str(OWN / "github" / "run" / "workflow_run.completed.json")
    assert main(["explain-webhook", "--source", "github", "--headers", str(headers), body]) == 0
    (event,) = json.loads(capsys.readouterr().out)
    assert (event["type"], event["pipeline"], event["delivery_id"]) == (
        "build.finished",
        "build",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )


def test_a_header_line_without_colon_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = tmp_path / "headers.txt"
    headers.write_text("X-GitHub-Event: package\nnot a header\n")
    body = str(OWN / "github" / "run" / "workflow_run.completed.json")
    assert main(["explain-webhook", "--source", "github", "--headers", str(headers), body]) == 2
    err = capsys.readouterr().err.strip()
    assert "line 2 is not 'Name: value'" in err and len(err.splitlines()) == 1


QUAY_BUILD = str(OWN / "quay" / "build.buildman-2020.json")


def test_query_names_the_quay_build_event(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain-webhook", "--source", "quay", "--query", "event=build_success", QUAY_BUILD]
    assert main(args) == 0
    (event,) = json.loads(capsys.readouterr().out)
    assert (event["status"], event["repository"]) == ("success", "acme/api")


def test_without_query_the_build_is_ambiguous_and_says_which_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain-webhook", "--source", "quay", QUAY_BUILD]) == 0
    out = capsys.readouterr()
    (event,) = json.loads(out.out)
    assert event["status"] == "unknown"
    (note,) = out.err.strip().splitlines()
    assert note.startswith("bumper: note: ambiguous: ") and "?event=build_success" in note


def test_a_dropped_payload_prints_its_one_line_reason(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain-webhook", "--source", "quay", "--query", "?event=build_start", QUAY_BUILD]
    assert main(args) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == []
    assert out.err.strip() == "bumper: note: dropped: build_start: the build has not finished"


def test_the_reason_is_one_note_when_logging_is_configured(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    # A process that set up its logging (``bumper agent`` or ``worker`` ran before in it) gets
    # the reason once, as the note, not also as a log line or a logging error.
    logs.configure(LogSettings(format="json", level="info"))
    args = ["explain-webhook", "--source", "quay", "--query", "?event=build_start", QUAY_BUILD]
    assert main(args) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == []
    assert out.err.strip() == "bumper: note: dropped: build_start: the build has not finished"


def test_an_unknown_query_hint_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain-webhook", "--source", "quay", "--query", "event=build_sucess", QUAY_BUILD]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a quay event" in err
