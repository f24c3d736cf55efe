"""GitHub webhooks: GHCR pushes (``package``, ``registry_package``) and CI results
(``workflow_run``, ``workflow_job``, ``check_suite``).

Secret: the webhook secret. ``X-Hub-Signature-256`` must be ``sha256=`` + hex HMAC-SHA256 of
the raw body; the legacy SHA-1 header is ignored. ``X-GitHub-Event`` selects the parser;
``X-GitHub-Delivery`` is the delivery id shown; deliveries are deduplicated on the signed body
and the event name, since the delivery id header is not signed; ``ping`` deliveries are pings.

Mapping:

- ``package`` / ``registry_package`` (and the 2020 beta's ``package_v2``) with a container
  package (``package_type`` or ``registry.type`` says container/docker; without either, as in
  the 2020 beta, ``ecosystem: CONTAINER``; npm and friends are ignored), action
  ``published``, ``updated`` or ``created`` (the beta's ``create``) → ``image.pushed``,
  ``deleted`` → ``image.deleted``. The image comes from ``package_url``
  (``ghcr.io/Owner/name:tag``), else, for the 2019 ``docker.pkg.github.com`` registry,
  ``registry.url`` + ``/`` + the package name, else ``ghcr.io/<owner or namespace>/<name>``;
  lower-cased as both registries require. The digest comes from ``package_version.version``
  (GHCR puts the manifest digest there), ``container_metadata.tag.digest`` or
  ``package_version.name``; the tag from ``container_metadata.tag.name``, the
  ``package_url``, or (``docker.pkg.github.com`` only) ``package_version.version``. A version
  whose ``container_metadata.manifest`` config or layers have a Helm chart media type is a
  chart push (``artifact: chart``).
- ``workflow_run`` / ``workflow_job`` / ``check_suite`` with action ``completed`` →
  ``build.finished``; other actions (``requested``, ``in_progress``) are ignored. Conclusions:
  success and neutral → success; failure, timed_out, startup_failure → failure; cancelled →
  cancelled; skipped → skipped; anything else (action_required, stale) → unknown. The
  pipeline is the workflow's name (``bumper.core.events``: one build model), and the run is
  ``extra.run_id`` + ``extra.attempt``, so that the deliveries of one run make one
  ``build.finished``: a ``workflow_job`` reports only a failed or cancelled job (with
  ``extra.job``), since a job's success is not its run's; a ``check_suite`` of GitHub Actions
  (app ``github-actions``) is dropped, since it names no workflow and its ``workflow_run``
  reports the same run; other apps' check suites are their own pipeline (the app's name) and
  link to the commit's checks page. ``head_branch`` becomes ``refs/tags/<name>`` or
  ``refs/heads/<name>`` only where the payload says which (see ``_ref``); otherwise ``ref`` is
  ``None`` and ``extra.ref_name`` / ``extra.ref_unknown`` record the name and why.
- ``issue_comment`` with action ``created`` on a pull request (``issue.pull_request`` is
  present) whose body holds a ``/bumper`` line (``bumper.core.commands.find``) →
  ``pr.comment``; comments on issues, edits, deletions, comments without a command and
  comments by apps (``comment.user.type: Bot``) are dropped. The commenter's
  ``author_association`` is not read: the worker asks GitHub for their permission.
"""

from __future__ import annotations

from typing import Any

from bumper.core import commands
from bumper.core.events import BuildStatus, Event, ImageEventType, PullRequestComment
from bumper.sources import _auth
from bumper.sources._common import (
    artifact_of,
    branch_ref,
    build_event,
    capped_id,
    drop,
    first_text,
    header,
    host_of,
    image_event,
    load_object,
    lst,
    obj,
    repo_path,
    split_reference,
    text,
)
from bumper.sources._headers import Headers

NAME = "github"
LEGACY_HOST = "docker.pkg.github.com"
REGISTRY_HOSTS: tuple[str, ...] = ("ghcr.io", LEGACY_HOST)

CONCLUSIONS: dict[str, BuildStatus] = {
    "success": "success",
    "neutral": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    "cancelled": "cancelled",
    "skipped": "skipped",
}
_CONTAINER_TYPES = frozenset({"container", "docker"})
ACTIONS_APP = "github-actions"


AUTH = _auth.hmac_signature("X-Hub-Signature-256", prefix="sha256=", event_header="X-GitHub-Event")


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(headers.get("X-GitHub-Delivery"))


def is_ping(headers: Headers, body: bytes) -> bool:
    return (header(headers, "X-GitHub-Event") or "").lower() == "ping"


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    event = (header(headers, "X-GitHub-Event") or _guess_event(data)).lower()
    if event in ("package", "registry_package", "package_v2"):
        return parse_package(NAME, data, data.get(event) or _package_of(data))
    if event in ("workflow_run", "workflow_job", "check_suite"):
        return parse_build(NAME, event, data)
    if event == "issue_comment":
        return parse_comment(data)
    return drop(NAME, f"event {event!r} carries no image or build result")


