"""GitHub REST subset (under ``/api/v3``) and the auto-merge GraphQL mutations (``/api/graphql``).

Bodies follow ``../shared/fixtures/forges/github-openapi-subset.json`` (the simulator's own tests
validate them) with the fields of the recorded responses. Only what PyGithub calls for a bump
flow is served: repo, branches, refs, commits, statuses, check runs, pulls, issue comments,
labels, requested reviewers, merge, rate limit.
"""

from __future__ import annotations

import base64
import html
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.forgesim import merging
from tests.support.forgesim.http import ApiError, Request, Response, route
from tests.support.forgesim.model import ChangeRequest, Comment, Label, Repo, iso

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


def _node(kind: str, ident: int) -> str:
    return base64.b64encode(f"{kind}{ident}".encode()).decode()


class Urls:
    """URL builders rooted at the simulator's own address."""

    def __init__(self, sim: ForgeSim) -> None:
        self.api = sim.github_api_url
        self.web = sim.url

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"


def user_json(sim: ForgeSim, login: str) -> dict[str, Any]:
    user = sim.users.get(login) or sim.add_user(login)
    api = f"{sim.github_api_url}/users/{login}"
    return {
        "login": login,
        "id": user.id,
        "node_id": _node("U_", user.id),
        "avatar_url": f"{sim.url}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{sim.url}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "site_admin": False,
    }


_REPO_URL_KEYS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repo_json(sim: ForgeSim, repo: Repo) -> dict[str, Any]:
    base = Urls(sim).repo(repo)
    now = iso(time.time())
    open_count = sum(1 for c in repo.changes.values() if c.state == "open")
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": _node("R_", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": user_json(sim, repo.owner),
        "html_url": f"{sim.url}/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": base,
        **{key: base + suffix for key, suffix in _REPO_URL_KEYS.items()},
        "created_at": now,
        "updated_at": now,
        "pushed_at": now,
        "git_url": f"git://127.0.0.1/{repo.full_name}.git",
        "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
        "clone_url": sim.clone_url(repo.full_name),
        "svn_url": f"{sim.url}/{repo.full_name}",
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": False,
        "has_downloads": False,
        "has_wiki": False,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": open_count,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "forks": 0,
        "open_issues": open_count,
        "watchers": 0,
        "default_branch": repo.default_branch,
        "permissions": {
            "admin": True,
            "maintain": True,
            "push": True,
            "triage": True,
            "pull": True,
        },
        "temp_clone_token": "",
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_rebase_merge": False,
        "allow_auto_merge": True,
        "delete_branch_on_merge": False,
        "allow_update_branch": False,
        "use_squash_pr_title_as_default": False,
        "organization": user_json(sim, repo.owner) | {"type": "Organization"},
        "network_count": 0,
        "subscribers_count": 0,
    }
    return body


def label_json(sim: ForgeSim, repo: Repo, label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "node_id": _node("LA_", label.id),
        "url": f"{Urls(sim).repo(repo)}/labels/{label.name}",
        "name": label.name,
        "color": label.color,
        "default": False,
        "description": label.description,
    }


def _ensure_label(sim: ForgeSim, repo: Repo, name: str) -> Label:
    if name not in repo.labels:
        repo.labels[name] = Label(sim.next_id(), name)
    return repo.labels[name]


def _branch_side(sim: ForgeSim, repo: Repo, ref: str, sha: str | None) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{ref}",
        "ref": ref,
        "sha": sha or "0" * 40,
        "user": user_json(sim, repo.owner),
        "repo": repo_json(sim, repo),
    }


def _full_media(req: Request) -> bool:
    """``Accept: application/vnd.github.full+json`` (or html/text) adds rendered bodies."""
    accept = req.headers.get("accept", "")
    return any(f"{kind}+json" in accept for kind in ("full", "html", "text"))


def pr_json(sim: ForgeSim, change: ChangeRequest, req: Request | None = None) -> dict[str, Any]:
    body = _pr_json(sim, change)
    if req is not None and _full_media(req):
        text = change.body or ""
        body["body_text"] = text
        body["body_html"] = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p)
    return body


