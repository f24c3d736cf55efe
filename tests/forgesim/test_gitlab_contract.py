"""The simulator's GitLab v4 answers, checked against ../shared/fixtures/forges: field sets of the
recorded bodies, and the behaviours GITLAB.md notes (merge guards, MWPS, errors, pagination)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import requests

from tests.forgesim.conftest import BRANCH, REPO, Api, recorded
from tests.forgesim.test_github_contract import _shape_gaps
from tests.support.forgesim import ForgeSim

P = "/projects/acme%2Fconfig"
ADMIN_ONLY = re.compile(r"\.(author|user)\.(email|created_at): missing$")  # sent to admins only


def _open_mr(gitlab: Api, **extra: Any) -> dict[str, Any]:
    body = {"source_branch": BRANCH, "target_branch": "main", "title": "Bump api", **extra}
    response = gitlab("POST", f"{P}/merge_requests", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_fields_match_the_recorded_responses(
    gitlab: Api, populated: ForgeSim, shared_dir: Path
) -> None:
    head = populated.repo(REPO).git.sha(BRANCH)
    mr = _open_mr(gitlab, description="table", labels="bumper,prod")
    populated.set_status(REPO, str(head), "running", "build")
    cases = {
        "go-gitlab.get-merge-request.json": f"{P}/merge_requests/{mr['iid']}",
        "gitlab4j.merge-request.json": f"{P}/merge_requests/{mr['iid']}",
        "go-gitlab.list-merge-requests.json": f"{P}/merge_requests",
        "go-gitlab.get-branch.json": f"{P}/repository/branches/main",
        "go-gitlab.list-branches.json": f"{P}/repository/branches",
        "go-gitlab.get-commit.json": f"{P}/repository/commits/{head}",
        "gitlab4j.commit.json": f"{P}/repository/commits/{head}",
    }
    problems = []
    for name, path in cases.items():
        response = gitlab("GET", path)
        assert response.status_code == 200, (name, response.text[:300])
        ours = response.json()
        gaps = _shape_gaps(recorded(shared_dir, "gitlab", name), ours)
        problems += [f"{name}{gap}" for gap in gaps if not ADMIN_ONLY.search(gap)]
    assert not problems, "\n".join(problems)


def test_project_by_encoded_path_or_id(gitlab: Api, populated: ForgeSim) -> None:
    by_path = gitlab("GET", P).json()
    assert by_path["path_with_namespace"] == REPO and by_path["default_branch"] == "main"
    assert gitlab("GET", f"/projects/{by_path['id']}").json()["id"] == by_path["id"]
    assert by_path["http_url_to_repo"] == populated.clone_url(REPO)
    missing = gitlab("GET", "/projects/acme%2Fnope")
    assert missing.status_code == 404 and "message" in missing.json()


def test_unauthenticated_is_401_with_message(populated: ForgeSim) -> None:
    response = requests.get(f"{populated.url}/api/v4{P}", timeout=10)
    assert (response.status_code, response.json()) == (401, {"message": "401 Unauthorized"})


def test_second_open_mr_for_the_branch_is_409(gitlab: Api) -> None:
    _open_mr(gitlab)
    again = gitlab(
        "POST",
        f"{P}/merge_requests",
        {"source_branch": BRANCH, "target_branch": "main", "title": "x"},
    )
    assert again.status_code == 409 and "already exists" in again.json()["message"]


def test_merge_sha_guard_from_query_or_body(gitlab: Api, populated: ForgeSim) -> None:
    iid = _open_mr(gitlab)["iid"]
    main = populated.repo(REPO).git.sha("main")
    head = populated.repo(REPO).git.sha(BRANCH)
    for kwargs in ({"body": {"sha": main}}, {"sha": main}):
        body = kwargs.pop("body", None)
        stale = gitlab("PUT", f"{P}/merge_requests/{iid}/merge", body, **kwargs)
        assert stale.status_code == 409
        assert stale.json()["message"].startswith("SHA does not match HEAD of source branch")
    merged = gitlab("PUT", f"{P}/merge_requests/{iid}/merge", None, sha=head)
    assert merged.status_code == 200
    assert merged.json()["state"] == "merged" and merged.json()["merge_commit_sha"]
    assert populated.repo(REPO).git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"
    again = gitlab("PUT", f"{P}/merge_requests/{iid}/merge")
    assert again.status_code == 405


def test_conflicting_mr_cannot_be_merged(gitlab: Api, populated: ForgeSim) -> None:
    iid = _open_mr(gitlab)["iid"]
    populated.commit_files(REPO, "main", {"apps/api.yaml": "image: api:9\n"}, "hotfix")
    mr = gitlab("GET", f"{P}/merge_requests/{iid}").json()
    assert mr["has_conflicts"] and mr["detailed_merge_status"] == "conflict"
    assert mr["merge_status"] == "cannot_be_merged"
    response = gitlab("PUT", f"{P}/merge_requests/{iid}/merge")
    assert (response.status_code, response.json()["message"]) == (422, "Branch cannot be merged")


def test_merge_when_pipeline_succeeds(gitlab: Api, populated: ForgeSim) -> None:
    iid = _open_mr(gitlab)["iid"]
    head = str(populated.repo(REPO).git.sha(BRANCH))
    status = gitlab("POST", f"{P}/statuses/{head}", {"state": "running", "name": "build"})
    assert status.status_code == 201 and status.json()["status"] == "running"
    pipelines = gitlab("GET", f"{P}/pipelines", sha=head).json()
    assert [p["status"] for p in pipelines] == ["running"]
    armed = gitlab("PUT", f"{P}/merge_requests/{iid}/merge", {"merge_when_pipeline_succeeds": True})
    assert armed.status_code == 200
    assert armed.json()["state"] == "opened" and armed.json()["merge_when_pipeline_succeeds"]
    gitlab("POST", f"{P}/statuses/{head}", {"state": "success", "name": "build"})
    mr = gitlab("GET", f"{P}/merge_requests/{iid}").json()
    assert mr["state"] == "merged" and mr["head_pipeline"]["status"] == "success"


def test_failed_pipeline_cancels_mwps_with_a_system_note(gitlab: Api, populated: ForgeSim) -> None:
    iid = _open_mr(gitlab)["iid"]
    head = str(populated.repo(REPO).git.sha(BRANCH))
    populated.set_status(REPO, head, "running", "build")
    gitlab("PUT", f"{P}/merge_requests/{iid}/merge", {"merge_when_pipeline_succeeds": True})
    populated.set_status(REPO, head, "failed", "build")
    mr = gitlab("GET", f"{P}/merge_requests/{iid}").json()
    assert mr["state"] == "opened" and not mr["merge_when_pipeline_succeeds"]
    notes = gitlab("GET", f"{P}/merge_requests/{iid}/notes").json()
    assert [n["system"] for n in notes] == [True]
    assert gitlab("GET", f"{P}/pipelines", sha=head).json()[0]["status"] == "failed"


def test_labels_reviewers_notes_close(gitlab: Api, populated: ForgeSim) -> None:
    iid = _open_mr(gitlab, labels="bumper")["iid"]
    alice = gitlab("GET", "/users", username="alice").json()
    assert [u["username"] for u in alice] == ["alice"]
    updated = gitlab(
        "PUT",
        f"{P}/merge_requests/{iid}",
        {"add_labels": "prod", "reviewer_ids": [alice[0]["id"]], "title": "T2"},
    )
    body = updated.json()
    assert (body["labels"], body["title"]) == (["bumper", "prod"], "T2")
    assert [r["username"] for r in body["reviewers"]] == ["alice"]
    note = gitlab("POST", f"{P}/merge_requests/{iid}/notes", {"body": "superseded"})
    assert note.status_code == 201 and note.json()["body"] == "superseded"
    closed = gitlab("PUT", f"{P}/merge_requests/{iid}", {"state_event": "close"}).json()
    assert closed["state"] == "closed"
    assert gitlab("GET", f"{P}/merge_requests", state="opened").json() == []
    assert [m["iid"] for m in gitlab("GET", f"{P}/merge_requests", state="closed").json()] == [iid]


def test_pagination_headers(gitlab: Api, populated: ForgeSim) -> None:
    for i in range(3):
        populated.commit_files(REPO, f"b{i}", {f"f{i}": "x\n"})
    response = gitlab("GET", f"{P}/repository/branches", per_page=2)
    assert len(response.json()) == 2
    headers = response.headers
    assert (headers["X-Page"], headers["X-Next-Page"], headers["X-Total"]) == ("1", "2", "5")
    assert headers["X-Total-Pages"] == "3" and headers["X-Per-Page"] == "2"


def test_rate_limit_fault_headers(gitlab: Api, populated: ForgeSim) -> None:
    populated.inject(429, r"/merge_requests$", retry_after=3, reset_in=30)
    response = gitlab("GET", f"{P}/merge_requests")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["RateLimit-Reset"]) - time.time() <= 31
    assert "RateLimit-ResetTime" in response.headers and "message" in response.json()
    assert gitlab("GET", f"{P}/merge_requests").status_code == 200
    logged = populated.requests("GET", r"/merge_requests$")
    assert [(r.status, r.fault) for r in logged] == [(429, True), (200, False)]
