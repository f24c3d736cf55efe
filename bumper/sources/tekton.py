"""Tekton Pipelines CloudEvents → ``build.finished`` for finished PipelineRuns and TaskRuns.

Tekton signs nothing and sends no credential; protect the sink with a URL token. Secret: that
token; the web layer passes it as ``X-Bumper-Url-Token``, compared in constant time. Weaker
than a signature (the token sits in URLs and logs, and does not bind the body).

Tekton sends binary-mode CloudEvents (``Ce-Type: dev.tekton.event.<kind>.<state>.v1``, body
``{"taskRun": ...}`` or ``{"pipelineRun": ...}``); structured mode is read too.

Mapping: ``successful`` → success; ``failed`` → failure, or cancelled when the ``Succeeded``
condition's reason says the run was cancelled; started, running and unknown are ignored.
Pipeline = the ``tekton.dev/pipeline`` (or ``tekton.dev/task``) label, else the run name.
Tekton has no standard commit field, so commit, ref and repository are read from the run's
params and results by their conventional names (``revision``/``commit``/``git-revision``,
``repo-url``/``git-url``/``repository``, Tekton Chains' ``CHAINS-GIT_COMMIT`` and
``CHAINS-GIT_URL``), or, in v1beta1 and v1alpha1 runs, from an embedded ``git``
PipelineResource (its ``url`` and ``revision`` params, the ``commit`` in ``resourcesResult``);
a revision is a commit only if it looks like a SHA, and a ref only if it starts with
``refs/`` (each the first of its kind among those names). v1beta1's ``pipelineResults`` /
``taskResults`` and v1's ``results`` are read alike. A param or result named just ``url``
(the git-clone task's name) is the repository only when it is a clone URL (ends in ``.git``,
scp-like or ``ssh://``, or ``https://github.com/owner/name`` on a well-known forge):
pipelines also name their deployed app's address, a dashboard link or an image ``url``. The
delivery id is ``ce-id``; the dedupe key is ``ce-source`` and ``ce-id`` together.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bumper.core.events import BuildStatus, Event
from bumper.errors import WebhookRejected
from bumper.sources import _auth, _cloudevent
from bumper.sources._common import (
    build_event,
    capped_id,
    commit_sha,
    drop,
    first_text,
    lst,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "tekton"
PREFIX = "dev.tekton.event."
RUN_KEYS = ("pipelineRun", "taskRun", "customRun", "run")
COMMIT_NAMES = ("commit", "revision", "git-revision", "sha", "git-commit", "chains-git_commit")
REPO_NAMES = ("repo-url", "git-url", "git-repo-url", "repository", "repo", "chains-git_url")
# ``url`` is the git-clone task's name for what it cloned, but a run's own ``url`` param or
# result is as often the deployed app, a dashboard or an image: it counts only as a clone URL.
LOOSE_REPO_NAME = "url"
FORGE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org", "codeberg.org"})


AUTH = _auth.URL_TOKEN


def delivery_id(headers: Headers, body: bytes) -> str | None:
    event = _cloudevent.read(headers, body, require=False)
    return capped_id(event.id) if event else None


def dedupe_key(headers: Headers, body: bytes) -> str | None:
    """``source`` and ``id``: the same ``id`` from another source is another event."""
    return _cloudevent.identity(_cloudevent.read(headers, body, require=False))


def parse(headers: Headers, body: bytes) -> list[Event]:
    event = _cloudevent.read(headers, body)
    if event is None:  # read() raises instead when required; this keeps mypy sure of it
        raise WebhookRejected("not a CloudEvent", status=400, reason="malformed")
    return parse_tekton(NAME, event.type, event.data)


def parse_tekton(sender: str, event_type: str, data: Any) -> list[Event]:
    """One Tekton CloudEvent's data; shared with the cloudevents sender."""
    if not event_type.startswith(PREFIX):
        return drop(sender, f"type {event_type!r} is not a Tekton event")
    parts = event_type[len(PREFIX) :].split(".")
    state = parts[1] if len(parts) >= 2 else ""
    if state not in ("successful", "failed"):
        return drop(sender, f"Tekton run state {state!r} is not final")
    run = next((obj(data, key) for key in RUN_KEYS if obj(data, key)), {})
    metadata, spec, run_status = obj(run, "metadata"), obj(run, "spec"), obj(run, "status")
    status: BuildStatus = "success" if state == "successful" else "failure"
    if status == "failure" and "cancel" in _succeeded_reason(run_status).lower():
        status = "cancelled"
    values = _named_values(spec, run_status)
    # The first value that is a SHA is the commit, the first that is a full ref the ref: a
    # run may name both (a git resource's revision refs/tags/v1, a commit result).
    revisions = [value for name in COMMIT_NAMES if (value := values.get(name))]
    commit = next((sha for value in revisions if (sha := commit_sha(value))), None)
    ref = next((value for value in revisions if value.startswith("refs/")), None)
    labels = obj(metadata, "labels")
    run_name = text(metadata, "name")
    return build_event(
        sender,
        status,
        commit=commit,
        ref=ref,
        repository=_repository(values),
        pipeline=first_text(
            text(labels, "tekton.dev/pipeline"), text(labels, "tekton.dev/task"), run_name
        ),
        extra={"run": run_name} if run_name else None,
    )