def _package_of(data: dict[str, Any]) -> Any:
    return data.get("package") or data.get("registry_package")


def _guess_event(data: dict[str, Any]) -> str:
    """Without ``X-GitHub-Event`` (``explain-webhook`` on a saved body), infer it from keys."""
    for key in ("workflow_job", "workflow_run", "check_suite", "registry_package", "package"):
        if isinstance(data.get(key), dict):
            return key
    if isinstance(data.get("comment"), dict) and isinstance(data.get("issue"), dict):
        return "issue_comment"
    return "unknown"


def parse_package(sender: str, data: dict[str, Any], package: Any) -> list[Event]:
    """Shared with Gitea's GitHub-compatible deliveries."""
    package = obj(package)
    if not _is_container(package):
        return drop(sender, f"package of type {sorted(_kinds(package))} is not a container image")
    action = (text(data, "action") or "").lower()
    if action in ("published", "updated", "created", "create"):
        kind: ImageEventType = "image.pushed"
    elif action == "deleted":
        kind = "image.deleted"
    else:
        return drop(sender, f"package action {action!r} is not a push or delete")
    version = obj(package, "package_version")
    meta = obj(version, "container_metadata")
    url_name, url_tag, _ = split_reference(text(version, "package_url") or "")
    legacy = _legacy_registry(package)
    name = url_name or _package_name(legacy or "ghcr.io", package)
    if name:
        name = name.lower()
    digest = first_text(
        _digest(text(version, "version")),
        _digest(text(meta, "tag", "digest")),
        _digest(text(version, "name")),
    )
    # docker.pkg.github.com (2019) put the tag in ``version``; GHCR puts the digest there.
    legacy_tag = text(version, "version") if legacy else None
    tag = first_text(text(meta, "tag", "name"), url_tag, legacy_tag)
    manifest = obj(meta, "manifest")
    layers = [text(obj(layer), "media_type") for layer in lst(manifest.get("layers"))[:16]]
    artifact = artifact_of(text(manifest, "config", "media_type"), *layers)
    return image_event(sender, kind, name, tag=tag, digest=digest, artifact=artifact)


def _kinds(package: dict[str, Any]) -> set[str]:
    found = {
        (text(package, "package_type") or "").lower(),
        (text(package, "registry", "type") or "").lower(),
    } - {""}
    # The 2020 beta (``ecosystem: CONTAINER``) had neither; where they exist they decide,
    # since GitHub's own examples pair ``ecosystem: docker`` with npm packages.
    return found or {(text(package, "ecosystem") or "").lower()} - {""}


def _is_container(package: dict[str, Any]) -> bool:
    return bool(_kinds(package) & _CONTAINER_TYPES)


def _legacy_registry(package: dict[str, Any]) -> str | None:
    """``docker.pkg.github.com/<owner>/<repo>`` for the 2019 registry, whose images are named
    ``docker.pkg.github.com/<owner>/<repo>/<name>``; ``None`` for GHCR."""
    url = text(package, "registry", "url")
    host = host_of(url)
    if not url or host is None or host.lower() != LEGACY_HOST:
        return None
    path = repo_path(url)
    return f"{LEGACY_HOST}/{path}" if path else None


def _package_name(registry: str, package: dict[str, Any]) -> str | None:
    """``<registry>/<name>`` for docker.pkg.github.com (the registry holds owner and repo),
    ``ghcr.io/<owner>/<name>`` for GHCR (the 2020 beta named the owner only in namespace)."""
    name = text(package, "name")
    if registry != "ghcr.io":
        return f"{registry}/{name}" if name else None
    owner = first_text(text(package, "owner", "login"), text(package, "namespace"))
    return f"ghcr.io/{owner}/{name}" if owner and name else None


def _digest(value: str | None) -> str | None:
    return value if value and value.startswith("sha256:") else None


def parse_build(sender: str, event: str, data: dict[str, Any]) -> list[Event]:
    """Shared with Gitea Actions, which sends the same shapes."""
    if (text(data, "action") or "").lower() != "completed":
        return drop(sender, f"{event} action {text(data, 'action')!r} is not 'completed'")
    run = obj(data, event)
    conclusion = (text(run, "conclusion") or "").lower()
    status: BuildStatus = CONCLUSIONS.get(conclusion, "unknown")
    repository = text(data, "repository", "full_name")
    web = text(data, "repository", "html_url")
    extra: dict[str, Any] = {}
    url = text(run, "html_url")
    if event == "workflow_run":
        pipeline = first_text(text(run, "name"), text(data, "workflow", "name"))
        extra.update(_run(run.get("id"), run.get("run_attempt")))
    elif event == "workflow_job":
        if status in ("success", "skipped"):
            return drop(sender, f"a job's {status} is not its run's: workflow_run reports the run")
        pipeline = text(run, "workflow_name")
        extra.update(_run(run.get("run_id"), run.get("run_attempt")))
        if job := text(run, "name"):
            extra["job"] = job
    else:
        if (text(run, "app", "slug") or "").lower() == ACTIONS_APP:
            return drop(sender, "an Actions check suite names no workflow: workflow_run reports it")
        pipeline = text(run, "app", "name")
        extra.update(_run(run.get("id"), None))
        url = url or _checks_page(web, text(run, "head_sha"), run.get("id"))
    ref, unknown = _ref(run, data)
    extra.update(unknown)
    return build_event(
        sender,
        status,
        commit=text(run, "head_sha"),
        ref=ref,
        repository=repository,
        pipeline=pipeline,
        url=url,
        extra=extra,
    )


