"""CircleCI outbound webhooks (``workflow-completed``, ``job-completed``) → ``build.finished``.

Secret: the webhook's signing secret. ``circleci-signature`` is a comma-separated list of
versioned signatures; its ``v1=`` entry must be the hex HMAC-SHA256 of the raw body (other
versions are ignored).

Mapping: workflow or job status success → success; failed, error, unauthorized → failure;
canceled → cancelled; not_run → skipped. Commit, ref and repository come from
``pipeline.vcs`` (GitHub OAuth, Bitbucket Cloud) or ``pipeline.trigger_parameters`` (GitLab,
GitHub App). Pipeline = workflow name, for jobs too (the job's name is ``extra.job``); the
run is ``workflow.id`` (``extra.run_id``). ``job-completed`` reports only a failed or
cancelled job: a job's success is not its workflow's, which ``workflow-completed`` reports.
url = ``workflow.url``. The payload ``id`` is the
delivery id shown (CircleCI's documented dedupe key); deduplication is on the signed body,
which holds that id.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    first_text,
    load_object,
    map_status,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "circleci"
STATUSES: dict[str, BuildStatus] = {
    "success": "success",
    "failed": "failure",
    "error": "failure",
    "unauthorized": "failure",
    "infrastructure_fail": "failure",
    "timedout": "failure",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "not_run": "skipped",
}


def _check(headers: Headers, body: bytes, secret: str) -> _auth.Signed:
    """``circleci-signature``: comma-separated ``<version>=<hex>``; a ``v1`` entry must match."""
    presented = headers.get("circleci-signature")
    if not presented:
        raise _auth.missing("circleci-signature header", "missing-signature")
    candidates = [
        value.strip()
        for version, _, value in (part.strip().partition("=") for part in presented.split(","))
        if version == "v1"
    ]
    expected = _auth.hmac_hex(secret, body)
    if not any(_auth.same(candidate.lower(), expected) for candidate in candidates):
        raise _auth.wrong("circleci-signature", "bad-signature")
    return _auth.signed_body(body)


AUTH = _auth.Scheme("circleci-signature", _check)


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(load_object(body).get("id"))


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    kind = text(data, "type") or text(headers, "circleci-event-type")
    extra: dict[str, Any] = {}
    if kind == "workflow-completed":
        subject = obj(data, "workflow")
        pipeline = text(subject, "name")
    elif kind == "job-completed":
        subject = obj(data, "job")
        pipeline = text(data, "workflow", "name")
        if job := text(subject, "name"):
            extra["job"] = job
    else:
        return drop(NAME, f"event type {kind!r} is not workflow-completed or job-completed")
    raw = text(subject, "status")
    status = map_status(STATUSES, raw)
    if status is None:
        return drop(NAME, f"status {raw!r} is not a final result")
    if kind == "job-completed" and status in ("success", "skipped"):
        return drop(NAME, f"a job's {status} is not its workflow's: workflow-completed reports it")
    if run_id := text(data, "workflow", "id"):
        extra["run_id"] = run_id
    commit, ref, repository = _vcs(obj(data, "pipeline"))
    return build_event(
        NAME,
        status,
        commit=commit,
        ref=ref,
        repository=repository,
        pipeline=pipeline,
        url=first_text(text(data, "workflow", "url"), text(subject, "url")),
        extra=extra,
    )


def _vcs(pipeline: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    vcs = obj(pipeline, "vcs")
    if vcs:
        tag = text(vcs, "tag")
        ref = branch_ref(tag, tag=True) if tag else branch_ref(text(vcs, "branch"))
        repository = repo_path(
            first_text(text(vcs, "origin_repository_url"), text(vcs, "target_repository_url"))
        )
        return text(vcs, "revision"), ref, repository
    params = obj(pipeline, "trigger_parameters")
    git = obj(params, "git")
    provider = next(
        (obj(params, key) for key in ("gitlab", "github_app", "bitbucket") if obj(params, key)),
        {},
    )
    commit = first_text(
        text(git, "checkout_sha"), text(provider, "checkout_sha"), text(provider, "commit_sha")
    )
    tag = text(git, "tag")
    ref = first_text(
        text(git, "ref"),
        branch_ref(tag, tag=True) if tag else None,
        branch_ref(text(git, "branch")),
    )
    repository = first_text(
        repo_path(text(provider, "web_url")),
        repo_path(text(git, "checkout_url")),
        repo_path(text(provider, "repo_url")),
    )
    return commit, ref, repository
