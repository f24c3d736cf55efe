"""GitHub REST subset (under ``/api/v3``) and the auto-merge GraphQL mutations (``/api/graphql``).

Bodies follow ``../shared/fixtures/forges/github-openapi-subset.json`` (the simulator's own tests
validate them) with the fields of the recorded responses. Only what PyGithub calls for a bump
flow is served: repo, branches, refs, commits, statuses, check runs, pulls, issue comments,
labels, requested reviewers, merge, rate limit, a collaborator's permission.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.forgesim import github_render as render
from tests.support.forgesim import merging
from tests.support.forgesim.http import ApiError, Request, Response, route
from tests.support.forgesim.model import (
    LEGACY_PERMISSION,
    ROLE_LEVELS,
    ChangeRequest,
    Comment,
    Label,
    SimRepo,
    iso,
)

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim

R = r"^/api/v3/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
DOCS = "https://docs.github.com/rest"


def error_body(err: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"message": err.message, "documentation_url": DOCS}
    if err.errors is not None:
        body["errors"] = err.errors
    body["status"] = str(err.status)
    return body


def _change(sim: ForgeSim, owner: str, name: str, number: str) -> ChangeRequest:
    repo = sim.repo(f"{owner}/{name}")
    change = repo.changes.get(int(number))
    if change is None:
        raise ApiError(404, "Not Found")
    return change


BODY_LIMIT = 65_536


def _check_body(body: Any) -> None:
    """GitHub refuses a pull request body over 65,536 characters (422, resource Issue)."""
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        message = f"body is too long (maximum is {BODY_LIMIT} characters)"
        error = {"resource": "Issue", "code": "custom", "field": "body", "message": message}
        raise ApiError(422, "Validation Failed", [error])


def _validation(message: str, resource: str, field: str, code: str = "invalid") -> ApiError:
    return ApiError(422, message, [{"resource": resource, "field": field, "code": code}])


# -- repository, branches, refs, commits -----------------------------------------------------


@route("github", "GET", R)
def get_repo(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    return Response(200, render.repo_json(sim, sim.repo(f"{owner}/{name}")))


@route("github", "GET", r"^/api/v3/user")
def get_user(sim: ForgeSim, req: Request) -> Response:
    assert req.user
    return Response(200, render.user_json(sim, req.user.login))


@route("github", "GET", r"^/api/v3/rate_limit")
def rate_limit(sim: ForgeSim, req: Request) -> Response:
    core = {"limit": 5000, "remaining": 5000 - len(sim.log), "reset": int(time.time()) + 3600}
    core["used"] = 5000 - core["remaining"]
    search = {"limit": 30, "remaining": 30, "reset": core["reset"], "used": 0}
    graphql = {"limit": 5000, "remaining": 5000, "reset": core["reset"], "used": 0}
    resources = {"core": core, "search": search, "graphql": graphql}
    return Response(200, {"resources": resources, "rate": core})


def _resolve(repo: SimRepo, ref: str) -> str:
    sha = repo.git.resolve(unquote(ref))
    if sha is None:
        raise ApiError(422 if not re.fullmatch(r"[0-9a-f]{4,40}", ref) else 404, "No commit found")
    return sha


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)")
def get_commit(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    return Response(200, render.commit_json(sim, repo, _resolve(repo, ref)))


@route("github", "GET", R + r"/branches")
def list_branches(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    items = [
        {"name": b, "commit": render.commit_short(sim, repo, sha), "protected": False}
        for b, sha in sorted(repo.git.branches().items())
    ]
    return Response(200, items)


@route("github", "GET", R + r"/branches/(?P<branch>.+)")
def get_branch(sim: ForgeSim, req: Request, owner: str, name: str, branch: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    branch = unquote(branch)
    sha = repo.git.sha(branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return Response(200, render.branch_json(sim, repo, branch, sha))


@route("github", "GET", R + r"/git/ref/heads/(?P<branch>.+)")
def get_ref(sim: ForgeSim, req: Request, owner: str, name: str, branch: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = repo.git.sha(unquote(branch))
    if sha is None:
        raise ApiError(404, "Not Found")
    return Response(200, render.ref_json(sim, repo, unquote(branch), sha))


@route("github", "GET", R + r"/git/refs(?:/heads)?")
def list_refs(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    return matching_refs(sim, req, owner, name, "")


@route("github", "GET", R + r"/git/matching-refs/heads/(?P<prefix>.*)")
def matching_refs(sim: ForgeSim, req: Request, owner: str, name: str, prefix: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    items = [
        render.ref_json(sim, repo, b, sha)
        for b, sha in sorted(repo.git.branches().items())
        if b.startswith(unquote(prefix))
    ]
    return Response(200, items)


@route("github", "POST", R + r"/git/refs")
def create_ref(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    ref, sha = str(data.get("ref", "")), str(data.get("sha", ""))
    if not ref.startswith("refs/heads/") or not repo.git.resolve(sha):
        raise _validation("Reference update failed", "Reference", "ref")
    branch = ref.removeprefix("refs/heads/")
    if not repo.git.update_ref(branch, sha, None):
        raise ApiError(422, "Reference already exists")
    body = render.ref_json(sim, repo, branch, sha)
    return Response(201, body, [("Location", body["url"])])


@route("github", "PATCH", R + r"/git/refs/heads/(?P<branch>.+)")
def update_ref(sim: ForgeSim, req: Request, owner: str, name: str, branch: str) -> Response:
    repo, data, branch = sim.repo(f"{owner}/{name}"), req.json(), unquote(branch)
    old, new = repo.git.sha(branch), str(data.get("sha", ""))
    if old is None or not repo.git.resolve(new):
        raise _validation("Reference does not exist", "Reference", "sha")
    if not data.get("force") and not repo.git.is_ancestor(old, new):
        raise ApiError(422, "Update is not a fast forward")
    if not repo.git.update_ref(branch, new, old):
        raise ApiError(409, "Reference cannot be updated")
    sim.after_push(repo)
    return Response(200, render.ref_json(sim, repo, branch, new))


@route("github", "DELETE", R + r"/git/refs/heads/(?P<branch>.+)")
def delete_ref(sim: ForgeSim, req: Request, owner: str, name: str, branch: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    if unquote(branch) == repo.default_branch:
        raise ApiError(422, "Cannot delete the default branch")
    if repo.git.sha(unquote(branch)) is None:
        raise ApiError(422, "Reference does not exist")
    repo.git.delete_branch(unquote(branch))
    return Response(204)


# -- statuses and checks ---------------------------------------------------------------------


@route("github", "POST", R + r"/statuses/(?P<sha>[0-9a-f]{40})")
def create_status(sim: ForgeSim, req: Request, owner: str, name: str, sha: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    state = data.get("state")
    if state not in ("pending", "success", "failure", "error"):
        raise _validation("Validation Failed", "SimStatus", "state")
    if repo.git.resolve(sha) is None:
        raise _validation(f"No commit found for SHA: {sha}", "SimStatus", "sha")
    status = sim.set_status(
        repo.full_name,
        sha,
        str(state),
        str(data.get("context") or "default"),
        str(data.get("description") or ""),
        target_url=data.get("target_url"),
    )
    return Response(201, render.status_json(sim, repo, status))


def _without_creator(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k != "creator"}


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)/status")
def combined_status(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = _resolve(repo, ref)
    statuses = repo.latest_statuses(sha)
    states = {s.state for s in statuses}
    if states & {"failure", "error"}:
        state = "failure"
    elif not statuses or "pending" in states:
        state = "pending"
    else:
        state = "success"
    body = {
        "state": state,
        "statuses": [
            {k: v for k, v in render.status_json(sim, repo, s).items() if k != "creator"}
            for s in statuses
        ],
        "sha": sha,
        "total_count": len(statuses),
        "repository": render.repo_json(sim, repo),
        "commit_url": f"{render.Urls(sim).repo(repo)}/commits/{sha}",
        "url": f"{render.Urls(sim).repo(repo)}/commits/{sha}/status",
    }
    return Response(200, body)


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)/statuses")
def list_statuses(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = _resolve(repo, ref)
    items = [render.status_json(sim, repo, s) for s in reversed(repo.statuses) if s.sha == sha]
    return Response(200, items)


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)/check-runs")
def check_runs(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = _resolve(repo, ref)
    api = render.Urls(sim).repo(repo)
    runs: list[dict[str, Any]] = [
        {
            "id": run.id,
            "node_id": render.node_id("CR_", run.id),
            "head_sha": sha,
            "name": run.name,
            "url": f"{api}/check-runs/{run.id}",
            "html_url": f"{sim.url}/{repo.full_name}/runs/{run.id}",
            "details_url": None,
            "external_id": None,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.created_at),
            "completed_at": iso(run.created_at) if run.status == "completed" else None,
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/check-runs/{run.id}/annotations",
            },
            "check_suite": {"id": run.id},
            "app": None,
            "pull_requests": [],
        }
        for run in repo.checks_for(sha)
    ]
    return Response(200, {"total_count": len(runs), "check_runs": runs})


# -- pull requests ---------------------------------------------------------------------------


@route("github", "GET", R + r"/pulls")
def list_pulls(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    state = req.query.get("state", "open")
    head = req.query.get("head")
    base = req.query.get("base")
    items = []
    for change in sorted(repo.changes.values(), key=lambda c: -c.number):
        public_state = "open" if change.state == "open" else "closed"
        if state != "all" and public_state != state:
            continue
        if head and f"{repo.owner}:{change.head}".lower() != head.lower() and head != change.head:
            continue
        if base and change.base != base:
            continue
        items.append(render.pr_json(sim, change, req))
    return _paginate(sim, req, items)


def _paginate(sim: ForgeSim, req: Request, items: list[Any]) -> Response:
    per_page = min(int(req.query.get("per_page", 30)), 100)
    page = int(req.query.get("page", 1))
    chunk = items[(page - 1) * per_page : page * per_page]
    headers: list[tuple[str, str]] = []
    last = max(1, -(-len(items) // per_page))
    if page < last:
        query = "&".join(f"{k}={v}" for k, v in req.query.items() if k != "page")
        link = f"{sim.url}{req.path}?{query}&page="
        headers.append(("Link", f'<{link}{page + 1}>; rel="next", <{link}{last}>; rel="last"'))
    return Response(200, chunk, headers)


@route("github", "POST", R + r"/pulls")
def create_pull(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    head = str(data.get("head", "")).split(":")[-1]
    base = str(data.get("base", ""))
    if not data.get("title"):
        raise _validation("Validation Failed", "PullRequest", "title", "missing_field")
    if repo.git.sha(head) is None:
        raise _validation("Validation Failed", "PullRequest", "head")
    if repo.git.sha(base) is None:
        raise _validation("Validation Failed", "PullRequest", "base")
    if repo.open_change_for(head, base):
        raise ApiError(
            422,
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{head}.",
                }
            ],
        )
    base_sha, head_sha = repo.git.sha(base), repo.git.sha(head)
    if base_sha == head_sha or (head_sha and base_sha and repo.git.is_ancestor(head_sha, base_sha)):
        raise ApiError(
            422,
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base} and {head}",
                }
            ],
        )
    _check_body(data.get("body"))
    assert req.user
    change = ChangeRequest(
        number=repo.next_number,
        id=sim.next_id(),
        repo=repo,
        head=head,
        base=base,
        title=str(data["title"]),
        body=str(data.get("body") or ""),
        author=req.user.login,
        draft=bool(data.get("draft", False)),
    )
    repo.next_number += 1
    repo.changes[change.number] = change
    body = render.pr_json(sim, change, req)
    return Response(201, body, [("Location", body["url"])])


@route("github", "GET", R + r"/pulls/(?P<number>\d+)")
def get_pull(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    return Response(200, render.pr_json(sim, _change(sim, owner, name, number)))


@route("github", "PATCH", R + r"/pulls/(?P<number>\d+)")
def update_pull(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
    _check_body(data.get("body"))
    if "title" in data:
        change.title = str(data["title"])
    if "body" in data:
        change.body = str(data["body"] or "")
    if "base" in data:
        change.base = str(data["base"])
    if data.get("state") == "closed" and change.state == "open":
        change.head_sha()
        change.state, change.closed_at, change.auto_merge = "closed", time.time(), None
    elif data.get("state") == "open" and change.state == "closed":
        if change.repo.open_change_for(change.head, change.base):
            raise ApiError(422, "A pull request already exists for this branch")
        change.state, change.closed_at = "open", None
    change.touch()
    return Response(200, render.pr_json(sim, change, req))


@route("github", "GET", R + r"/pulls/(?P<number>\d+)/merge")
def is_merged(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    merged = _change(sim, owner, name, number).state == "merged"
    return Response(204) if merged else Response(404, {"message": "Not Found"})


@route("github", "PUT", R + r"/pulls/(?P<number>\d+)/merge")
def merge_pull(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
    try:
        sha = merging.merge(
            change,
            method=str(data.get("merge_method") or "merge"),
            sha=data.get("sha"),
            title=data.get("commit_title"),
            message=data.get("commit_message"),
        )
    except merging.MergeRefusal as refusal:
        status = {"sha": 409, "raced": 409, "unsupported": 422, "missing": 422}.get(
            refusal.kind, 405
        )
        raise ApiError(status, str(refusal)) from None
    return Response(
        200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
    )


@route("github", "POST", R + r"/pulls/(?P<number>\d+)/requested_reviewers")
def request_reviewers(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
    wanted = [str(r) for r in data.get("reviewers") or []]
    unknown = [r for r in wanted if r not in sim.users or r == change.author]
    if unknown:
        raise ApiError(
            422,
            "Reviews may only be requested from collaborators. One or more of the users or "
            "teams you specified is not a collaborator of the "
            f"{change.repo.full_name} repository.",
        )
    for reviewer in wanted:
        if reviewer not in change.reviewers:
            change.reviewers.append(reviewer)
    change.touch()
    return Response(201, render.pr_json(sim, change, req))


@route("github", "GET", R + r"/pulls/(?P<number>\d+)/requested_reviewers")
def list_reviewers(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    return Response(
        200, {"users": [render.user_json(sim, r) for r in change.reviewers], "teams": []}
    )


# -- issues: comments and labels (a PR number is an issue number) ----------------------------


@route("github", "POST", R + r"/issues/(?P<number>\d+)/comments")
def create_comment(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
    if not data.get("body"):
        raise _validation("Validation Failed", "IssueComment", "body", "missing_field")
    assert req.user
    comment = Comment(sim.next_id(), str(data["body"]), req.user.login)
    change.comments.append(comment)
    change.touch()
    return Response(201, render.comment_json(sim, change, comment))


@route("github", "GET", R + r"/issues/(?P<number>\d+)/comments")
def list_comments(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    items = [render.comment_json(sim, change, c) for c in change.comments if not c.system]
    return _paginate(sim, req, items)


@route("github", "GET", R + r"/collaborators/(?P<login>[^/]+)/permission")
def collaborator_permission(
    sim: ForgeSim, req: Request, owner: str, name: str, login: str
) -> Response:
    # Docs: 200 with the legacy ``permission`` (admin, write, read, none) and ``role_name``;
    # 404 for a login that is no user at all. A user without a role on the repo reads "none".
    repo, login = sim.repo(f"{owner}/{name}"), unquote(login)
    if login not in sim.users:
        raise ApiError(404, "Not Found")
    role = sim.role(repo, login)
    permission = LEGACY_PERMISSION.get(role or "", "none")
    body: dict[str, Any] = {"permission": permission, "role_name": role or "none", "user": None}
    if role is not None:
        body["user"] = {**render.user_json(sim, login), "permissions": _permissions(role)}
    return Response(200, body)


def _permissions(role: str) -> dict[str, bool]:
    rank = ROLE_LEVELS[role]
    return {
        "admin": rank >= ROLE_LEVELS["admin"],
        "maintain": rank >= ROLE_LEVELS["maintain"],
        "push": rank >= ROLE_LEVELS["write"],
        "triage": rank >= ROLE_LEVELS["triage"],
        "pull": True,
    }


def _label_names(data: dict[str, Any]) -> list[str]:
    raw = data.get("labels", data.get("_list", []))
    return [str(item["name"] if isinstance(item, dict) else item) for item in raw]


@route("github", "GET", R + r"/issues/(?P<number>\d+)/labels")
def issue_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    repo = change.repo
    return Response(
        200,
        [render.label_json(sim, repo, render.ensure_label(sim, repo, n)) for n in change.labels],
    )


@route("github", "POST", R + r"/issues/(?P<number>\d+)/labels")
def add_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    for label in _label_names(req.json()):
        render.ensure_label(sim, change.repo, label)
        if label not in change.labels:
            change.labels.append(label)
    change.touch()
    return issue_labels(sim, req, owner, name, number)


@route("github", "PUT", R + r"/issues/(?P<number>\d+)/labels")
def set_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    change.labels = []
    for label in _label_names(req.json()):
        render.ensure_label(sim, change.repo, label)
        change.labels.append(label)
    change.touch()
    return issue_labels(sim, req, owner, name, number)


@route("github", "GET", R + r"/labels")
def list_labels(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    return _paginate(sim, req, [render.label_json(sim, repo, lb) for lb in repo.labels.values()])


@route("github", "POST", R + r"/labels")
def create_label(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    label_name, color = str(data.get("name", "")), str(data.get("color", "ededed"))
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise _validation("Validation Failed", "Label", "color")
    if not label_name or label_name in repo.labels:
        raise _validation("Validation Failed", "Label", "name", "already_exists")
    repo.labels[label_name] = Label(sim.next_id(), label_name, color, data.get("description"))
    return Response(201, render.label_json(sim, repo, repo.labels[label_name]))


# -- GraphQL: auto-merge ---------------------------------------------------------------------


def graphql(sim: ForgeSim, req: Request) -> Response:
    data = req.json()
    query = str(data.get("query", ""))
    arguments = (data.get("variables") or {}).get("input") or {}
    m = re.search(r"\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\b", query)
    if not m:
        return Response(200, {"errors": [{"message": "forgesim serves only auto-merge mutations"}]})
    change = next(
        (
            c
            for repo in sim.repos.values()
            for c in repo.changes.values()
            if render.node_id("PR_", c.id) == arguments.get("pullRequestId")
        ),
        None,
    )
    if change is None:
        return Response(200, _gql_error("NOT_FOUND", "Could not resolve to a node"))
    if m[1] == "disablePullRequestAutoMerge":
        change.auto_merge = None
        return Response(200, {"data": {m[1]: {"clientMutationId": None}}})
    return Response(200, _enable_auto_merge(sim, req, change, arguments, m[1]))


def _enable_auto_merge(
    sim: ForgeSim, req: Request, change: ChangeRequest, args: dict[str, Any], mutation: str
) -> dict[str, Any]:
    if change.state != "open":
        return _gql_error("UNPROCESSABLE", "Pull request is closed")
    expected = args.get("expectedHeadOid")
    if expected and expected != change.head_sha():
        return _gql_error("UNPROCESSABLE", "Head sha didn't match expected head oid")
    # GitHub arms auto-merge only while protection requirements are unmet ("blocked")
    state = render.mergeable_state(change, merging.mergeable(change), change.head_sha())
    if state in ("clean", "unstable"):
        return _gql_error("UNPROCESSABLE", f"Pull request is in {state} status")
    assert req.user
    change.auto_merge = {
        "flavour": "github",
        "by": req.user.login,
        "method": str(args.get("mergeMethod", "MERGE")).lower(),
        "title": str(args.get("commitHeadline") or ""),
        "message": str(args.get("commitBody") or ""),
    }
    change.touch()
    merging.evaluate(sim, change.repo)
    actor = {"login": req.user.login, "avatarUrl": "", "resourcePath": "", "url": ""}
    return {"data": {mutation: {"actor": actor, "clientMutationId": None}}}


def _gql_error(kind: str, message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"type": kind, "message": message}]}