def _pr_json(sim: ForgeSim, change: ChangeRequest) -> dict[str, Any]:
    repo = change.repo
    api = Urls(sim).repo(repo)
    html = f"{sim.url}/{repo.full_name}/pull/{change.number}"
    head_sha = change.head_sha()
    base_sha = repo.git.sha(change.base)
    mergeable = merging.mergeable(change) if change.state == "open" else None
    commits = adds = dels = files = 0
    if head_sha and base_sha:
        commits, adds, dels, files = repo.git.diff_stats(base_sha, head_sha)
    links = {
        "self": f"{api}/pulls/{change.number}",
        "html": html,
        "issue": f"{api}/issues/{change.number}",
        "comments": f"{api}/issues/{change.number}/comments",
        "review_comments": f"{api}/pulls/{change.number}/comments",
        "review_comment": f"{api}/pulls/comments{{/number}}",
        "commits": f"{api}/pulls/{change.number}/commits",
        "statuses": f"{api}/statuses/{head_sha}",
    }
    return {
        "url": links["self"],
        "id": change.id,
        "node_id": _node("PR_", change.id),
        "html_url": html,
        "diff_url": html + ".diff",
        "patch_url": html + ".patch",
        "issue_url": links["issue"],
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": change.number,
        "state": "open" if change.state == "open" else "closed",
        "locked": False,
        "title": change.title,
        "user": user_json(sim, change.author),
        "body": change.body or None,
        "labels": [label_json(sim, repo, _ensure_label(sim, repo, n)) for n in change.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(change.created_at),
        "updated_at": iso(change.updated_at),
        "closed_at": iso(change.closed_at),
        "merged_at": iso(change.merged_at),
        "merge_commit_sha": change.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user_json(sim, r) for r in change.reviewers],
        "requested_teams": [],
        "head": _branch_side(sim, repo, change.head, head_sha),
        "base": _branch_side(sim, repo, change.base, base_sha),
        "_links": {k: {"href": v} for k, v in links.items()},
        "author_association": "OWNER",
        "auto_merge": _auto_merge_json(sim, change),
        "draft": change.draft,
        "merged": change.state == "merged",
        "mergeable": mergeable,
        "rebaseable": False,
        "mergeable_state": _mergeable_state(change, mergeable, head_sha),
        "merged_by": user_json(sim, change.author) if change.state == "merged" else None,
        "comments": sum(1 for c in change.comments if not c.system),
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": commits,
        "additions": adds,
        "deletions": dels,
        "changed_files": files,
    }


def _auto_merge_json(sim: ForgeSim, change: ChangeRequest) -> dict[str, Any] | None:
    if not change.auto_merge:
        return None
    return {
        "enabled_by": user_json(sim, change.auto_merge.get("by", change.author)),
        "merge_method": change.auto_merge.get("method", "merge"),
        "commit_title": change.auto_merge.get("title", ""),
        "commit_message": change.auto_merge.get("message", ""),
    }


def _mergeable_state(change: ChangeRequest, mergeable: bool | None, head: str | None) -> str:
    if change.state != "open":
        return "unknown"
    if mergeable is None:
        return "unknown"
    if not mergeable:
        return "dirty"
    state = change.repo.combined_state(head) if head else None
    if state in (None, "success"):
        return "clean" if state == "success" or not change.repo.require_checks else "blocked"
    return "blocked" if change.repo.require_checks else "unstable"


def _change(sim: ForgeSim, owner: str, name: str, number: str) -> ChangeRequest:
    repo = sim.repo(f"{owner}/{name}")
    change = repo.changes.get(int(number))
    if change is None:
        raise ApiError(404, "Not Found")
    return change


def _validation(message: str, resource: str, field: str, code: str = "invalid") -> ApiError:
    return ApiError(422, message, [{"resource": resource, "field": field, "code": code}])


# -- repository, branches, refs, commits -----------------------------------------------------


@route("github", "GET", R)
def get_repo(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    return Response(200, repo_json(sim, sim.repo(f"{owner}/{name}")))


@route("github", "GET", r"^/api/v3/user")
def get_user(sim: ForgeSim, req: Request) -> Response:
    assert req.user
    return Response(200, user_json(sim, req.user.login))


@route("github", "GET", r"^/api/v3/rate_limit")
def rate_limit(sim: ForgeSim, req: Request) -> Response:
    core = {"limit": 5000, "remaining": 5000 - len(sim.log), "reset": int(time.time()) + 3600}
    core["used"] = 5000 - core["remaining"]
    search = {"limit": 30, "remaining": 30, "reset": core["reset"], "used": 0}
    graphql = {"limit": 5000, "remaining": 5000, "reset": core["reset"], "used": 0}
    resources = {"core": core, "search": search, "graphql": graphql}
    return Response(200, {"resources": resources, "rate": core})


def _commit_short(sim: ForgeSim, repo: Repo, sha: str) -> dict[str, Any]:
    return {"sha": sha, "url": f"{Urls(sim).repo(repo)}/commits/{sha}"}


def commit_json(sim: ForgeSim, repo: Repo, sha: str) -> dict[str, Any]:
    info = repo.git.commit_info(sha)
    api = Urls(sim).repo(repo)
    html = f"{sim.url}/{repo.full_name}/commit/{sha}"
    return {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "node_id": _node("C_", int(sha[:7], 16)),
        "html_url": html,
        "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{sha}",
            "author": {"name": info["an"], "email": info["ae"], "date": info["ad"]},
            "committer": {"name": info["cn"], "email": info["ce"], "date": info["cd"]},
            "message": info["message"].rstrip("\n"),
            "comment_count": 0,
            "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "payload": None,
                "signature": None,
                "verified_at": None,
            },
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{sim.url}/commit/{p}"}
            for p in info["parents"].split()
        ],
    }


