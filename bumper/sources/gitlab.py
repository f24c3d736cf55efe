"""GitLab webhooks: Pipeline Hook and Job Hook → ``build.finished``; Note Hook → ``pr.comment``.

GitLab has no container-registry webhook, so it only reports CI results, and reviewers'
``/bumper`` commands on merge requests.

Secret, one of:

- the webhook's "Secret token": ``X-Gitlab-Token`` must equal it (a shared-token check);
- the webhook's signing token, ``whsec_<base64 key>``: the Standard-Webhooks signature
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>``
  must match (any of several space-separated signatures), and ``webhook-timestamp`` must be
  within the receiver's replay window (``replay_window_seconds``, default 300) of now.

Mapping: pipelines and jobs in a terminal state (success, failed, canceled, skipped) become
``build.finished`` (failed → failure, canceled → cancelled); running, pending, created and
manual ones are ignored. A Job Hook reports only a failed or cancelled job (a job's success
is not its pipeline's; the Pipeline Hook reports that): its ``pipeline`` is unknown (GitLab
names only the job, now in ``extra.job``, no longer in ``pipeline``) and its run is the
pipeline's id, as for the Pipeline Hook (``extra.run_id``), so both count once. ``pipeline``
is the pipeline's ``name`` (GitLab 16.3+, ``null`` when unnamed). ``ref`` is
``refs/tags/<ref>`` when GitLab says it is a tag, else ``refs/heads/<ref>``; ``repository``
is ``project.path_with_namespace`` (before GitLab 11's ``project`` object, from
``repository.homepage``); ``url`` the pipeline's (or job's) page, built from
``project.web_url`` when the payload has no ``url``. The Job Hook was the "Build Hook" until
GitLab 9.3, with the same ``object_kind: build`` body, and no ``pipeline_id`` before GitLab 11:
its ``commit.id`` (the pipeline, once called a commit) is the run then.

A Note Hook (``object_kind: note``) on a merge request (``noteable_type: MergeRequest``)
whose note holds a ``/bumper`` line (``bumper.core.commands.find``) becomes ``pr.comment``
with the MR's ``iid``, its ``source_branch`` and the author's ``username`` and ``id``; system
notes, notes on commits, issues or snippets, edits (``action`` other than ``create``, where
GitLab sends one) and notes without a command are dropped.

Delivery id shown: ``Idempotency-Key`` (stable across retries), else ``webhook-id``, else
``X-Gitlab-Event-UUID``.
With a signing token, deliveries are deduplicated on the signed ``webhook-id`` whatever the
unsigned ``Idempotency-Key`` says; with a secret token nothing is signed, and the delivery id
is the dedupe key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from bumper.core import commands
from bumper.core.events import BuildStatus, Event, PullRequestComment
from bumper.errors import ConfigError
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    first_text,
    header,
    load_object,
    map_status,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "gitlab"
SIGNING_PREFIX = "whsec_"

STATUSES: dict[str, BuildStatus] = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "skipped": "skipped",
}


def _check_secret(secret: str) -> None:
    if secret.startswith(SIGNING_PREFIX):
        _signing_key(secret)


def _material(secret: str) -> str | bytes:
    """The shared secret: the decoded key of a signing token, else the secret token."""
    return _signing_key(secret) if secret.startswith(SIGNING_PREFIX) else secret


def _signing_key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret[len(SIGNING_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("a whsec_ GitLab signing token must be base64 after 'whsec_'") from None
    if not key:
        raise ConfigError("the GitLab signing token is empty after 'whsec_'")
    return key


def _check(headers: Headers, body: bytes, secret: str) -> _auth.Signed | None:
    if secret.startswith(SIGNING_PREFIX):
        return _verify_signature(headers, body, _signing_key(secret))
    _auth.check_token(headers.get("X-Gitlab-Token"), header="X-Gitlab-Token", secret=secret)
    return None


AUTH = _auth.Scheme(
    "gitlab-token-or-signature", _check, secret_form=_check_secret, material=_material
)


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value GitLab sends (used by tests and docs)."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _verify_signature(headers: Headers, body: bytes, key: bytes) -> _auth.Signed:
    """Standard Webhooks: the id, the timestamp (its window is checked by ``Scheme.verify``)
    and the body are signed; the signed ``webhook-id`` identifies the delivery."""
    webhook_id = header(headers, "webhook-id")
    stamp = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not (webhook_id and stamp and signatures):
        raise _auth.missing(
            "webhook-id, webhook-timestamp or webhook-signature header", "missing-signature"
        )
    if not stamp.isdigit() or len(stamp) > 12:
        raise _auth.wrong("webhook-timestamp", "bad-timestamp")
    expected = sign(key, webhook_id, int(stamp), body)
    # Standard Webhooks: several space-separated "v1,<sig>" entries (key rotation).
    matches = [_auth.same(candidate, expected) for candidate in signatures.split()]
    if not any(matches):
        raise _auth.wrong("webhook-signature", "bad-signature")
    return _auth.Signed(identity="webhook-id:" + webhook_id, timestamp=int(stamp))


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return first_text(
        capped_id(headers.get("Idempotency-Key")),
        capped_id(headers.get("webhook-id")),
        capped_id(headers.get("X-Gitlab-Event-UUID")),
    )


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    event = (header(headers, "X-Gitlab-Event") or "").lower()
    kind = (text(data, "object_kind") or "").lower()
    if event == "pipeline hook" or (not event and kind == "pipeline"):
        return _pipeline(data)
    # "Build Hook" until GitLab 9.3 renamed builds to jobs; the body kept object_kind build.
    if event in ("job hook", "build hook") or (not event and kind == "build"):
        return _job(data)
    if event == "note hook" or (not event and kind == "note"):
        return _note(data)
    return drop(NAME, f"event {event or kind!r} is not a Pipeline Hook, Job Hook or Note Hook")


def _pipeline(data: dict[str, Any]) -> list[Event]:
    attributes = obj(data, "object_attributes")
    raw = text(attributes, "status")
    status = map_status(STATUSES, raw)
    if status is None:
        return drop(NAME, f"pipeline status {raw!r} is not final")
    pipeline_id = attributes.get("id")
    return build_event(
        NAME,
        status,
        commit=first_text(text(attributes, "sha"), text(data, "commit", "id")),
        ref=branch_ref(text(attributes, "ref"), tag=attributes.get("tag") is True),
        repository=_repository(data),
        pipeline=text(attributes, "name"),
        url=first_text(text(attributes, "url"), _page(data, "pipelines", pipeline_id)),
        extra=_run(pipeline_id),
    )


def _job(data: dict[str, Any]) -> list[Event]:
    raw = text(data, "build_status")
    status = map_status(STATUSES, raw)
    if status is None:
        return drop(NAME, f"job status {raw!r} is not final")
    if status in ("success", "skipped"):
        return drop(NAME, f"a job's {status} is not its pipeline's: the Pipeline Hook reports it")
    # Before GitLab 11 a Build Hook had no pipeline_id: its ``commit`` was the pipeline
    # (``Ci::Commit``, renamed ``Ci::Pipeline``), whose ``id`` it still carries.
    extra: dict[str, Any] = _run(data.get("pipeline_id")) or _run(obj(data, "commit").get("id"))
    if job := text(data, "build_name"):
        extra["job"] = job
    return build_event(
        NAME,
        status,
        commit=first_text(text(data, "sha"), text(data, "commit", "sha")),
        ref=branch_ref(text(data, "ref"), tag=data.get("tag") is True),
        repository=_repository(data),
        # A Job Hook names its job and its pipeline's id, not the pipeline's name.
        pipeline=None,
        url=_page(data, "jobs", data.get("build_id")),
        extra=extra,
    )


def _run(pipeline_id: Any) -> dict[str, Any]:
    return {"run_id": pipeline_id} if type(pipeline_id) is int else {}


def _page(data: dict[str, Any], kind: str, number: Any) -> str | None:
    """``<project web_url>/-/pipelines/<id>`` or ``.../-/jobs/<id>``, as GitLab links them."""
    web_url = text(data, "project", "web_url")
    return f"{web_url}/-/{kind}/{number}" if web_url and type(number) is int else None


def _repository(data: dict[str, Any]) -> str | None:
    return first_text(
        text(data, "project", "path_with_namespace"),
        repo_path(text(data, "project", "web_url")),
        repo_path(text(data, "repository", "homepage")),
    )


def _note(data: dict[str, Any]) -> list[Event]:
    """A Note Hook holding a ``/bumper`` command on a merge request (see above)."""
    note = obj(data, "object_attributes")
    if text(note, "noteable_type") != "MergeRequest":
        return drop(NAME, "a note on something other than a merge request", routine=True)
    if note.get("system") is True:
        return drop(NAME, "a system note is never a command", routine=True)
    action = text(note, "action")
    if action is not None and action != "create":
        return drop(NAME, f"note action {action!r} is not 'create'", routine=True)
    body = note.get("note")
    line = commands.find(body) if isinstance(body, str) else None
    if line is None:
        return drop(NAME, "the note holds no /bumper command", routine=True)
    mr, user = obj(data, "merge_request"), obj(data, "user")
    repository, iid, username = _repository(data), mr.get("iid"), text(user, "username")
    if not repository or type(iid) is not int or not username:
        return drop(NAME, "the note names no project, merge request iid or author")
    author_id = user.get("id") if type(user.get("id")) is int else note.get("author_id")
    return [
        PullRequestComment(
            forge=NAME,
            repository=repository,
            number=iid,
            author=username,
            command=line,
            author_id=author_id if type(author_id) is int else None,
            head_branch=text(mr, "source_branch"),
            comment_id=note.get("id") if type(note.get("id")) is int else None,
            url=text(note, "url"),
        )
    ]
