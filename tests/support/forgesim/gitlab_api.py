"""GitLab v4 subset (under ``/api/v4``): what python-gitlab calls for a bump flow.

Projects, branches, commits (and their SSH signatures), commit statuses and the pipelines
they form, merge requests (list/create/update/close, merge with ``sha`` guard and
``merge_when_pipeline_succeeds`` / ``auto_merge``), MR notes, labels, reviewers (by user id),
user lookup and project members (``members/all``). Body shapes follow
``../shared/fixtures/forges/recorded/gitlab``. Project ids may be numeric or URL-encoded paths;
routes match the raw path, so ``group%2Fname`` is never split.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.forgesim import gitlab_render as render
from tests.support.forgesim import merging
from tests.support.forgesim.http import ApiError, Request, Response, route
from tests.support.forgesim.model import ROLE_LEVELS, ChangeRequest, Comment, Label, SimRepo

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim

P = r"^/api/v4/projects/(?P<pid>[^/]+)"
MR = P + r"/merge_requests/(?P<iid>\d+)"


def error_body(err: ApiError) -> dict[str, Any]:
    if err.errors:
        return {"message": {e.get("field", "base"): [e.get("code", "invalid")] for e in err.errors}}
    return {"message": err.message}


DESCRIPTION_LIMIT = 1_048_576


def _check_description(description: Any) -> None:
    """GitLab refuses a merge request description over 1 MiB of characters (400)."""
    if isinstance(description, str) and len(description) > DESCRIPTION_LIMIT:
        code = f"is too long (maximum is {DESCRIPTION_LIMIT} characters)"
        raise ApiError(400, "description is too long", [{"field": "description", "code": code}])


def _project(sim: ForgeSim, pid: str) -> SimRepo:
    return sim.repo_by_id(unquote(pid))


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
    return Response(200, render.user_json(sim, req.user.login))


@route("gitlab", "GET", r"^/api/v4/users")
def list_users(sim: ForgeSim, req: Request) -> Response:
    wanted = req.query.get("username")
    logins = [wanted] if wanted and wanted in sim.users else ([] if wanted else list(sim.users))
    return _list(req, [render.user_json(sim, login) for login in logins])


@route("gitlab", "GET", P)
def get_project(sim: ForgeSim, req: Request, pid: str) -> Response:
    return Response(200, render.project_json(sim, _project(sim, pid)))


# -- branches, commits, statuses, pipelines --------------------------------------------------


@route("gitlab", "GET", P + r"/repository/branches")
def list_branches(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    items = [
        render.branch_json(sim, repo, b, sha) for b, sha in sorted(repo.git.branches().items())
    ]
    return _list(req, items)


@route("gitlab", "GET", P + r"/repository/branches/(?P<branch>[^/]+)")
def get_branch(sim: ForgeSim, req: Request, pid: str, branch: str) -> Response:
    repo, name = _project(sim, pid), unquote(branch)
    sha = repo.git.sha(name)
    if sha is None:
        raise ApiError(404, "404 Branch Not Found")
    return Response(200, render.branch_json(sim, repo, name, sha))


@route("gitlab", "POST", P + r"/repository/branches")
def create_branch(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    name, sha = str(data.get("branch", "")), repo.git.resolve(str(data.get("ref", "")))
    if not name or sha is None:
        raise ApiError(400, "Invalid reference name")
    if not repo.git.update_ref(name, sha, None):
        raise ApiError(400, "Branch already exists")
    return Response(201, render.branch_json(sim, repo, name, sha))


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
    return Response(200, render.commit_json(sim, repo, sha))


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
    return _list(req, [render.status_json(sim, repo, s) for s in statuses])


@route("gitlab", "GET", P + r"/repository/commits/(?P<ref>[^/]+)/signature")
def get_signature(sim: ForgeSim, req: Request, pid: str, ref: str) -> Response:
    """GitLab's "Get signature of a commit", for SSH signatures (the only kind the simulator
    checks): 404 for an unsigned commit, as GitLab answers."""
    repo = _project(sim, pid)
    sha = repo.git.resolve(unquote(ref))
    if sha is None:
        raise ApiError(404, "404 Commit Not Found")
    status, principal = sim.signature(repo, sha)
    if status == "N":
        raise ApiError(404, "404 GPG Signature Not Found")
    return Response(200, render.signature_json(status, principal, repo.git.commit_info(sha)["ce"]))


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
    return Response(201, render.status_json(sim, repo, status))


@route("gitlab", "GET", P + r"/pipelines")
def list_pipelines(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    items = [
        render.pipeline_json(sim, repo, p)
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
            return Response(200, render.pipeline_detail_json(sim, repo, pipeline))
    raise ApiError(404, "404 Not found")


# -- labels ----------------------------------------------------------------------------------


@route("gitlab", "GET", P + r"/labels")
def list_labels(sim: ForgeSim, req: Request, pid: str) -> Response:
    return _list(req, [render.label_json(lb) for lb in _project(sim, pid).labels.values()])


@route("gitlab", "POST", P + r"/labels")
def create_label(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo, data = _project(sim, pid), req.json()
    name = str(data.get("name", ""))
    if not name or name in repo.labels:
        raise ApiError(409, "Label already exists")
    label = Label(sim.next_id(), name, str(data.get("color", "#ededed")).lstrip("#"))
    repo.labels[name] = label
    return Response(201, render.label_json(label))


def _ensure_labels(sim: ForgeSim, repo: SimRepo, names: list[str]) -> None:
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
        items.append(render.mr_json(sim, change))
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
    _check_description(data.get("description"))
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
    return Response(201, render.mr_json(sim, change))


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
    return Response(200, render.mr_json(sim, _mr(sim, pid, iid)))


@route("gitlab", "PUT", MR)
def update_mr(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change, data = _mr(sim, pid, iid), req.json()
    _check_description(data.get("description"))
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
    return Response(200, render.mr_json(sim, change))


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
        return Response(200, render.mr_json(sim, change))
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
    return Response(200, render.mr_json(sim, change))


@route("gitlab", "POST", MR + r"/cancel_merge_when_pipeline_succeeds")
def cancel_mwps(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change = _mr(sim, pid, iid)
    change.auto_merge = None
    return Response(201, render.mr_json(sim, change))


# -- members --------------------------------------------------------------------------------


@route("gitlab", "GET", P + r"/members/all/(?P<user_id>\d+)")
def member_all(sim: ForgeSim, req: Request, pid: str, user_id: str) -> Response:
    # Docs: the member with its ``access_level``, inherited memberships included; 404 if none.
    repo = _project(sim, pid)
    login = next((u.login for u in sim.users.values() if u.id == int(user_id)), None)
    role = sim.role(repo, login) if login else None
    if login is None or role is None:
        raise ApiError(404, "404 Not found")
    return Response(200, render.member_json(sim, login, ROLE_LEVELS[role]))


# -- notes -----------------------------------------------------------------------------------


@route("gitlab", "GET", MR + r"/notes")
def list_notes(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change = _mr(sim, pid, iid)
    return _list(req, [render.note_json(sim, change, n) for n in reversed(change.comments)])


@route("gitlab", "POST", MR + r"/notes")
def create_note(sim: ForgeSim, req: Request, pid: str, iid: str) -> Response:
    change, data = _mr(sim, pid, iid), req.json()
    if not data.get("body"):
        raise ApiError(400, '400 (Bad request) "body" not given')
    assert req.user
    note = Comment(sim.next_id(), str(data["body"]), req.user.login)
    change.comments.append(note)
    change.touch()
    return Response(201, render.note_json(sim, change, note))
