"""GitLab v4 subset (under ``/api/v4``): what python-gitlab calls for a bump flow.

Projects, branches, commits, commit statuses and the pipelines they form, merge requests
(list/create/update/close, merge with ``sha`` guard and ``merge_when_pipeline_succeeds`` /
``auto_merge``), MR notes, labels, reviewers (by user id) and user lookup. Body shapes follow
``../shared/fixtures/forges/recorded/gitlab``. Project ids may be numeric or URL-encoded paths;
routes match the raw path, so ``group%2Fname`` is never split.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.forgesim import merging
from tests.support.forgesim.http import ApiError, Request, Response, route
from tests.support.forgesim.model import ChangeRequest, Comment, Label, Pipeline, Repo, iso

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim

P = r"^/api/v4/projects/(?P<pid>[^/]+)"
MR = P + r"/merge_requests/(?P<iid>\d+)"
_NATIVE = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}


def error_body(err: ApiError) -> dict[str, Any]:
    if err.errors:
        return {"message": {e.get("field", "base"): [e.get("code", "invalid")] for e in err.errors}}
    return {"message": err.message}


def _project(sim: ForgeSim, pid: str) -> Repo:
    return sim.repo_by_id(unquote(pid))


def user_json(sim: ForgeSim, login: str) -> dict[str, Any]:
    user = sim.users.get(login) or sim.add_user(login)
    return {
        "id": user.id,
        "username": login,
        "name": login.replace("-", " ").title(),
        "state": "active",
        "locked": False,
        "avatar_url": f"{sim.url}/avatars/{login}",
        "web_url": f"{sim.url}/{login}",
    }


def project_json(sim: ForgeSim, repo: Repo) -> dict[str, Any]:
    web = f"{sim.url}/{repo.full_name}"
    now = iso(time.time())
    namespace = {
        "id": abs(hash(repo.owner)) % 10**6,
        "name": repo.owner,
        "path": repo.owner,
        "kind": "group",
        "full_path": repo.owner,
        "parent_id": None,
        "avatar_url": None,
        "web_url": f"{sim.url}/groups/{repo.owner}",
    }
    api = f"{sim.url}/api/v4/projects/{repo.id}"
    return {
        "id": repo.id,
        "description": None,
        "name": repo.name,
        "name_with_namespace": f"{repo.owner} / {repo.name}",
        "path": repo.name,
        "path_with_namespace": repo.full_name,
        "created_at": now,
        "default_branch": repo.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@127.0.0.1:{repo.full_name}.git",
        "http_url_to_repo": sim.clone_url(repo.full_name),
        "web_url": web,
        "readme_url": None,
        "avatar_url": None,
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": now,
        "namespace": namespace,
        "_links": {
            "self": api,
            "merge_requests": f"{api}/merge_requests",
            "repo_branches": f"{api}/repository/branches",
            "labels": f"{api}/labels",
        },
        "empty_repo": False,
        "archived": False,
        "visibility": "private",
        "merge_method": "merge",
        "squash_option": "default_off",
        "only_allow_merge_if_pipeline_succeeds": repo.require_checks,
        "allow_merge_on_skipped_pipeline": False,
        "remove_source_branch_after_merge": False,
        "merge_requests_enabled": True,
        "jobs_enabled": True,
        "permissions": {"project_access": {"access_level": 40}, "group_access": None},
    }


def commit_json(sim: ForgeSim, repo: Repo, sha: str) -> dict[str, Any]:
    info = repo.git.commit_info(sha)
    message = info["message"]
    pipeline = repo.pipelines.get(sha)
    return {
        "id": sha,
        "short_id": sha[:8],
        "created_at": info["cd"],
        "parent_ids": info["parents"].split(),
        "title": message.split("\n", 1)[0],
        "message": message,
        "author_name": info["an"],
        "author_email": info["ae"],
        "authored_date": info["ad"],
        "committer_name": info["cn"],
        "committer_email": info["ce"],
        "committed_date": info["cd"],
        "trailers": {},
        "web_url": f"{sim.url}/{repo.full_name}/-/commit/{sha}",
        "url": f"{sim.url}/{repo.full_name}/-/commit/{sha}",
        "stats": {"additions": 0, "deletions": 0, "total": 0},
        "status": pipeline_status(repo, pipeline) if pipeline else None,
        "last_pipeline": pipeline_json(sim, repo, pipeline) if pipeline else None,
        "project_id": repo.id,
    }


def pipeline_status(repo: Repo, pipeline: Pipeline) -> str:
    statuses = repo.latest_statuses(pipeline.sha)
    state = repo.combined_state(pipeline.sha)
    if state == "pending":
        return "running" if any(s.native == "running" for s in statuses) else "pending"
    if state == "failure":
        natives = {s.native for s in statuses if s.state in ("failure", "error")}
        return "canceled" if natives == {"canceled"} else "failed"
    return "success" if state == "success" else "created"


def pipeline_json(sim: ForgeSim, repo: Repo, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "id": pipeline.id,
        "iid": pipeline.id,
        "project_id": repo.id,
        "sha": pipeline.sha,
        "ref": pipeline.ref,
        "status": pipeline_status(repo, pipeline),
        "source": "external",
        "created_at": iso(pipeline.created_at),
        "updated_at": iso(time.time()),
        "web_url": f"{sim.url}/{repo.full_name}/-/pipelines/{pipeline.id}",
    }


def pipeline_detail_json(sim: ForgeSim, repo: Repo, pipeline: Pipeline) -> dict[str, Any]:
    """The single-pipeline shape (``GET /pipelines/:id``, an MR's ``head_pipeline``)."""
    body = pipeline_json(sim, repo, pipeline)
    status = body["status"]
    finished = status in ("success", "failed", "canceled")
    parents = repo.git.commit_info(pipeline.sha)["parents"].split()
    return {
        **body,
        "before_sha": parents[0] if parents else "0" * 40,
        "tag": False,
        "yaml_errors": None,
        "user": user_json(sim, "bumper-bot"),
        "started_at": body["created_at"],
        "finished_at": body["updated_at"] if finished else None,
        "committed_at": None,
        "duration": 0 if finished else None,
        "queued_duration": None,
        "coverage": None,
        "detailed_status": {
            "icon": f"status_{status}",
            "text": status,
            "label": status,
            "group": status,
            "tooltip": status,
            "has_details": False,
            "details_path": f"/{repo.full_name}/-/pipelines/{pipeline.id}",
            "illustration": None,
            "favicon": f"favicon_status_{status}",
        },
    }


def branch_json(sim: ForgeSim, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    commit = commit_json(sim, repo, sha)
    return {
        "name": name,
        "merged": False,
        "protected": name == repo.default_branch,
        "default": name == repo.default_branch,
        "developers_can_push": False,
        "developers_can_merge": False,
        "can_push": True,
        "web_url": f"{sim.url}/{repo.full_name}/-/tree/{name}",
        "commit": {k: commit[k] for k in commit if k not in ("last_pipeline", "stats", "status")},
    }


def _detailed_status(change: ChangeRequest, mergeable: bool | None, head: str | None) -> str:
    if change.state != "open":
        return "not_open"
    if change.draft:
        return "draft_status"
    if mergeable is False:
        return "conflict"
    pipeline = change.repo.pipelines.get(head or "")
    state = change.repo.combined_state(head) if head and pipeline else None
    if state == "pending":
        return "ci_still_running"
    if state == "failure" and change.repo.require_checks:
        return "ci_must_pass"
    if state is None and change.repo.require_checks:
        return "ci_must_pass"
    return "mergeable"


def mr_json(sim: ForgeSim, change: ChangeRequest) -> dict[str, Any]:
    repo = change.repo
    head = change.head_sha()
    base_sha = repo.git.sha(change.base)
    mergeable = merging.mergeable(change) if change.state == "open" else None
    pipeline = repo.pipelines.get(head or "")
    pipeline_body = pipeline_json(sim, repo, pipeline) if pipeline else None
    state = {"open": "opened", "closed": "closed", "merged": "merged"}[change.state]
    merged_by = user_json(sim, change.author) if change.state == "merged" else None
    commits = repo.git.diff_stats(base_sha, head)[0] if head and base_sha else 0
    return {
        "id": change.id,
        "iid": change.number,
        "project_id": repo.id,
        "title": change.title,
        "description": change.body,
        "state": state,
        "created_at": iso(change.created_at),
        "updated_at": iso(change.updated_at),
        "merged_by": merged_by,
        "merge_user": merged_by,
        "merged_at": iso(change.merged_at),
        "closed_by": user_json(sim, change.author) if change.state == "closed" else None,
        "closed_at": iso(change.closed_at) if change.state == "closed" else None,
        "target_branch": change.base,
        "source_branch": change.head,
        "user_notes_count": sum(1 for c in change.comments),
        "upvotes": 0,
        "downvotes": 0,
        "author": user_json(sim, change.author),
        "assignee": None,
        "assignees": [],
        "reviewers": [user_json(sim, r) for r in change.reviewers],
        "source_project_id": repo.id,
        "target_project_id": repo.id,
        "labels": list(change.labels),
        "draft": change.draft,
        "work_in_progress": change.draft,
        "milestone": None,
        "merge_when_pipeline_succeeds": bool(change.auto_merge),
        "merge_status": {True: "can_be_merged", False: "cannot_be_merged"}.get(
            mergeable, "unchecked"
        )
        if mergeable is not None
        else "unchecked",
        "detailed_merge_status": _detailed_status(change, mergeable, head),
        "sha": head,
        "merge_commit_sha": change.merge_commit_sha if change.state == "merged" else None,
        "squash_commit_sha": None,
        "discussion_locked": None,
        "should_remove_source_branch": None,
        "force_remove_source_branch": False,
        "allow_collaboration": False,
        "allow_maintainer_to_push": False,
        "reference": f"!{change.number}",
        "references": {
            "short": f"!{change.number}",
            "relative": f"!{change.number}",
            "full": f"{repo.full_name}!{change.number}",
        },
        "web_url": f"{sim.url}/{repo.full_name}/-/merge_requests/{change.number}",
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "squash": False,
        "squash_on_merge": False,
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": mergeable is False,
        "blocking_discussions_resolved": True,
        "approvals_before_merge": None,
        "subscribed": True,
        "changes_count": str(commits),
        "latest_build_started_at": pipeline_body["created_at"] if pipeline_body else None,
        "latest_build_finished_at": None,
        "first_deployed_to_production_at": None,
        "pipeline": pipeline_body,
        "head_pipeline": pipeline_detail_json(sim, repo, pipeline) if pipeline else None,
        "diff_refs": {"base_sha": base_sha, "head_sha": head, "start_sha": base_sha},
        "merge_error": None,
        "first_contribution": False,
        "diverged_commits_count": 0,
        "user": {"can_merge": True},
    }


def _mr(sim: ForgeSim, pid: str, iid: str) -> ChangeRequest:
    change = _project(sim, pid).changes.get(int(iid))
    if change is None:
        raise ApiError(404, "404 Not found")
    return change


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _list(req: Request, items: list[Any]) -> Response:
    per_page = min(int(req.query.get("per_page", 20)), 100)
    page = int(req.query.get("page", 1))
    chunk = items[(page - 1) * per_page : page * per_page]
    pages = max(1, -(-len(items) // per_page))
    headers = [
        ("X-Page", str(page)),
        ("X-Per-Page", str(per_page)),
        ("X-Total", str(len(items))),
        ("X-Total-Pages", str(pages)),
        ("X-Next-Page", str(page + 1) if page < pages else ""),
        ("X-Prev-Page", str(page - 1) if page > 1 else ""),
    ]
    return Response(200, chunk, headers)


# -- users and projects ----------------------------------------------------------------------


@route("gitlab", "GET", r"^/api/v4/user")
def current_user(sim: ForgeSim, req: Request) -> Response:
    assert req.user
    return Response(200, user_json(sim, req.user.login))


@route("gitlab", "GET", r"^/api/v4/users")
def list_users(sim: ForgeSim, req: Request) -> Response:
    wanted = req.query.get("username")
    logins = [wanted] if wanted and wanted in sim.users else ([] if wanted else list(sim.users))
    return _list(req, [user_json(sim, login) for login in logins])


@route("gitlab", "GET", P)
def get_project(sim: ForgeSim, req: Request, pid: str) -> Response:
    return Response(200, project_json(sim, _project(sim, pid)))


# -- branches, commits, statuses, pipelines --------------------------------------------------


@route("gitlab", "GET", P + r"/repository/branches")
def list_branches(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    items = [branch_json(sim, repo, b, sha) for b, sha in sorted(repo.git.branches().items())]
    return _list(req, items)


@route("gitlab", "GET", P + r"/repository/branches/(?P<branch>[^/]+)")
def get_branch(sim: ForgeSim, req: Request, pid: str, branch: str) -> Response:
    repo, name = _project(sim, pid), unquote(branch)
    sha = repo.git.sha(name)
    if sha is None:
        raise ApiError(404, "404 Branch Not Found")
    return Response(200, branch_json(sim, repo, name, sha))


@route("gitlab", "POST", P + r"/repository/branches")
def create_branch(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    name, sha = str(data.get("branch", "")), repo.git.resolve(str(data.get("ref", "")))
    if not name or sha is None:
        raise ApiError(400, "Invalid reference name")
    if not repo.git.update_ref(name, sha, None):
        raise ApiError(400, "Branch already exists")
    return Response(201, branch_json(sim, repo, name, sha))


@route("gitlab", "DELETE", P + r"/repository/branches/(?P<branch>[^/]+)")
def delete_branch(sim: ForgeSim, req: Request, pid: str, branch: str) -> Response:
    repo, name = _project(sim, pid), unquote(branch)
    if repo.git.sha(name) is None:
        raise ApiError(404, "404 Branch Not Found")
    repo.git.delete_branch(name)
    return Response(204)


@route("gitlab", "GET", P + r"/repository/commits/(?P<ref>[^/]+)")
def get_commit(sim: ForgeSim, req: Request, pid: str, ref: str) -> Response:
    repo = _project(sim, pid)
    sha = repo.git.resolve(unquote(ref))
    if sha is None:
        raise ApiError(404, "404 Commit Not Found")
    return Response(200, commit_json(sim, repo, sha))


def status_json(sim: ForgeSim, repo: Repo, status: Any) -> dict[str, Any]:
    return {
        "id": status.id,
        "sha": status.sha,
        "ref": status.ref,
        "status": status.native or _NATIVE[status.state],
        "name": status.context,
        "target_url": status.target_url,
        "description": status.description,
        "created_at": iso(status.created_at),
        "started_at": iso(status.created_at),
        "finished_at": None if status.state == "pending" else iso(status.created_at),
        "allow_failure": False,
        "coverage": None,
        "pipeline_id": repo.pipelines[status.sha].id if status.sha in repo.pipelines else None,
        "author": user_json(sim, "bumper-bot"),
    }


@route("gitlab", "GET", P + r"/repository/commits/(?P<sha>[^/]+)/statuses")
def list_statuses(sim: ForgeSim, req: Request, pid: str, sha: str) -> Response:
    repo = _project(sim, pid)
    full = repo.git.resolve(sha)
    if full is None:
        raise ApiError(404, "404 Commit Not Found")
    statuses = (
        repo.latest_statuses(full)
        if not _truthy(req.query.get("all"))
        else [s for s in repo.statuses if s.sha == full]
    )
    return _list(req, [status_json(sim, repo, s) for s in statuses])


@route("gitlab", "POST", P + r"/statuses/(?P<sha>[0-9a-f]{40})")
def create_status(sim: ForgeSim, req: Request, pid: str, sha: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    state = str(data.get("state", ""))
    if state not in ("pending", "running", "success", "failed", "canceled"):
        raise ApiError(400, "state does not have a valid value")
    if repo.git.resolve(sha) is None:
        raise ApiError(404, "404 Commit Not Found")
    status = sim.set_status(
        repo.full_name,
        sha,
        state,
        str(data.get("name") or data.get("context") or "default"),
        str(data.get("description") or ""),
        ref=data.get("ref"),
        target_url=data.get("target_url"),
    )
    return Response(201, status_json(sim, repo, status))


@route("gitlab", "GET", P + r"/pipelines")
def list_pipelines(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    items = [
        pipeline_json(sim, repo, p)
        for p in sorted(repo.pipelines.values(), key=lambda p: -p.id)
        if req.query.get("sha") in (None, p.sha) and req.query.get("ref") in (None, p.ref)
    ]
    if "status" in req.query:
        items = [p for p in items if p["status"] == req.query["status"]]
    return _list(req, items)


@route("gitlab", "GET", P + r"/pipelines/(?P<pipeline_id>\d+)")
def get_pipeline(sim: ForgeSim, req: Request, pid: str, pipeline_id: str) -> Response:
    repo = _project(sim, pid)
    for pipeline in repo.pipelines.values():
        if pipeline.id == int(pipeline_id):
            return Response(200, pipeline_detail_json(sim, repo, pipeline))
    raise ApiError(404, "404 Not found")


# -- labels ----------------------------------------------------------------------------------


def label_json(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "name": label.name,
        "color": f"#{label.color}",
        "text_color": "#333333",
        "description": label.description,
        "priority": None,
        "is_project_label": True,
    }


@route("gitlab", "GET", P + r"/labels")
def list_labels(sim: ForgeSim, req: Request, pid: str) -> Response:
    return _list(req, [label_json(lb) for lb in _project(sim, pid).labels.values()])


@route("gitlab", "POST", P + r"/labels")
def create_label(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    name = str(data.get("name", ""))
    if not name or name in repo.labels:
        raise ApiError(409, "Label already exists")
    label = Label(sim.next_id(), name, str(data.get("color", "#ededed")).lstrip("#"))
    repo.labels[name] = label
    return Response(201, label_json(label))


def _ensure_labels(sim: ForgeSim, repo: Repo, names: list[str]) -> None:
    for name in names:
        repo.labels.setdefault(name, Label(sim.next_id(), name))


# -- merge requests --------------------------------------------------------------------------


@route("gitlab", "GET", P + r"/merge_requests")
def list_mrs(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, q = _project(sim, pid), req.query
    state = q.get("state", "all")
    wanted_labels = set(_as_list(q.get("labels")))
    items = []
    for change in sorted(repo.changes.values(), key=lambda c: -c.number):
        public = {"open": "opened", "closed": "closed", "merged": "merged"}[change.state]
        if state != "all" and public != state:
            continue
        if q.get("source_branch") not in (None, change.head):
            continue
        if q.get("target_branch") not in (None, change.base):
            continue
        if not wanted_labels <= set(change.labels):
            continue
        items.append(mr_json(sim, change))
    return _list(req, items)


@route("gitlab", "POST", P + r"/merge_requests")
def create_mr(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    head, base = str(data.get("source_branch", "")), str(data.get("target_branch", ""))
    title = str(data.get("title", ""))
    if not (head and base and title):
        raise ApiError(400, "source_branch, target_branch, title are missing")
    if repo.git.sha(head) is None or repo.git.sha(base) is None:
        raise ApiError(400, "Invalid source or target branch")
    existing = repo.open_change_for(head, base)
    if existing:
        message = (
            f"Another open merge request already exists for this source branch: !{existing.number}"
        )
        raise ApiError(409, message)
    assert req.user
    change = ChangeRequest(
        number=repo.next_number,
        id=sim.next_id(),
        repo=repo,
        head=head,
        base=base,
        title=title,
        body=str(data.get("description") or ""),
        author=req.user.login,
        draft=title.lower().startswith(("draft:", "[draft]")),
    )
    change.labels = _as_list(data.get("labels"))
    _ensure_labels(sim, repo, change.labels)
    change.reviewers = _reviewers(sim, data.get("reviewer_ids"))
    repo.next_number += 1
    repo.changes[change.number] = change
    return Response(201, mr_json(sim, change))


def _reviewers(sim: ForgeSim, ids: Any) -> list[str]:
    by_id = {user.id: login for login, user in sim.users.items()}
    logins = []
    for raw in _as_list(ids):
        if not raw.isdigit() or int(raw) not in by_id:
            raise ApiError(400, f"reviewer_ids: user {raw} does not exist")
        logins.append(by_id[int(raw)])
    return logins


@route("gitlab", "GET", MR)
def get_mr(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    return Response(200, mr_json(sim, _mr(sim, pid, iid)))


@route("gitlab", "PUT", MR)
def update_mr(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change, data = _mr(sim, pid, iid), req.json()
    if "title" in data:
        change.title = str(data["title"])
    if "description" in data:
        change.body = str(data["description"] or "")
    if "target_branch" in data:
        change.base = str(data["target_branch"])
    if "labels" in data:
        change.labels = _as_list(data["labels"])
    for name in _as_list(data.get("add_labels")):
        if name not in change.labels:
            change.labels.append(name)
    remove = set(_as_list(data.get("remove_labels")))
    change.labels = [lb for lb in change.labels if lb not in remove]
    _ensure_labels(sim, change.repo, change.labels)
    if "reviewer_ids" in data:
        change.reviewers = _reviewers(sim, data["reviewer_ids"])
    event = data.get("state_event")
    if event == "close" and change.state == "open":
        change.head_sha()
        change.state, change.closed_at, change.auto_merge = "closed", time.time(), None
    elif event == "reopen" and change.state == "closed":
        change.state, change.closed_at = "open", None
    change.touch()
    return Response(200, mr_json(sim, change))


@route("gitlab", "PUT", MR + r"/merge")
def merge_mr(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change, data = _mr(sim, pid, iid), req.json()
    if change.state != "open":
        raise ApiError(405, "405 Method Not Allowed")
    head = change.head_sha()
    sha = data.get("sha")
    if sha and sha != head:
        raise ApiError(409, f"SHA does not match HEAD of source branch: {head}")
    wants_auto = _truthy(data.get("merge_when_pipeline_succeeds")) or _truthy(
        data.get("auto_merge")
    )
    repo = change.repo
    state = repo.combined_state(head) if head and head in repo.pipelines else None
    if state == "pending" and wants_auto:
        assert req.user
        change.auto_merge = {"flavour": "gitlab", "by": req.user.login, "method": "merge"}
        change.touch()
        return Response(200, mr_json(sim, change))
    message = data.get("merge_commit_message") or (
        f"Merge branch '{change.head}' into '{change.base}'\n\n{change.title}\n\n"
        f"See merge request {repo.full_name}!{change.number}"
    )
    try:
        method = "squash" if _truthy(data.get("squash")) else "merge"
        merging.merge(change, method=method, sha=sha, title=str(message), message="")
    except merging.MergeRefusal as refusal:
        status = {"sha": 409, "raced": 409, "conflict": 422}.get(refusal.kind, 405)
        text = "Branch cannot be merged" if status == 422 else str(refusal)
        raise ApiError(status, text) from None
    if _truthy(data.get("should_remove_source_branch")):
        repo.git.delete_branch(change.head)
    return Response(200, mr_json(sim, change))


@route("gitlab", "POST", MR + r"/cancel_merge_when_pipeline_succeeds")
def cancel_mwps(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change = _mr(sim, pid, iid)
    change.auto_merge = None
    return Response(201, mr_json(sim, change))


# -- notes -----------------------------------------------------------------------------------


def note_json(sim: ForgeSim, change: ChangeRequest, note: Comment) -> dict[str, Any]:
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "author": user_json(sim, note.author),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.created_at),
        "system": note.system,
        "noteable_id": change.id,
        "noteable_type": "MergeRequest",
        "noteable_iid": change.number,
        "project_id": change.repo.id,
        "resolvable": False,
        "confidential": False,
        "internal": False,
    }


@route("gitlab", "GET", MR + r"/notes")
def list_notes(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change = _mr(sim, pid, iid)
    return _list(req, [note_json(sim, change, n) for n in reversed(change.comments)])


@route("gitlab", "POST", MR + r"/notes")
def create_note(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change, data = _mr(sim, pid, iid), req.json()
    if not data.get("body"):
        raise ApiError(400, '400 (Bad request) "body" not given')
    assert req.user
    note = Comment(sim.next_id(), str(data["body"]), req.user.login)
    change.comments.append(note)
    change.touch()
    return Response(201, note_json(sim, change, note))
