"""Normalised events: the only types that cross from webhooks into the queue.

``image.pushed`` / ``image.deleted`` come from registries; ``build.finished`` from CI;
``pr.comment`` from a forge: a reviewer's ``/bumper ...`` command on one of Bumper's PRs.
Every event carries its source (sender module name), the delivery id and the time of
receipt. They serialise with ``to_dict`` / ``from_dict`` (plain JSON types only).

One build model for every CI sender: a ``build.finished`` is the end of one *run* of a
*pipeline*. ``pipeline`` is the name of the pipeline definition that ran (GitHub's workflow
name, GitLab's pipeline name, CircleCI's workflow name, Buildkite's pipeline slug, Tekton's
Pipeline or Task, Jenkins' job), never a job's or step's name (that goes to ``extra.job``).
``ref`` is a full git ref and keeps tags as ``refs/tags/<tag>``. A sender that reports jobs
as well as runs reports a job's failure (it fails its run) but not a job's success (the run
may still fail). ``extra.run_id`` and ``extra.attempt`` identify the run where the sender
gives them; ``run_identity`` is what the receiver deduplicates one run's deliveries on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

ImageEventType = Literal["image.pushed", "image.deleted"]
Artifact = Literal["image", "chart"]
BuildStatus = Literal["success", "failure", "cancelled", "running", "pending", "skipped", "unknown"]


@dataclass(frozen=True)
class ImageEvent:
    """A registry push or delete. ``image`` is fully qualified and normalised (see refs).

    ``artifact`` says what was pushed: ``"image"``, or ``"chart"`` when the sender says the
    artifact is a Helm chart (its media type); ``image`` is then the chart's registry
    repository and ``tag`` its version. A chart event never bumps an image rule.
    """

    type: ImageEventType
    image: str
    tag: str | None = None
    digest: str | None = None
    source: str = ""
    delivery_id: str = ""
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    artifact: Artifact = "image"

    kind: ClassVar[str] = "image"


@dataclass(frozen=True)
class BuildFinished:
    """A CI run that ended. ``repository`` is the source repo (e.g. ``acme/api``)."""

    status: BuildStatus
    commit: str | None = None
    ref: str | None = None
    repository: str | None = None
    pipeline: str | None = None
    url: str | None = None
    source: str = ""
    delivery_id: str = ""
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    type: Literal["build.finished"] = "build.finished"
    kind: ClassVar[str] = "build"


@dataclass(frozen=True)
class PullRequestComment:
    """A ``/bumper ...`` command in a comment on a pull (merge) request.

    ``forge`` is ``github`` or ``gitlab``; ``repository`` the PR's repository (``owner/name``,
    a GitLab ``group/project``); ``number`` the PR number (the MR's ``iid``); ``author`` the
    commenter's login, ``author_id`` their numeric id (GitLab's members API needs it);
    ``command`` the comment's first ``/bumper`` line (``bumper.core.commands``), bounded;
    ``head_branch`` the PR's source branch when the payload names it (GitLab does; GitHub's
    ``issue_comment`` does not, and the worker asks the forge). Nothing here is trusted for
    authorisation: the worker asks the forge for the commenter's permission.
    """

    forge: str
    repository: str
    number: int
    author: str
    command: str
    author_id: int | None = None
    head_branch: str | None = None
    comment_id: int | None = None
    url: str | None = None
    source: str = ""
    delivery_id: str = ""
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    type: Literal["pr.comment"] = "pr.comment"
    kind: ClassVar[str] = "comment"


Event = ImageEvent | BuildFinished | PullRequestComment

# OCI media types that say an artifact is a Helm chart (its config, its content layer).
HELM_MEDIA_TYPES = frozenset(
    {
        "application/vnd.cncf.helm.config.v1+json",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "application/vnd.cncf.helm.chart.provenance.v1.prov",
    }
)


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key that ``from_dict`` reads back."""
    return dataclasses.asdict(event)


def from_dict(data: dict[str, Any]) -> Event:
    """Inverse of ``to_dict``; unknown keys are ignored so old jobs still load."""
    kind = data.get("type")
    cls: type[ImageEvent] | type[BuildFinished] | type[PullRequestComment]
    if kind in ("image.pushed", "image.deleted"):
        cls = ImageEvent
    elif kind == "build.finished":
        cls = BuildFinished
    elif kind == "pr.comment":
        cls = PullRequestComment
    else:
        raise ValueError(f"unknown event type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def stamp(event: Event, *, source: str, delivery_id: str, received_at: float) -> Event:
    """The same event with its delivery fields filled in by the receiver."""
    return dataclasses.replace(
        event, source=source, delivery_id=delivery_id, received_at=received_at
    )


FINAL_STATUSES: frozenset[str] = frozenset({"success", "failure", "cancelled", "skipped"})


def run_identity(event: Event) -> str | None:
    """Which run's result ``event`` is, so that the several deliveries a sender makes for one
    run (GitHub's ``workflow_run`` and ``workflow_job``) count once: a hash of its source,
    repository, run (``extra.run_id`` and ``extra.attempt`` where given, else commit and
    pipeline) and status. The status is part of it, so a run retried after a failure still
    reports its success. ``None`` for image events, unfinished or unclear builds, and builds
    too vague to tell apart (no repository, or neither a run id nor commit and pipeline).
    """
    if not isinstance(event, BuildFinished) or event.status not in FINAL_STATUSES:
        return None
    if not event.repository:
        return None
    run_id, attempt = event.extra.get("run_id"), event.extra.get("attempt")
    if run_id is not None:
        run = ("run", str(run_id), str(attempt or ""))
    elif event.commit and event.pipeline:
        run = ("commit", event.commit, event.pipeline)
    else:
        return None
    parts = (event.source, event.repository, *run, event.status)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
