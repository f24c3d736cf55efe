"""What a receiver may speak for: the registries and image prefixes of its image events, and the
CI repositories of its build events.

A receiver's credential proves who sent a delivery, not what the delivery may name: a Harbor
webhook secret must not let its holder bump a ``ghcr.io`` image. So each receiver has a
:class:`Scope`, and an event outside it is dropped by the web layer before it is queued.

Entries are plain strings, checked here (``check_image_entry``, ``check_repo_entry``,
``check_host``) with one-line ``ValueError`` messages that ``bumper check-config`` prints:

- an image entry is a registry host (``ghcr.io``, ``registry.local:5000``) or a host and an
  image prefix (``ghcr.io/acme``, ``ghcr.io/acme/api``). A prefix covers whole path segments:
  ``ghcr.io/acme`` covers ``ghcr.io/acme/api``, never ``ghcr.io/acme-evil/api``. A ``*`` may
  stand for part of a host label (``*-docker.pkg.dev``, ``*.gcr.io``), never for a dot, a
  port or a path, and the last two labels of such a host are literal (so no ``*.io``).
  A port is part of the host: ``registry.local`` does not cover ``registry.local:5000``.
  A chart event from a classic Helm repository names ``https://host/path/chart``: it is
  matched as ``host/path/chart``, so ``harbor.example.com`` covers Harbor's ``chartrepo``.
- a repo entry is a repository path as CI senders name it (``acme/api``, a GitLab
  ``group/subgroup/project``), or a leading part of one (``acme``, ``group/subgroup``),
  covering whole segments, compared case-insensitively (GitHub names are).

A build event that names no repository is outside every scope. A PR comment (a ``/bumper``
command) is matched like a build, on its repository: a receiver speaks for the comments of
the repositories in its ``repos`` only. Which defaults a receiver gets
depends on its sender, so filling them in lives with the senders (``bumper.sources.scoping``).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bumper.core import events, refs
from bumper.errors import InvalidReference

_REPO = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_WILD_LABEL = re.compile(r"[a-z0-9*-]+")
_EXAMPLES = "e.g. ghcr.io, registry.local:5000 or ghcr.io/acme"


def check_host(value: str) -> str:
    """A literal registry ``host[:port]``, normalised (lower case, ``docker.io`` aliases)."""
    host = _normal_host(value, wildcards=False)
    if host is None:
        raise ValueError(f"{value!r} is not a registry host (e.g. harbor.example.com)")
    return host


def check_image_entry(value: str) -> str:
    """A registry host or host + image prefix, normalised; ``ValueError`` saying what is wrong."""
    text_ = value.strip()
    if text_ != value or not text_:
        raise ValueError(f"{value!r}: give a registry host or image prefix ({_EXAMPLES})")
    host, _, path = text_.removesuffix("/").partition("/")
    if "@" in path or ":" in path:
        raise ValueError(f"{value!r}: give an image prefix without a tag or digest")
    if "*" in path:
        raise ValueError(f"{value!r}: '*' may only stand in the host, not in the image path")
    normal = _normal_host(host, wildcards=True)
    if normal is None:
        raise ValueError(
            f"{value!r} does not start with a registry host (a name with a '.' or a port, "
            f"or localhost; {_EXAMPLES})"
        )
    if path and not _valid_path(path):
        raise ValueError(f"{value!r}: {path!r} is not a lower-case image path")
    return f"{normal}/{path}" if path else normal


def check_repo_entry(value: str) -> str:
    """A CI repository path or a leading part of one (``acme/api``, ``acme``)."""
    entry = value.removesuffix("/")
    if not _REPO.fullmatch(entry) or any(part in (".", "..") for part in entry.split("/")):
        raise ValueError(
            f"{value!r} is not a repository path (e.g. acme/api, or group/subgroup for all of "
            "a GitLab group)"
        )
    return entry


def _normal_host(host: str, *, wildcards: bool) -> str | None:
    """``host`` normalised as refs does, or ``None`` if it is not a registry host."""
    if "/" in host or not ("." in host or ":" in host or host == "localhost"):
        return None
    if "*" in host and not (wildcards and _wildcard_host_ok(host)):
        return None
    probe = host.replace("*", "x")
    try:
        registry = refs.parse_name(f"{probe}/x/x").registry
    except InvalidReference:
        return None
    return host.lower() if "*" in host else registry


def _wildcard_host_ok(host: str) -> bool:
    name, _, port = host.partition(":")
    labels = name.lower().split(".")
    if "*" in port or len(labels) < 3 or any("*" in label for label in labels[-2:]):
        return False
    return all(_WILD_LABEL.fullmatch(label) for label in labels)


def _valid_path(path: str) -> bool:
    try:
        refs.parse_name(f"localhost/{path}")
    except InvalidReference:
        return False
    return True


@dataclass(frozen=True)
class ImagePattern:
    """One checked image entry: a host (maybe with ``*``) and an optional path prefix."""

    host: str
    path: str
    host_pattern: re.Pattern[str]

    @classmethod
    def of(cls, entry: str) -> ImagePattern:
        host, _, path = entry.partition("/")
        pattern = "".join("[a-z0-9-]*" if char == "*" else re.escape(char) for char in host)
        return cls(host, path, re.compile(pattern))

    def covers(self, image: str) -> bool:
        """Whether the normalised image name ``image`` is this host / under this prefix. A
        classic Helm chart's key (``https://host/path/chart``) is covered by its URL's host."""
        scheme, sep, rest = image.partition("://")
        if sep and scheme in ("http", "https"):
            image = rest
        host, _, path = image.partition("/")
        if not self.host_pattern.fullmatch(host.lower()):
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host


@dataclass(frozen=True)
class Scope:
    """The images and repositories one receiver may speak for; nothing by default."""

    images: tuple[ImagePattern, ...] = ()
    repos: tuple[str, ...] = ()

    @classmethod
    def of(cls, images: Iterable[str] = (), repos: Iterable[str] = ()) -> Scope:
        """From entries already checked by ``check_image_entry`` / ``check_repo_entry``."""
        return cls(tuple(map(ImagePattern.of, images)), tuple(r.casefold() for r in repos))

    def covers(self, event: events.Event) -> bool:
        if isinstance(event, events.ImageEvent):
            return any(pattern.covers(event.image) for pattern in self.images)
        repository = (event.repository or "").casefold()
        return bool(repository) and any(
            repository == repo or repository.startswith(repo + "/") for repo in self.repos
        )

    def covers_repo(self, repository: str | None) -> bool:
        """Whether a build of ``repository`` would be in scope (config checks use it)."""
        return self.covers(events.BuildFinished(status="unknown", repository=repository))

    def split(self, found: Iterable[events.Event]) -> tuple[list[events.Event], list[str]]:
        """The events in scope, and a short description of each one outside it."""
        kept: list[events.Event] = []
        dropped: list[str] = []
        for event in found:
            if self.covers(event):
                kept.append(event)
            else:
                dropped.append(subject(event))
        return kept, dropped


def subject(event: events.Event) -> str:
    """What an event speaks for, for log lines: its image, or its repository (bounded)."""
    if isinstance(event, events.ImageEvent):
        return event.image
    if isinstance(event, events.PullRequestComment):
        return f"{event.source} comment on {event.repository[:100]}#{event.number}"
    return f"{event.source} build of {(event.repository or '(no repository)')[:100]}"
