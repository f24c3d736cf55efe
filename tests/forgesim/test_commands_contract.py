"""The simulator's answers for ``/bumper`` commands (issue 21 item 4), checked against the shapes
of the forges' API documentation, as tests/support/forgesim/CONTRACT.md records them: GitHub's
collaborator permission and issue comments, GitLab's ``members/all`` and MR notes."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from tests.forgesim.conftest import BRANCH, REPO, Api
from tests.support.forgesim import ForgeSim

P = "/projects/acme%2Fconfig"
_USER: dict[str, Any] = {
    "type": "object",
    "required": ["login", "id", "type", "site_admin"],
    "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
}
# GitHub REST, "Get repository permissions for a user" (repository-collaborator-permission):
# permission (legacy: admin, write, read, none), role_name, user (nullable-collaborator).
GITHUB_PERMISSION = {
    "type": "object",
    "required": ["permission", "role_name", "user"],
    "properties": {
        "permission": {"enum": ["admin", "write", "read", "none"]},
        "role_name": {"type": "string"},
        "user": {
            "anyOf": [
                {"type": "null"},
                {
                    **_USER,
                    "required": [*_USER["required"], "permissions"],
                    "properties": {
                        **_USER["properties"],
                        "permissions": {
                            "type": "object",
                            "required": ["admin", "maintain", "push", "triage", "pull"],
                            "additionalProperties": {"type": "boolean"},
                        },
                    },
                },
            ]
        },
    },
}
# GitHub REST, "Create an issue comment" / "List issue comments": issue-comment.
GITHUB_COMMENT = {
    "type": "object",
    "required": ["id", "body", "user", "html_url", "issue_url", "created_at", "author_association"],
    "properties": {"id": {"type": "integer"}, "body": {"type": "string"}, "user": _USER},
}
# GitLab, "Get a member of a group or project, including inherited and invited members".
GITLAB_MEMBER = {
    "type": "object",
    "required": ["id", "username", "name", "state", "access_level", "created_at", "expires_at"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "access_level": {"enum": [0, 5, 10, 20, 30, 40, 50]},
    },
}
# GitLab, "Notes API", merge request notes.
GITLAB_NOTE = {
    "type": "object",
    "required": ["id", "body", "author", "system", "noteable_type", "noteable_iid"],
    "properties": {
        "body": {"type": "string"},
        "noteable_type": {"const": "MergeRequest"},
        "author": {"type": "object", "required": ["id", "username"]},
    },
}


def valid(schema: dict[str, Any], body: Any) -> list[str]:
    return [e.message for e in Draft202012Validator(schema).iter_errors(body)]


@pytest.fixture
def roles(populated: ForgeSim) -> ForgeSim:
    populated.grant(REPO, "alice", "maintain")
    populated.grant(REPO, "tim", "triage")
    populated.add_user("bob")
    return populated


def _pull(github: Api) -> int:
    pr = github("POST", f"/repos/{REPO}/pulls", {"head": BRANCH, "base": "main", "title": "Bump"})
    return int(pr.json()["number"])


def test_github_collaborator_permission(github: Api, roles: ForgeSim) -> None:
    path = f"/repos/{REPO}/collaborators/%s/permission"
    seen = {}
    for login in ("alice", "tim", "bob", "bumper-bot"):
        answer = github("GET", path % login)
        assert answer.status_code == 200 and valid(GITHUB_PERMISSION, answer.json()) == []
        seen[login] = (answer.json()["permission"], answer.json()["role_name"])
    assert seen == {
        "alice": ("write", "maintain"),  # maintain reads as write in the legacy field
        "tim": ("read", "triage"),
        "bob": ("none", "none"),
        "bumper-bot": ("admin", "admin"),
    }
    assert github("GET", path % "nobody-at-all").status_code == 404


def test_github_issue_comments(github: Api, roles: ForgeSim) -> None:
    number = _pull(github)
    made = github("POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "Held `api/0`"})
    assert made.status_code == 201 and valid(GITHUB_COMMENT, made.json()) == []
    listed = github("GET", f"/repos/{REPO}/issues/{number}/comments").json()
    assert [c["body"] for c in listed] == ["Held `api/0`"]
    assert all(valid(GITHUB_COMMENT, c) == [] for c in listed)


def test_gitlab_members_all(gitlab: Api, roles: ForgeSim) -> None:
    levels = {}
    for login in ("alice", "tim", "bumper-bot"):
        answer = gitlab("GET", f"{P}/members/all/{roles.users[login].id}")
        assert answer.status_code == 200 and valid(GITLAB_MEMBER, answer.json()) == []
        levels[login] = answer.json()["access_level"]
    assert levels == {"alice": 40, "tim": 20, "bumper-bot": 50}
    assert gitlab("GET", f"{P}/members/all/{roles.users['bob'].id}").status_code == 404
    assert gitlab("GET", f"{P}/members/all/999999").status_code == 404


def test_gitlab_merge_request_notes(gitlab: Api, roles: ForgeSim) -> None:
    mr = gitlab(
        "POST",
        f"{P}/merge_requests",
        {"source_branch": BRANCH, "target_branch": "main", "title": "B"},
    )
    iid = mr.json()["iid"]
    made = gitlab("POST", f"{P}/merge_requests/{iid}/notes", {"body": "Pinned"})
    assert made.status_code == 201 and valid(GITLAB_NOTE, made.json()) == []
    listed = gitlab("GET", f"{P}/merge_requests/{iid}/notes").json()
    assert [n["body"] for n in listed] == ["Pinned"] and valid(GITLAB_NOTE, listed[0]) == []
