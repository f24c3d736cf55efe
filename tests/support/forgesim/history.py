"""A repository's history as both forges serve it: compare two commits, list releases.

GitHub (``/api/v3``), after GitHub's REST reference (``repos/compare-commits``,
``repos/list-releases``):

- ``GET /repos/{o}/{r}/compare/{base}...{head}`` → 200 ``{status, ahead_by, behind_by,
  total_commits, commits[], files[], html_url, permalink_url, ...}``; ``commits`` are commit
  objects as ``GET /commits/{ref}`` gives them, oldest first; 404 for an unknown revision;
- ``GET /repos/{o}/{r}/releases`` (``per_page``, ``page``) → 200 ``[release]`` newest first
  (``id``, ``tag_name``, ``target_commitish``, ``name``, ``body``, ``draft``, ``prerelease``,
  ``html_url``, ``created_at``, ``published_at``, ``author``).

GitLab (``/api/v4``), after GitLab's REST reference (repositories "compare", releases):

- ``GET /projects/:id/repository/compare?from=&to=`` → 200 ``{commit, commits[], diffs[],
  compare_timeout, compare_same_ref, web_url}``; ``commits`` as ``GET .../repository/commits``
  gives them, oldest first; 404 for an unknown ref;
- ``GET /projects/:id/releases`` → 200 ``[release]`` newest first (``tag_name``, ``name``,
  ``description``, ``created_at``, ``released_at``, ``commit``, ``_links.self``).

The contract notes in tests/support/README.md list these shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.forgesim import github_render, gitlab_render
from tests.support.forgesim.github_api import R
from tests.support.forgesim.gitlab_api import P, _project
from tests.support.forgesim.http import ApiError, Request, Response, route
from tests.support.forgesim.model import Release, SimRepo, iso

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim


def commits_between(repo: SimRepo, base: str, head: str) -> tuple[str, str, list[str]]:
    """The two resolved shas and the commits reachable from ``head`` but not ``base``,
    oldest first; 404 when either does not resolve."""
    old, new = repo.git.resolve(unquote(base)), repo.git.resolve(unquote(head))
    if old is None or new is None:
        raise ApiError(404, "Not Found")
    return old, new, repo.git.rev_list(old, new)


@route("github", "GET", R + r"/compare/(?P<spec>.+)")
def github_compare(sim: ForgeSim, req: Request, owner: str, name: str, spec: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    base, sep, head = spec.partition("...")
    if not sep:
        raise ApiError(404, "Not Found")
    old, new, shas = commits_between(repo, base, head)
    behind = len(repo.git.rev_list(new, old))
    status = "identical" if old == new else "ahead" if not behind else "diverged"
    if shas == [] and behind:
        status = "behind"
    html = f"{sim.url}/{repo.full_name}/compare/{base}...{head}"
    body = {
        "url": f"{github_render.Urls(sim).repo(repo)}/compare/{base}...{head}",
        "html_url": html,
        "permalink_url": f"{sim.url}/{repo.full_name}/compare/{old}...{new}",
        "diff_url": html + ".diff",
        "patch_url": html + ".patch",
        "base_commit": github_render.commit_json(sim, repo, old),
        "merge_base_commit": github_render.commit_json(sim, repo, old),
        "status": status,
        "ahead_by": len(shas),
        "behind_by": behind,
        "total_commits": len(shas),
        "commits": [github_render.commit_json(sim, repo, sha) for sha in shas[-250:]],
        "files": [],
    }
    return Response(200, body)


@route("github", "GET", R + r"/releases")
def github_releases(sim: ForgeSim, req: Request, owner: str, name: str) -> Response:
    repo = sim.repo(f"{owner}/{name}")
    items = [_github_release(sim, repo, r) for r in reversed(repo.releases)]
    return _page(req, items)


def _github_release(sim: ForgeSim, repo: SimRepo, release: Release) -> dict[str, Any]:
    api = f"{github_render.Urls(sim).repo(repo)}/releases/{release.id}"
    return {
        "url": api,
        "html_url": f"{sim.url}/{repo.full_name}/releases/tag/{release.tag}",
        "assets_url": f"{api}/assets",
        "upload_url": f"{api}/assets{{?name,label}}",
        "tarball_url": f"{sim.url}/{repo.full_name}/tarball/{release.tag}",
        "zipball_url": f"{sim.url}/{repo.full_name}/zipball/{release.tag}",
        "id": release.id,
        "node_id": github_render.node_id("RE_", release.id),
        "tag_name": release.tag,
        "target_commitish": release.sha,
        "name": release.name,
        "body": release.notes,
        "draft": release.draft,
        "prerelease": False,
        "created_at": iso(release.created_at),
        "published_at": None if release.draft else iso(release.created_at),
        "author": github_render.user_json(sim, "bumper-bot"),
        "assets": [],
    }


@route("gitlab", "GET", P + r"/repository/compare")
def gitlab_compare(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    base, head = req.query.get("from", ""), req.query.get("to", "")
    if not base or not head:
        raise ApiError(400, "from, to are missing")
    old, new, shas = commits_between(repo, base, head)
    commits = [gitlab_render.commit_json(sim, repo, sha) for sha in shas]
    body = {
        "commit": commits[-1] if commits else None,
        "commits": commits,
        "diffs": [],
        "compare_timeout": False,
        "compare_same_ref": old == new,
        "web_url": f"{sim.url}/{repo.full_name}/-/compare/{old}...{new}",
    }
    return Response(200, body)


@route("gitlab", "GET", P + r"/releases")
def gitlab_releases(sim: ForgeSim, req: Request, pid: str) -> Response:
    repo = _project(sim, pid)
    items = [_gitlab_release(sim, repo, r) for r in reversed(repo.releases) if not r.draft]
    return _page(req, items)


def _gitlab_release(sim: ForgeSim, repo: SimRepo, release: Release) -> dict[str, Any]:
    web = f"{sim.url}/{repo.full_name}/-/releases/{release.tag}"
    return {
        "tag_name": release.tag,
        "name": release.name,
        "description": release.notes,
        "created_at": iso(release.created_at),
        "released_at": iso(release.created_at),
        "upcoming_release": False,
        "author": gitlab_render.user_json(sim, "bumper-bot"),
        "commit": gitlab_render.commit_json(sim, repo, release.sha),
        "commit_path": f"/{repo.full_name}/-/commit/{release.sha}",
        "tag_path": f"/{repo.full_name}/-/tags/{release.tag}",
        "assets": {"count": 0, "sources": [], "links": []},
        "_links": {"self": web},
    }


def _page(req: Request, items: list[Any]) -> Response:
    per_page = max(1, min(int(req.query.get("per_page", 30) or 30), 100))
    page = max(1, int(req.query.get("page", 1) or 1))
    return Response(200, items[(page - 1) * per_page : page * per_page])