def _repository(values: dict[str, str]) -> str | None:
    named = first_text(*(values.get(name) for name in REPO_NAMES))
    if named:
        return repo_path(named)
    loose = values.get(LOOSE_REPO_NAME)
    return repo_path(loose) if loose and _is_clone_url(loose) else None


def _is_clone_url(value: str) -> bool:
    """A git remote: ``.git`` at the end, an scp-like or ssh/git URL, or a forge's
    ``https://github.com/owner/name`` (no query, no fragment, nothing after the name)."""
    if value.endswith(".git") or value.startswith(("ssh://", "git://", "git@")):
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    segments = [segment for segment in parts.path.split("/") if segment]
    return (
        parts.scheme == "https"
        and (parts.hostname or "") in FORGE_HOSTS
        and not parts.query
        and not parts.fragment
        and len(segments) == 2
    )


def _succeeded_reason(status: dict[str, Any]) -> str:
    for condition in lst(status.get("conditions")):
        if text(condition, "type") == "Succeeded":
            return text(condition, "reason") or ""
    return ""


def _named_values(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, str]:
    """Params, then results (results win): ``{name: string value}``. v1beta1 and v1alpha1
    runs (results ``pipelineResults`` / ``taskResults``) may name their source as a ``git``
    PipelineResource instead, whose ``url`` and ``revision`` params, and the ``commit`` that
    the TaskRun's ``resourcesResult`` records, count as ``git-url``, ``revision``, ``commit``."""
    found: dict[str, str] = {}
    entries = [
        *_git_resource_params(spec),
        *lst(spec.get("params")),
        *lst(status.get("pipelineResults")),
        *lst(status.get("results")),
        *lst(status.get("taskResults")),
        *_git_resource_results(status),
    ]
    for entry in entries:
        name, value = text(entry, "name"), text(entry, "value")
        if name and value:
            found[name.lower()] = value
    return found


# A git PipelineResource's params, and the keys of its resourcesResult, as the names above.
_GIT_NAMES = {"url": "git-url", "revision": "revision", "commit": "commit"}


def _git_resource_params(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """``url`` / ``revision`` of the run's embedded ``git`` resources: a PipelineRun's
    ``spec.resources[]``, a v1beta1 TaskRun's ``spec.resources.inputs[]``, a v1alpha1
    TaskRun's ``spec.inputs.resources[]`` (a ``resourceRef`` names no URL: nothing to read)."""
    bound = spec.get("resources")
    resources = [
        *lst(bound),
        *lst(obj(bound).get("inputs")),
        *lst(obj(spec, "inputs").get("resources")),
    ]
    found: list[dict[str, Any]] = []
    for resource in resources[:20]:
        resource_spec = obj(resource, "resourceSpec")
        if (text(resource_spec, "type") or "").lower() != "git":
            continue
        for param in lst(resource_spec.get("params"))[:20]:
            name = _GIT_NAMES.get((text(param, "name") or "").lower())
            if name and name != "commit":
                found.append({"name": name, "value": param.get("value")})
    return found


def _git_resource_results(status: dict[str, Any]) -> list[dict[str, Any]]:
    """A v1beta1 TaskRun's ``resourcesResult`` (``[{key: commit, value: <sha>, ...}]``)."""
    found: list[dict[str, Any]] = []
    for entry in [*lst(status.get("resourcesResult")), *lst(status.get("resourceResults"))][:20]:
        name = _GIT_NAMES.get((text(entry, "key") or "").lower())
        if name in ("commit", "git-url"):
            found.append({"name": name, "value": entry.get("value")})
    return found
