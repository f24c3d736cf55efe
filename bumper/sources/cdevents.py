"""CDEvents (spec v0.4 and v0.5) over HTTP: artifacts and finished pipeline/task runs.

CDEvents travel as CloudEvents. Accepted: binary mode (``ce-*`` headers, the body is the whole
CDEvent ``{"context", "subject"}``), structured mode (a CloudEvent whose ``data`` is the
CDEvent) and a bare CDEvent body. v0.4 (``context.version``, ``subject.type``) and v0.5
(``context.specversion``) shapes are both read.

Secret: the CloudEvents Web Hook access token, sent as ``Authorization: Bearer <token>``; the
web layer's ``X-Bumper-Url-Token`` (the spec's discouraged ``access_token`` query parameter)
is accepted too. Compared in constant time.

Mapping:

- ``artifact.published`` → ``image.pushed``, ``artifact.deleted`` → ``image.deleted``, when the
  subject id is an OCI package URL with a ``repository_url`` qualifier
  (``pkg:oci/app@sha256%3A...?repository_url=ghcr.io/org/app&tag=v1``); other purl types
  (golang, npm...) and OCI purls without a repository are ignored.
- ``pipelinerun.finished`` / ``taskrun.finished`` → ``build.finished``: outcome success →
  success, failure and error → failure, cancel → cancelled; pipeline = ``pipelineName`` /
  ``taskName`` (the definition that ran, as for every CI sender), url = ``uri`` (v0.5) or
  ``url`` (v0.4), ``extra.run_id`` = the subject id (the run's id).
- ``build.finished`` carries no outcome in the spec (nor a pipeline name: its subject id is
  the build's id, ``extra.run_id``; ``extra.artifactId`` when given). It is never a success:
  the receiver's URL may name the outcome (``?event=build_success``, ``build_failure``,
  ``build_cancelled``) for a tool that sends it for one outcome only; without one it is
  ``unknown`` with ``extra.ambiguous`` saying which URL to configure, which the worker records
  as an ``ambiguous`` decision. Through a cloudevents receiver (no hints) it is always that.
- everything else (queued, started, changes, services...) is ignored.

The delivery id is ``context.id`` (else ``ce-id``); the dedupe key is ``context.source`` and
``context.id`` together (else ``ce-source`` and ``ce-id``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote

from bumper.core.events import BuildStatus, Event, ImageEventType
from bumper.sources import _auth, _cloudevent, _hints
from bumper.sources._common import (
    build_event,
    capped_id,
    drop,
    first_text,
    header,
    image_event,
    load_object,
    map_status,
    normal_name,
    obj,
    text,
)
from bumper.sources._headers import Headers
from bumper.sources._hints import EVENT_HINT_HEADER

NAME = "cdevents"
# Any tool may emit CDEvents: a receiver lists what it speaks for in ``scope.images``.
REGISTRY_HOSTS: tuple[str, ...] = ()
PREFIX = "dev.cdevents."
ARTIFACT_KINDS: dict[str, ImageEventType] = {
    "artifact.published": "image.pushed",
    "artifact.deleted": "image.deleted",
}
EVENT_HINTS = frozenset(_hints.OUTCOMES)
AMBIGUOUS = (
    "CDEvents build.finished does not say how the build ended (the spec gives it no outcome): "
    "have the tool send pipelinerun.finished or taskrun.finished, which do, or, if it sends "
    "build.finished for one outcome only, post it to a cdevents receiver whose URL names it, "
    "POST /hooks/<receiver>?event=build_success (or ?event=build_failure)"
)
OUTCOMES: dict[str, BuildStatus] = {
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "cancel": "cancelled",
    "cancelled": "cancelled",
}


AUTH = _auth.BEARER_OR_URL_TOKEN


def delivery_id(headers: Headers, body: bytes) -> str | None:
    context = obj(_cdevent(headers, body), "context")
    return first_text(capped_id(context.get("id")), capped_id(headers.get("ce-id")))


def dedupe_key(headers: Headers, body: bytes) -> str | None:
    """``context.source`` and ``context.id`` (else ``ce-source`` and ``ce-id``), as CloudEvents."""
    context = obj(_cdevent(headers, body), "context")
    event_id = text(context, "id")
    if event_id:
        return json.dumps([text(context, "source") or "", event_id])
    return _cloudevent.identity(_cloudevent.read(headers, body, require=False))


def parse(headers: Headers, body: bytes) -> list[Event]:
    event = _cdevent(headers, body)
    kind = text(event, "context", "type") or header(headers, "ce-type")
    return parse_cdevent(NAME, kind, event, hint=header(headers, EVENT_HINT_HEADER))


def _cdevent(headers: Headers, body: bytes) -> dict[str, Any]:
    data = load_object(body)
    if "context" in data and "subject" in data:
        return data
    event = _cloudevent.read(headers, body)
    return obj(event.data if event else None)


def parse_cdevent(
    sender: str, event_type: str | None, event: Any, *, hint: str | None = None
) -> list[Event]:
    """One CDEvent (the ``data`` of a CloudEvent); shared with the cloudevents sender, whose
    URL takes no hint."""
    if not event_type or not event_type.startswith(PREFIX):
        return drop(sender, f"type {event_type!r} is not a CDEvent")
    parts = event_type[len(PREFIX) :].split(".")
    if len(parts) < 2:
        return drop(sender, f"CDEvent type {event_type!r} has no subject and predicate")
    name = f"{parts[0]}.{parts[1]}"
    subject = obj(event, "subject")
    content = obj(subject, "content")
    if name in ARTIFACT_KINDS:
        return _artifact(sender, ARTIFACT_KINDS[name], text(subject, "id"))
    if name in ("pipelinerun.finished", "taskrun.finished"):
        raw = text(content, "outcome")
        status = map_status(OUTCOMES, raw)
        if status is None:
            return drop(sender, f"{name} outcome {raw!r} is not known")
        return build_event(
            sender,
            status,
            pipeline=first_text(text(content, "pipelineName"), text(content, "taskName")),
            url=text(content, "uri") or text(content, "url"),
            extra=_run(subject),
        )
    if name == "build.finished":
        # The spec gives a build no outcome (and no name: the subject id is the build's id).
        extra = _run(subject)
        if artifact := text(content, "artifactId"):
            extra["artifactId"] = artifact
        # Not in the spec, but some emitters add the pipelinerun's ``outcome``: where it is
        # there, it says.
        told = map_status(OUTCOMES, text(content, "outcome"))
        status, unclear = _hints.outcome(told, hint, AMBIGUOUS)
        built = normal_name(_oci_purl(artifact)[0]) if artifact else None
        if unclear and built and artifact and artifact.startswith("pkg:oci/"):
            unclear["image"] = built  # the built image's rules get the ambiguous decision
        return build_event(sender, status, extra={**extra, **unclear})
    return drop(sender, f"CDEvent {name!r} is not an artifact or finished run")


def _run(subject: dict[str, Any]) -> dict[str, Any]:
    """``extra.run_id``: the subject's id, the run's (or build's) own id in the spec."""
    run_id = capped_id(subject.get("id"))
    return {"run_id": run_id} if run_id else {}


def _artifact(sender: str, kind: ImageEventType, purl: str | None) -> list[Event]:
    if not purl or not purl.startswith("pkg:oci/"):
        return drop(sender, f"artifact {purl[:60] if purl else None!r} is not an OCI image")
    repository, tag, digest = _oci_purl(purl)
    if not repository:
        return drop(sender, "OCI purl without repository_url: registry unknown")
    return image_event(sender, kind, repository, tag=tag, digest=digest)


def _oci_purl(purl: str) -> tuple[str | None, str | None, str | None]:
    """``repository_url`` (without scheme), ``tag`` and the digest of ``pkg:oci/...``."""
    rest, _, _subpath = purl.removeprefix("pkg:oci/").partition("#")
    rest, _, query = rest.partition("?")
    _name, _, version = rest.partition("@")
    qualifiers = {key.lower(): values[0] for key, values in parse_qs(query).items() if values}
    repository = qualifiers.get("repository_url")
    if repository:
        repository = repository.removeprefix("https://").removeprefix("http://")
    return repository, qualifiers.get("tag"), unquote(version) if version else None
