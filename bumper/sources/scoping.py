"""Each receiver's scope with its sender's defaults filled in, and the config checks that need
to know the senders (``bumper.core.scope`` has the matching; ``bumper.core.config`` the syntax).

Defaults, safe rather than wide:

- ``scope.images``: the receiver's ``registry`` when it has one, else the hosts its sender
  declares as its own (``REGISTRY_HOSTS``: ``docker.io`` for Docker Hub, ``ghcr.io`` for
  GitHub...). A sender without a registry of its own (Harbor, Distribution, JFrog, Nexus, ACR,
  ECR, Gitea, CloudEvents, CDEvents) gets nothing: :func:`problems` reports such a receiver
  as an error, because every one of its image events would be dropped, unless it opts out
  explicitly (``scope: {images: []}``, or ``events`` without image kinds).
- ``scope.repos``: none. A CI trigger or gate whose builds no receiver may speak for is
  reported as a warning (the worker reads the same file and needs no receivers at all).

``bumper check-config`` prints these issues; the web app refuses to start on an error and
logs the warnings (``bumper.web.receivers``). Pure, like the rest of ``bumper.sources``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bumper.core import config
from bumper.core.scope import Scope
from bumper.sources import SENDERS, Sender

IMAGE_KINDS = frozenset({"image.pushed", "image.deleted"})


def scope_of(
    receiver: config.Receiver, sender: Sender, registries: Mapping[str, str] | None = None
) -> Scope:
    """What ``receiver`` may speak for, defaults filled in from ``sender``; an entry naming a
    ``registries`` entry (``registries``: name → host) stands for that registry's host."""
    images = receiver.scope.images
    if images is None:
        images = [receiver.registry] if receiver.registry else list(sender.registry_hosts or ())
    named = registries or {}
    images = [named.get(entry, entry) for entry in images]
    return Scope.of(images, receiver.scope.repos)


def problems(cfg: config.BumperConfig) -> list[config.Issue]:
    """Errors (receivers that cannot know their images) and warnings (unreachable CI)."""
    issues: list[config.Issue] = []
    scopes: dict[str, list[Scope]] = {}
    for index, receiver in enumerate(cfg.receivers):
        sender = SENDERS.get(receiver.type)
        if sender is None:
            continue  # an unknown type is refused when the app starts (bumper.web.receivers)
        scope = scope_of(receiver, sender, cfg.registry_hosts())
        if "build.finished" in receiver.events:
            scopes.setdefault(receiver.type, []).append(scope)
        if _needs_registry(receiver, sender, scope):
            issues.append(config.Issue(("receivers", index), _no_images(receiver)))
    for index, trigger in enumerate(cfg.ci):
        if not _reachable(scopes.get(trigger.source, []), trigger.repository):
            message = _unreachable(trigger.source, trigger.repository, "this trigger never fires")
            issues.append(config.Issue(("ci", index, "repository"), message, warning=True))
    for index, rule in enumerate(cfg.images):
        gate = rule.gate
        if gate is not None and not _reachable(scopes.get(gate.ci, []), gate.repository):
            message = _unreachable(gate.ci, gate.repository, "this gate never sees a result")
            issues.append(config.Issue(("images", index, "gate"), message, warning=True))
    return issues


def _needs_registry(receiver: config.Receiver, sender: Sender, scope: Scope) -> bool:
    produces_images = sender.registry_hosts is not None and IMAGE_KINDS & set(receiver.events)
    return bool(produces_images) and not scope.images and receiver.scope.images is None


def _no_images(receiver: config.Receiver) -> str:
    return (
        f"receiver {receiver.name!r}: type {receiver.type} has no registry of its own; "
        "set registry: <host> (or scope.images) to the registry it speaks for, or "
        "scope: {images: []} to drop its image events"
    )


def _reachable(scopes: list[Scope], repository: str | None) -> bool:
    if repository is None:
        return any(scope.repos for scope in scopes)
    return any(scope.covers_repo(repository) for scope in scopes)


def _unreachable(source: str, repository: str | None, outcome: str) -> str:
    if repository is None:
        return f"no {source} receiver lists any repository in scope.repos: {outcome}"
    return f"no {source} receiver has {repository!r} in scope.repos: {outcome}"
