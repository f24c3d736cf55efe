"""The simulator's GitHub answers, checked against ../shared/fixtures/forges:
every body against the OpenAPI subset, and field sets against the recorded responses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from tests.forgesim.conftest import BRANCH, REPO, Api, recorded
from tests.support.forgesim import ForgeSim

R = f"/repos/{REPO}"


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable: true`` becomes "or null"."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


class OpenApi:
    def __init__(self, path: Path) -> None:
        self.doc = json.loads(path.read_text())
        # The subset's ``auto-merge`` stub lost upstream's ``nullable: true``; real GitHub sends
        # ``"auto_merge": null`` (see recorded/github/github3py.create-pull.201.json).
        self.doc["components"]["schemas"]["auto-merge"]["nullable"] = True
        self.components = _to_json_schema(self.doc["components"])
        self.templates = sorted(self.doc["paths"], key=lambda t: -len(re.sub(r"\{[^}]+\}", "", t)))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template in self.templates:
            pattern = re.sub(r"\{(ref|path|branch|sha|basehead)\}", ".+", template)
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
            if re.fullmatch(pattern, path) and method.lower() in self.doc["paths"][template]:
                return template, self.doc["paths"][template][method.lower()]
        raise AssertionError(f"{method} {path} is not in the OpenAPI subset")

    def response_schema(self, operation: dict[str, Any], status: int) -> Any:
        response = operation["responses"].get(str(status))
        assert response is not None, f"status {status} is not documented for this operation"
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        content = response.get("content", {}).get("application/json")
        return None if content is None else _to_json_schema(content["schema"])

    def check(self, method: str, path: str, response: requests.Response) -> tuple[str, list[str]]:
        """("METHOD template status", problems) for one answer."""
        template, operation = self.operation(method, path)
        label = f"{method} {template} {response.status_code}"
        schema = self.response_schema(operation, response.status_code)
        if schema is None:  # documented without a body: only a success must really have none
            return label, [f"{label}: unexpected body"] if response.ok and response.content else []
        validator = Draft202012Validator({**schema, "components": self.components})
        errors = validator.iter_errors(response.json())
        return label, [
            f"{label}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors
        ]


@pytest.fixture
def spec(shared_dir: Path) -> OpenApi:
    return OpenApi(shared_dir / "fixtures/forges/github-openapi-subset.json")


def _exchange(github: Api, populated: ForgeSim) -> list[tuple[str, str, requests.Response]]:
    """A bump flow plus its error cases, as raw HTTP: (method, path, response)."""
    calls: list[tuple[str, str, requests.Response]] = []

    def call(method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        response = github(method, path, body, **params)
        calls.append((method, path, response))
        return response

    main = populated.repo(REPO).git.sha("main")
    head = populated.repo(REPO).git.sha(BRANCH)
    assert main and head
    call("GET", R)
    call("GET", "/rate_limit")
    call("GET", f"{R}/branches")
    call("GET", f"{R}/branches/main")
    call("GET", f"{R}/branches/nope")
    call("GET", f"{R}/git/ref/heads/{BRANCH}")
    call("GET", f"{R}/git/matching-refs/heads/bumper")
    call("POST", f"{R}/git/refs", {"ref": "refs/heads/tmp/x", "sha": main})
    call("PATCH", f"{R}/git/refs/heads/tmp/x", {"sha": head, "force": True})
    call("DELETE", f"{R}/git/refs/heads/tmp/x")
    call("GET", f"{R}/commits/{head}")
    call("POST", f"{R}/statuses/{head}", {"state": "pending", "context": "ci"})
    call("GET", f"{R}/commits/{head}/status")
    call("GET", f"{R}/commits/{head}/statuses")
    populated.add_check_run(REPO, head, "build", "completed", "success")
    call("GET", f"{R}/commits/{head}/check-runs")
    pr = call("POST", f"{R}/pulls", {"head": f"acme:{BRANCH}", "base": "main", "title": "Bump"})
    number = pr.json()["number"]
    call("POST", f"{R}/pulls", {"head": f"acme:{BRANCH}", "base": "main", "title": "Again"})
    call("GET", f"{R}/pulls", state="open", head=f"acme:{BRANCH}")
    call("GET", f"{R}/pulls/{number}")
    call("PATCH", f"{R}/pulls/{number}", {"title": "Bump api", "body": "table"})
    call("POST", f"{R}/pulls/{number}/requested_reviewers", {"reviewers": ["alice"]})
    call("POST", f"{R}/pulls/{number}/requested_reviewers", {"reviewers": ["mallory"]})
    call("POST", f"{R}/issues/{number}/labels", {"labels": ["bumper"]})
    call("PUT", f"{R}/issues/{number}/labels", {"labels": ["bumper", "prod"]})
    call("GET", f"{R}/issues/{number}/labels")
    call("GET", f"{R}/labels")
    call("POST", f"{R}/labels", {"name": "urgent", "color": "ff0000"})
    call("POST", f"{R}/labels", {"name": "bad", "color": "not-a-color"})
    call("GET", f"{R}/pulls/{number}/merge")
    call("PUT", f"{R}/pulls/{number}/merge", {"sha": main})
    call("PUT", f"{R}/pulls/{number}/merge", {"sha": head})
    call("GET", f"{R}/pulls/{number}/merge")
    call("PUT", f"{R}/pulls/{number}/merge", {"sha": head})
    call("GET", f"{R}/pulls/999")
    call("GET", f"{R}/compare/{main}...{head}")
    call("GET", f"{R}/compare/{main}...{'0' * 40}")
    return calls


def test_every_answer_matches_the_openapi_subset(
    github: Api, populated: ForgeSim, spec: OpenApi
) -> None:
    seen, problems = set(), []
    for method, path, response in _exchange(github, populated):
        label, errors = spec.check(method, path, response)
        seen.add(label)
        problems += errors
    assert not problems, "\n".join(problems)
    expected = {
        "GET /repos/{owner}/{repo} 200",
        "GET /rate_limit 200",
        "GET /repos/{owner}/{repo}/branches/{branch} 404",
        "POST /repos/{owner}/{repo}/git/refs 201",
        "PATCH /repos/{owner}/{repo}/git/refs/{ref} 200",
        "DELETE /repos/{owner}/{repo}/git/refs/{ref} 204",
        "GET /repos/{owner}/{repo}/commits/{ref}/status 200",
        "GET /repos/{owner}/{repo}/commits/{ref}/check-runs 200",
        "POST /repos/{owner}/{repo}/pulls 201",
        "POST /repos/{owner}/{repo}/pulls 422",
        "PATCH /repos/{owner}/{repo}/pulls/{pull_number} 200",
        "POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers 201",
        "POST /repos/{owner}/{repo}/labels 422",
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 409",
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 200",
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 405",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/merge 204",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/merge 404",
        "GET /repos/{owner}/{repo}/pulls/{pull_number} 404",
        "GET /repos/{owner}/{repo}/compare/{basehead} 200",
        "GET /repos/{owner}/{repo}/compare/{basehead} 404",
    }
    assert expected <= seen, sorted(expected - seen)


def test_every_answer_carries_rate_limit_headers(github: Api, populated: ForgeSim) -> None:
    for method, path, response in _exchange(github, populated):
        remaining = response.headers.get("X-RateLimit-Remaining")
        assert remaining and remaining.isdigit(), f"{method} {path}"
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        assert response.headers["X-RateLimit-Resource"] == "core"


def _shape_gaps(recorded_body: Any, ours: Any, where: str = "", depth: int = 2) -> list[str]:
    """Fields of the recording missing from our body, or with another JSON type."""
    if isinstance(recorded_body, list):
        if not recorded_body or not ours:
            return []
        return _shape_gaps(recorded_body[0], ours[0], where + "[0]", depth)
    if not isinstance(recorded_body, dict) or depth < 0:
        return []
    if not isinstance(ours, dict):
        return [f"{where}: expected an object"]
    gaps = []
    for key, value in recorded_body.items():
        if key not in ours:
            gaps.append(f"{where}.{key}: missing")
        elif value is not None and ours[key] is not None:
            if type(value) is not type(ours[key]) and not (
                isinstance(value, int | float) and isinstance(ours[key], int | float)
            ):
                gaps.append(f"{where}.{key}: {type(ours[key]).__name__} not {type(value).__name__}")
            else:
                gaps.extend(_shape_gaps(value, ours[key], f"{where}.{key}", depth - 1))
    return gaps


RECORDED = {
    "octokit.get-repository.200.json": ("GET", R, None),
    "github3py.create-pull.201.json": ("POST", f"{R}/pulls", "create-pull"),
    "github3py.pull-update.200.json": ("PATCH", f"{R}/pulls/1", {"title": "t2"}),
    "github3py.pull-request-reviewers.201.json": (
        "POST",
        f"{R}/pulls/1/requested_reviewers",
        {"reviewers": ["alice"]},
    ),
    "github3py.get-ref.200.json": ("GET", f"{R}/git/ref/heads/main", None),
    "octokit.git-refs.create-ref.201.json": ("POST", f"{R}/git/refs", "create-ref"),
    "octokit.git-refs.update-ref.200.json": ("PATCH", f"{R}/git/refs/heads/made", "update-ref"),
    "octokit.git-refs.list-refs.200.json": ("GET", f"{R}/git/refs/", None),
    "octokit.create-status.post-status.201.json": ("POST", f"{R}/statuses/HEAD", "status"),
    "octokit.create-status.combined-status.200.json": ("GET", f"{R}/commits/HEAD/statuses", None),
    "octokit.labels.create.201.json": ("POST", f"{R}/labels", {"name": "x", "color": "00ff00"}),
    "octokit.labels.list.200.json": ("GET", f"{R}/labels", None),
    "octokit.add-labels-to-issue.200.json": ("POST", f"{R}/issues/1/labels", {"labels": ["a"]}),
    "octokit.errors.create-label.422.json": ("POST", f"{R}/labels", {"name": "y", "color": "zz"}),
    "octokit.branch-protection.get-unprotected.404.json": ("GET", f"{R}/branches/nope", None),
}


def test_fields_match_the_recorded_responses(
    github: Api, populated: ForgeSim, shared_dir: Path
) -> None:
    head = populated.repo(REPO).git.sha(BRANCH)
    main = populated.repo(REPO).git.sha("main")
    bodies: dict[str, Any] = {
        "create-pull": {"head": BRANCH, "base": "main", "title": "t", "body": "b"},
        "create-ref": {"ref": "refs/heads/made", "sha": main},
        "update-ref": {"sha": head, "force": True},
        "status": {"state": "failure", "context": "example/1", "target_url": "https://e.x"},
    }
    exchanges = json.loads(
        (shared_dir / "fixtures/forges/recorded/github/_exchanges.json").read_text()
    )
    recorded_status = {e["file"]: e["response"]["status"] for e in exchanges}
    problems = []
    for name, (method, path, body) in RECORDED.items():
        payload = bodies.get(body, body) if isinstance(body, str) else body
        # github3.py asked for the "full" media type (X-GitHub-Media-Type: param=full)
        media = "full+json" if name.startswith("github3py.") else "json"
        response = github(
            method,
            path.replace("HEAD", str(head)),
            payload,
            _accept=f"application/vnd.github.{media}",
        )
        assert response.status_code == recorded_status[name], (name, response.text[:300])
        problems += [
            f"{name}{gap}"
            for gap in _shape_gaps(recorded(shared_dir, "github", name), response.json())
        ]
    assert not problems, "\n".join(problems)


def test_pull_lists_follow_link_pagination(github: Api, populated: ForgeSim) -> None:
    for i in range(3):
        populated.commit_files(REPO, f"bump/{i}", {f"f{i}.txt": "x\n"})
        github("POST", f"{R}/pulls", {"head": f"bump/{i}", "base": "main", "title": f"t{i}"})
    first = github("GET", f"{R}/pulls", per_page=2)
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["Link"]
    following = requests.get(first.links["next"]["url"], headers=github.auth, timeout=10)
    assert len(following.json()) == 1 and "Link" not in following.headers


def test_requires_a_token(populated: ForgeSim) -> None:
    response = requests.get(f"{populated.github_api_url}{R}", timeout=10)
    assert response.status_code == 401 and response.json()["message"] == "Requires authentication"