def _run(run_id: Any, attempt: Any) -> dict[str, int]:
    """``extra.run_id`` / ``extra.attempt``: what ties a run's deliveries together."""
    found = {}
    if type(run_id) is int:
        found["run_id"] = run_id
    if type(attempt) is int:
        found["attempt"] = attempt
    return found


# GitHub's "Events that trigger workflows" (GITHUB_REF per event): a release runs on its tag;
# these may run on a branch or a tag, so their ``head_branch`` alone does not say which.
TAG_EVENTS = frozenset({"release"})
EITHER_EVENTS = frozenset(
    {
        "push",
        "create",
        "workflow_dispatch",
        "workflow_call",
        "deployment",
        "deployment_status",
        "registry_package",
    }
)


def _ref(run: dict[str, Any], data: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The run's full ref, from what the payload says, and ``extra`` saying so when it cannot.

    GitHub sends only ``head_branch``, which holds a tag's name for a tag-triggered run. The
    payload tells the kind where it can: a ``release`` run is on a tag; a run whose event
    GitHub documents on a branch (pull requests, schedule, dispatch...) is on a branch, and so
    is a ``head_branch`` equal to ``repository.default_branch`` or to the head of one of the
    run's pull requests. Otherwise (a ``push``, ``create`` or ``workflow_dispatch`` run, a
    ``workflow_job`` or check suite, which name no event) the kind is unknown: ``ref`` is
    ``None``, and ``extra.ref_name`` / ``extra.ref_unknown`` keep the name and say why; a
    gate's or trigger's own ``branches:`` / ``tags:`` then decide (``core.config.rule_ref``).
    """
    name = text(run, "head_branch")
    if not name:
        return None, {}
    if name.startswith("refs/"):
        return name, {}
    trigger = (text(run, "event") or "").lower()
    if trigger in TAG_EVENTS:
        return branch_ref(name, tag=True), {}
    if (trigger and trigger not in EITHER_EVENTS) or _branch_evidence(name, run, data):
        return branch_ref(name), {}
    said = f"a {trigger} run" if trigger else "this delivery names no triggering event"
    why = f"GitHub does not say whether {name!r} is a branch or a tag ({said})"
    return None, {"ref_name": name, "ref_unknown": why}


def _branch_evidence(name: str, run: dict[str, Any], data: dict[str, Any]) -> bool:
    """``name`` is the repository's default branch, or the head branch of a pull request."""
    if name == text(data, "repository", "default_branch"):
        return True
    return any(text(obj(pr), "head", "ref") == name for pr in lst(run.get("pull_requests"))[:50])


def _checks_page(web: str | None, sha: str | None, suite: Any) -> str | None:
    """The commit's checks page for a check suite, which sends no web link of its own."""
    if not web or not sha or type(suite) is not int:
        return None
    return f"{web}/commit/{sha}/checks?check_suite_id={suite}"


def parse_comment(data: dict[str, Any]) -> list[Event]:
    """An ``issue_comment`` holding a ``/bumper`` command on a pull request (see above)."""
    action = text(data, "action")
    if action != "created":
        return drop(NAME, f"issue_comment action {action!r} is not 'created'", routine=True)
    issue, comment = obj(data, "issue"), obj(data, "comment")
    if not isinstance(issue.get("pull_request"), dict):
        return drop(NAME, "a comment on an issue, not on a pull request", routine=True)
    user = obj(comment, "user")
    if (text(user, "type") or "").lower() == "bot":
        return drop(NAME, "a comment by an app is never a command", routine=True)
    body = comment.get("body")
    line = commands.find(body) if isinstance(body, str) else None
    if line is None:
        return drop(NAME, "the comment holds no /bumper command", routine=True)
    repository, number, login = (
        text(data, "repository", "full_name"),
        issue.get("number"),
        text(user, "login"),
    )
    if not repository or type(number) is not int or not login:
        return drop(NAME, "the comment names no repository, pull request number or author")
    return [
        PullRequestComment(
            forge=NAME,
            repository=repository,
            number=number,
            author=login,
            command=line,
            author_id=_int(user.get("id")),
            comment_id=_int(comment.get("id")),
            url=text(comment, "html_url"),
        )
    ]


def _int(value: Any) -> int | None:
    return value if type(value) is int else None
