"""Push webhook verification (GitHub HMAC, GitLab token) and branch filtering.

Statuses are the receivers' (docs/errors.md): 401 when the credential is missing, 403 when it
is present but wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bumper.agent import trigger
from bumper.errors import WebhookRejected

SECRET = "s3cret"
BODY = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()


def github_headers(body: bytes, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "X-GitHub-Event": event}


def test_github_push_to_our_branch_is_relevant() -> None:
    push = trigger.verify(github_headers(BODY), BODY, SECRET, branch="main")
    assert (push.provider, push.relevant, push.after) == ("github", True, "a" * 40)


def test_other_branch_and_ping_are_accepted_but_ignored() -> None:
    assert not trigger.verify(github_headers(BODY), BODY, SECRET, branch="prod").relevant
    ping = trigger.verify(github_headers(b"{}", event="ping"), b"{}", SECRET, branch="main")
    assert not ping.relevant


def test_gitlab_token() -> None:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}
    assert trigger.verify(headers, BODY, SECRET, branch="main").relevant
    with pytest.raises(WebhookRejected) as caught:
        trigger.verify({**headers, "X-Gitlab-Token": "nope"}, BODY, SECRET, branch="main")
    assert (caught.value.status, caught.value.reason) == (403, "bad-token")


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (github_headers(BODY, secret="other"), BODY, 403),
        (github_headers(BODY), BODY + b" ", 403),
        ({}, BODY, 401),
        ({"X-Hub-Signature-256": "", "X-GitHub-Event": "push"}, BODY, 401),
        ({"X-Gitlab-Token": "", "X-Gitlab-Event": "Push Hook"}, BODY, 401),
        (github_headers(b"not json"), b"not json", 400),
        (github_headers(b"x" * (trigger.MAX_BODY + 1)), b"x" * (trigger.MAX_BODY + 1), 413),
    ],
)
def test_refusals(headers: dict[str, str], body: bytes, status: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        trigger.verify(headers, body, SECRET, branch="main")
    assert caught.value.status == status
    assert SECRET not in str(caught.value)
