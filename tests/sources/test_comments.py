"""PR comments as events: which GitHub ``issue_comment`` and GitLab Note Hook deliveries hold a
``/bumper`` command (``pr.comment``), and how a command line reads (``bumper.core.commands``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bumper import sources
from bumper.core import commands
from bumper.core.events import PullRequestComment, from_dict, to_dict

FIXTURES = Path(__file__).parent / "fixtures"


def github(change: Any = None, event: str | None = "issue_comment") -> list[Any]:
    data = json.loads((FIXTURES / "github/issue_comment.created.pull-request.json").read_text())
    if change:
        change(data)
    headers = {"X-GitHub-Event": event} if event else {}
    return sources.SENDERS["github"].parse(headers, json.dumps(data).encode())


def gitlab(change: Any = None, event: str | None = "Note Hook") -> list[Any]:
    data = json.loads((FIXTURES / "gitlab/note-hook.merge-request.json").read_text())
    if change:
        change(data)
    headers = {"X-Gitlab-Event": event} if event else {}
    return sources.SENDERS["gitlab"].parse(headers, json.dumps(data).encode())


def test_a_saved_body_without_its_event_header_is_still_read() -> None:
    assert github(event=None) == github()
    assert gitlab(event=None) == gitlab()
    [event] = github()
    assert from_dict(copy.deepcopy(to_dict(event))) == event


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(action="edited"),
        lambda d: d.update(action="deleted"),
        lambda d: d["comment"]["user"].update(type="Bot"),
        lambda d: d["comment"].update(body="LGTM, but /bumper hold is what I would do"),
        lambda d: d["comment"].update(body="`/bumper hold`"),
        lambda d: d["comment"].update(body=None),
        lambda d: d["issue"].pop("pull_request"),
        lambda d: d["issue"].update(number="7"),
    ],
    ids=["edited", "deleted", "bot", "mid-line", "quoted", "no-body", "issue", "string-number"],
)
def test_github_comments_that_are_no_command(change: Any) -> None:
    assert github(change) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["object_attributes"].update(action="update"),
        lambda d: d["object_attributes"].update(system=True),
        lambda d: d["object_attributes"].update(noteable_type="Commit"),
        lambda d: d["object_attributes"].update(note="please do not /bumper pin"),
        lambda d: d["merge_request"].pop("iid"),
        lambda d: d["user"].pop("username"),
    ],
    ids=["update", "system", "commit", "mid-line", "no-iid", "no-author"],
)
def test_gitlab_notes_that_are_no_command(change: Any) -> None:
    assert gitlab(change) == []


def test_a_huge_comment_costs_a_bounded_scan() -> None:
    def huge(data: dict[str, Any]) -> None:
        data["comment"]["body"] = "x\n" * 100_000 + "/bumper hold"

    assert github(huge) == []  # past the scanned lines
    [event] = github(lambda d: d["comment"].update(body="/bumper pin " + "1" * 5000))
    assert isinstance(event, PullRequestComment) and len(event.command) == commands.LINE_LIMIT


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("/bumper hold", commands.Command("hold")),
        ("/bumper   RELEASE", commands.Command("release")),
        ("/bumper pin 1.2.3", commands.Command("pin", "1.2.3")),
        ("/bumper retry", commands.Command("retry")),
        ("/bumper explain", commands.Command("explain")),
        ("/bumper", commands.Unknown("no command given")),
        ("/bumper pin", commands.Unknown("`pin` takes exactly one tag")),
        ("/bumper pin 1 2", commands.Unknown("`pin` takes exactly one tag")),
        ("/bumper hold now", commands.Unknown("`hold` takes no argument")),
        ("/bumper rm `-rf`", commands.Unknown("unknown command `rm`")),
        ("/bumper r`m", commands.Unknown("unknown command `r'm`")),
    ],
)
def test_command_lines(line: str, parsed: object) -> None:
    assert commands.parse(line) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", ("1.2.3", None)),
        ("v2@sha256:" + "a" * 64, ("v2", "sha256:" + "a" * 64)),
    ],
)
def test_pin_tags(text: str, expected: tuple[str, str | None]) -> None:
    assert commands.check_tag(text) == expected


@pytest.mark.parametrize("text", ["ghcr.io/evil/x:1", "-x", "1.2@sha256:short", "a" * 200])
def test_pin_refuses_what_is_no_tag_of_the_image(text: str) -> None:
    with pytest.raises(ValueError, match="is not a tag of this image") as refused:
        commands.check_tag(text)
    assert "\n" not in str(refused.value)
