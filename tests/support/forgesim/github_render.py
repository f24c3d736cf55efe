"""JSON bodies of the simulated GitHub REST API, built from the simulator's model.

Shapes follow ``../shared/fixtures/forges/github-openapi-subset.json`` and the recorded
responses (``tests/forgesim`` checks both). URLs point back at the simulator itself.
"""

from __future__ import annotations

import base64
import html
import time
from typing import TYPE_CHECKING, Any

from tests.support.forgesim import merging
from tests.support.forgesim.http import Request
from tests.support.forgesim.model import ChangeRequest, Comment, Label, SimRepo, iso

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"{kind}{ident}".encode()).decode()


class Urls:
    """URL builders rooted at the simulator's own address."""

    def __init__(self, sim: ForgeSim) -> None:
        self.api = sim.github_api_url
        self.web = sim.url

    def repo(self, repo: SimRepo) -> str:
        return f"{self.api}/repos/{repo.full_name}"


def user_json(sim: ForgeSim, login: str) -> dict[str, Any]:
    user = sim.users.get(login) or sim.add_user(login)
    api = f"{sim.github_api_url}/users/{login}"
    return {
        "login": login,
        "id": user.id,
        "node_id": node_id("U_", user.id),
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


def repo_json(sim: ForgeSim, repo: SimRepo) -> dict[str, Any]:
    base = Urls(sim).repo(repo)
    now = iso(time.time())
    open_count = sum(1 for c in repo.changes.values() if c.state == "open")
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("R_", repo.id),
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


def label_json(sim: ForgeSim, repo: SimRepo, label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "node_id": node_id("LA_", label.id),
        "url": f"{Urls(sim).repo(repo)}/labels/{label.name}",
        "name": label.name,
        "color": label.color,
        "default": False,
        "description": label.description,
    }


def ensure_label(sim: ForgeSim, repo: SimRepo, name: str) -> Label:
    if name not in repo.labels:
        repo.labels[name] = Label(sim.next_id(), name)
    return repo.labels[name]


def _branch_side(sim: ForgeSim, repo: SimRepo, ref: str, sha: str | None) -> dict[str, Any]:
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
        "node_id": node_id("PR_", change.id),
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
        "labels": [label_json(sim, repo, ensure_label(sim, repo, n)) for n in change.labels],
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
        "mergeable_state": mergeable_state(change, mergeable, head_sha),
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


def mergeable_state(change: ChangeRequest, mergeable: bool | None, head: str | None) -> str:
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


def commit_short(sim: ForgeSim, repo: SimRepo, sha: str) -> dict[str, Any]:
    return {"sha": sha, "url": f"{Urls(sim).repo(repo)}/commits/{sha}"}


def verification_json(sim: ForgeSim, repo: SimRepo, sha: str, email: str) -> dict[str, Any]:
    """GitHub's ``verification`` of a commit: ``valid`` when it carries an SSH signature by a
    key the simulator was given for its committer's email (``ForgeSim.add_signing_key``);
    ``unsigned``, ``unknown_key``, ``bad_email`` or ``invalid`` otherwise."""
    status, principal = sim.signature(repo, sha)
    if status == "N":
        reason = "unsigned"
    elif status == "G":
        reason = "valid" if principal == email else "bad_email"
    elif status == "B":
        reason = "invalid"
    else:
        reason = "unknown_key"
    verified = reason == "valid"
    return {
        "verified": verified,
        "reason": reason,
        "payload": None,
        "signature": None,
        "verified_at": iso(time.time()) if verified else None,
    }


def commit_json(sim: ForgeSim, repo: SimRepo, sha: str) -> dict[str, Any]:
    info = repo.git.commit_info(sha)
    api = Urls(sim).repo(repo)
    html = f"{sim.url}/{repo.full_name}/commit/{sha}"
    return {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "node_id": node_id("C_", int(sha[:7], 16)),
        "html_url": html,
        "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{sha}",
            "author": {"name": info["an"], "email": info["ae"], "date": info["ad"]},
            "committer": {"name": info["cn"], "email": info["ce"], "date": info["cd"]},
            "message": info["message"].rstrip("\n"),
            "comment_count": 0,
            "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
            "verification": verification_json(sim, repo, sha, info["ce"]),
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{sim.url}/commit/{p}"}
            for p in info["parents"].split()
        ],
    }


def branch_json(sim: ForgeSim, repo: SimRepo, branch: str, sha: str) -> dict[str, Any]:
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


def ref_json(sim: ForgeSim, repo: SimRepo, branch: str, sha: str) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "node_id": node_id("REF_", abs(hash((repo.id, branch))) % 10**9),
        "url": f"{Urls(sim).repo(repo)}/git/refs/heads/{branch}",
        "object": {
            "sha": sha,
            "type": "commit",
            "url": f"{Urls(sim).repo(repo)}/git/commits/{sha}",
        },
    }


def status_json(sim: ForgeSim, repo: SimRepo, status: Any) -> dict[str, Any]:
    return {
        "url": f"{Urls(sim).repo(repo)}/statuses/{status.sha}",
        "avatar_url": None,
        "id": status.id,
        "node_id": node_id("SC_", status.id),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": iso(status.created_at),
        "updated_at": iso(status.created_at),
        "creator": user_json(sim, "bumper-bot"),
    }


def comment_json(sim: ForgeSim, change: ChangeRequest, comment: Comment) -> dict[str, Any]:
    api = Urls(sim).repo(change.repo)
    return {
        "id": comment.id,
        "node_id": node_id("IC_", comment.id),
        "url": f"{api}/issues/comments/{comment.id}",
        "html_url": f"{sim.url}/{change.repo.full_name}/pull/{change.number}#c{comment.id}",
        "issue_url": f"{api}/issues/{change.number}",
        "body": comment.body,
        "user": user_json(sim, comment.author),
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.created_at),
        "author_association": "OWNER",
    }
