"""JSON bodies of the simulated GitLab v4 API, built from the simulator's model.

Shapes follow ``../shared/fixtures/forges/recorded/gitlab`` (``tests/forgesim`` checks them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.support.forgesim import merging
from tests.support.forgesim.model import ChangeRequest, Comment, Label, Pipeline, SimRepo, iso

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim

_NATIVE = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}


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


def member_json(sim: ForgeSim, login: str, access_level: int) -> dict[str, Any]:
    """A project member (``GET /projects/:id/members/all/:user_id``), as GitLab's docs show."""
    return {
        **user_json(sim, login),
        "created_at": iso(time.time()),
        "created_by": user_json(sim, "bumper-bot") if login != "bumper-bot" else None,
        "expires_at": None,
        "access_level": access_level,
        "group_saml_identity": None,
        "membership_state": "active",
    }


def project_json(sim: ForgeSim, repo: SimRepo) -> dict[str, Any]:
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


def commit_json(sim: ForgeSim, repo: SimRepo, sha: str) -> dict[str, Any]:
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


def signature_json(status: str, principal: str, committer_email: str) -> dict[str, Any]:
    """GitLab's signature of an SSH-signed commit: ``verified`` when the key is trusted for
    the committer's email (``ForgeSim.add_signing_key``); ``other_user`` when it is trusted
    for another email, ``unknown_key`` when not at all, ``unverified`` for a bad signature.
    ``key`` is null: the simulator keeps no key records."""
    if status == "G":
        verdict = "verified" if principal == committer_email else "other_user"
    else:
        verdict = "unverified" if status == "B" else "unknown_key"
    return {
        "signature_type": "SSH",
        "verification_status": verdict,
        "key": None,
        "commit_source": "gitaly",
    }


def pipeline_status(repo: SimRepo, pipeline: Pipeline) -> str:
    statuses = repo.latest_statuses(pipeline.sha)
    state = repo.combined_state(pipeline.sha)
    if state == "pending":
        return "running" if any(s.native == "running" for s in statuses) else "pending"
    if state == "failure":
        natives = {s.native for s in statuses if s.state in ("failure", "error")}
        return "canceled" if natives == {"canceled"} else "failed"
    return "success" if state == "success" else "created"


def pipeline_json(sim: ForgeSim, repo: SimRepo, pipeline: Pipeline) -> dict[str, Any]:
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


def pipeline_detail_json(sim: ForgeSim, repo: SimRepo, pipeline: Pipeline) -> dict[str, Any]:
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


def branch_json(sim: ForgeSim, repo: SimRepo, name: str, sha: str) -> dict[str, Any]:
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


def status_json(sim: ForgeSim, repo: SimRepo, status: Any) -> dict[str, Any]:
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