def _resolve(repo: Repo, ref: str) -> str:
    sha = repo.git.resolve(unquote(ref))
    if sha is None:
        raise ApiError(422 if not re.fullmatch(r"[0-9a-f]{4,40}", ref) else 404, "No commit found")
    return sha


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)")
def get_commit(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    return Response(200, commit_json(sim, repo, _resolve(repo, ref)))


def branch_json(sim: ForgeSim, repo: Repo, branch: str, sha: str) -> dict[str, Any]:
    api = Urls(sim).repo(repo)
    return {
        "name": branch,
        "commit": commit_json(sim, repo, sha),
        "_links": {
            "html": f"{sim.url}/{repo.full_name}/tree/{branch}",
            "self": f"{api}/branches/{branch}",
        },
        "protected": False,
        "protection": {"enabled": False},
        "protection_url": f"{api}/branches/{branch}/protection",
    }


@route("github", "GET", R + r"/branches")
def list_branches(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    items = [
        {"name": b, "commit": _commit_short(sim, repo, sha), "protected": False}
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
    return Response(200, branch_json(sim, repo, branch, sha))


def ref_json(sim: ForgeSim, repo: Repo, branch: str, sha: str) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "node_id": _node("REF_", abs(hash((repo.id, branch))) % 10**9),
        "url": f"{Urls(sim).repo(repo)}/git/refs/heads/{branch}",
        "object": {
            "sha": sha,
            "type": "commit",
            "url": f"{Urls(sim).repo(repo)}/git/commits/{sha}",
        },
    }


@route("github", "GET", R + r"/git/ref/heads/(?P<branch>.+)")
def get_ref(sim: ForgeSim, req: Request, owner: str, name: str, branch: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = repo.git.sha(unquote(branch))
    if sha is None:
        raise ApiError(404, "Not Found")
    return Response(200, ref_json(sim, repo, unquote(branch), sha))


@route("github", "GET", R + r"/git/refs(?:/heads)?")
def list_refs(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    return matching_refs(sim, req, owner, name, "")


@route("github", "GET", R + r"/git/matching-refs/heads/(?P<prefix>.*)")
def matching_refs(sim: ForgeSim, req: Request, owner: str, name: str, prefix: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    items = [
        ref_json(sim, repo, b, sha)
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
    body = ref_json(sim, repo, branch, sha)
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
    return Response(200, ref_json(sim, repo, branch, new))


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


def status_json(sim: ForgeSim, repo: Repo, status: Any) -> dict[str, Any]:
    return {
        "url": f"{Urls(sim).repo(repo)}/statuses/{status.sha}",
        "avatar_url": None,
        "id": status.id,
        "node_id": _node("SC_", status.id),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": iso(status.created_at),
        "updated_at": iso(status.created_at),
        "creator": user_json(sim, "bumper-bot"),
    }


@route("github", "POST", R + r"/statuses/(?P<sha>[0-9a-f]{40})")
def create_status(sim: ForgeSim, req: Request, owner: str, name: str, sha: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    state = data.get("state")
    if state not in ("pending", "success", "failure", "error"):
        raise _validation("Validation Failed", "Status", "state")
    if repo.git.resolve(sha) is None:
        raise _validation(f"No commit found for SHA: {sha}", "Status", "sha")
    status = sim.set_status(
        repo.full_name,
        sha,
        str(state),
        str(data.get("context") or "default"),
        str(data.get("description") or ""),
        target_url=data.get("target_url"),
    )
    return Response(201, status_json(sim, repo, status))


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
            {k: v for k, v in status_json(sim, repo, s).items() if k != "creator"} for s in statuses
        ],
        "sha": sha,
        "total_count": len(statuses),
        "repository": repo_json(sim, repo),
        "commit_url": f"{Urls(sim).repo(repo)}/commits/{sha}",
        "url": f"{Urls(sim).repo(repo)}/commits/{sha}/status",
    }
    return Response(200, body)


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)/statuses")
def list_statuses(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = _resolve(repo, ref)
    items = [status_json(sim, repo, s) for s in reversed(repo.statuses) if s.sha == sha]
    return Response(200, items)


@route("github", "GET", R + r"/commits/(?P<ref>[^/]+)/check-runs")
def check_runs(sim: ForgeSim, req: Request, owner: str, name: str, ref: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    sha = _resolve(repo, ref)
    api = Urls(sim).repo(repo)
    runs = [
        {
            "id": run.id,
            "node_id": _node("CR_", run.id),
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
        items.append(pr_json(sim, change, req))
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
    body = pr_json(sim, change, req)
    return Response(201, body, [("Location", body["url"])])


@route("github", "GET", R + r"/pulls/(?P<number>\d+)")
def get_pull(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    return Response(200, pr_json(sim, _change(sim, owner, name, number)))


@route("github", "PATCH", R + r"/pulls/(?P<number>\d+)")
def update_pull(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
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
    return Response(200, pr_json(sim, change, req))


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
    return Response(201, pr_json(sim, change, req))


@route("github", "GET", R + r"/pulls/(?P<number>\d+)/requested_reviewers")
def list_reviewers(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    return Response(200, {"users": [user_json(sim, r) for r in change.reviewers], "teams": []})


# -- issues: comments and labels (a PR number is an issue number) ----------------------------


def comment_json(sim: ForgeSim, change: ChangeRequest, comment: Comment) -> dict[str, Any]:
    api = Urls(sim).repo(change.repo)
    return {
        "id": comment.id,
        "node_id": _node("IC_", comment.id),
        "url": f"{api}/issues/comments/{comment.id}",
        "html_url": f"{sim.url}/{change.repo.full_name}/pull/{change.number}#c{comment.id}",
        "issue_url": f"{api}/issues/{change.number}",
        "body": comment.body,
        "user": user_json(sim, comment.author),
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.created_at),
        "author_association": "OWNER",
    }


@route("github", "POST", R + r"/issues/(?P<number>\d+)/comments")
def create_comment(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change, data = _change(sim, owner, name, number), req.json()
    if not data.get("body"):
        raise _validation("Validation Failed", "IssueComment", "body", "missing_field")
    assert req.user
    comment = Comment(sim.next_id(), str(data["body"]), req.user.login)
    change.comments.append(comment)
    change.touch()
    return Response(201, comment_json(sim, change, comment))


@route("github", "GET", R + r"/issues/(?P<number>\d+)/comments")
def list_comments(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    items = [comment_json(sim, change, c) for c in change.comments if not c.system]
    return _paginate(sim, req, items)


def _label_names(data: dict[str, Any]) -> list[str]:
    raw = data.get("labels", data.get("_list", []))
    return [str(item["name"] if isinstance(item, dict) else item) for item in raw]


@route("github", "GET", R + r"/issues/(?P<number>\d+)/labels")
def issue_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    repo = change.repo
    return Response(
        200, [label_json(sim, repo, _ensure_label(sim, repo, n)) for n in change.labels]
    )


@route("github", "POST", R + r"/issues/(?P<number>\d+)/labels")
def add_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    for label in _label_names(req.json()):
        _ensure_label(sim, change.repo, label)
        if label not in change.labels:
            change.labels.append(label)
    change.touch()
    return issue_labels(sim, req, owner, name, number)


@route("github", "PUT", R + r"/issues/(?P<number>\d+)/labels")
def set_labels(sim: ForgeSim, req: Request, owner: str, name: str, number: str) -> Response:
    change = _change(sim, owner, name, number)
    change.labels = []
    for label in _label_names(req.json()):
        _ensure_label(sim, change.repo, label)
        change.labels.append(label)
    change.touch()
    return issue_labels(sim, req, owner, name, number)


@route("github", "GET", R + r"/labels")
def list_labels(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    return _paginate(sim, req, [label_json(sim, repo, lb) for lb in repo.labels.values()])


@route("github", "POST", R + r"/labels")
def create_label(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo, data = sim.repo(f"{owner}/{name}"), req.json()
    label_name, color = str(data.get("name", "")), str(data.get("color", "ededed"))
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise _validation("Validation Failed", "Label", "color")
    if not label_name or label_name in repo.labels:
        raise _validation("Validation Failed", "Label", "name", "already_exists")
    repo.labels[label_name] = Label(sim.next_id(), label_name, color, data.get("description"))
    return Response(201, label_json(sim, repo, repo.labels[label_name]))


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
            if _node("PR_", c.id) == arguments.get("pullRequestId")
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
    state = _mergeable_state(change, merging.mergeable(change), change.head_sha())
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
