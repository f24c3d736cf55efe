"""Webhook senders, one module each, and the contract the web layer relies on.

Every sender module (``SENDERS[name]``) exposes pure functions over the raw request:

``verify(headers, body, secret) -> None``
    Authenticates the delivery with the sender's own scheme. Raises ``WebhookRejected`` with
    status 401 (credentials missing) or 403 (credentials wrong, stale or forged) and a
    ``reason`` slug. The message never contains the secret or the presented credential.
    Raises ``ConfigError`` when ``secret`` itself is unusable (call ``check_secret`` at start-up
    so that never happens on a request). An empty secret is always a ``ConfigError``.
``parse(headers, body) -> list[Event]``
    The normalised events of the delivery (``bumper.core.events``), ``[]`` for deliveries that
    are irrelevant (pings, npm packages, layer blobs, pulls, unfinished builds). Raises
    ``WebhookRejected(status=400)`` for a malformed body, and nothing else, whatever the input.
    A field that is invalid (placeholder digest, empty tag) becomes ``None``; an event left
    with nothing to act on is dropped with a logged reason (logger ``bumper.sources.<name>``).
``delivery_id(headers, body) -> str | None``
    The sender's own id for the delivery, stable across its retries (``X-GitHub-Delivery``,
    GitLab ``Idempotency-Key``, CloudEvents ``id``, ...), or ``None`` when it has none; the
    receiver then dedupes on a hash of the body. At most 200 characters. Never raises.
``is_ping(headers, body) -> bool``
    True for a sender's connectivity check (GitHub ``ping``, Buildkite ``ping``). The receiver
    still verifies it, then answers 200 without parsing or enqueueing. Never raises. The
    CloudEvents abuse-protection handshake is an ``OPTIONS`` request, not a POST: see
    ``bumper.sources.cloudevents.handshake_headers``.
``check_secret(secret) -> None``
    Raises ``ConfigError`` if ``secret`` is not in the form ``verify`` needs.

``headers`` may be any ``Mapping[str, str]``; modules wrap it in the case-insensitive
``Headers`` (pass a ``Headers`` to avoid the copy). ``body`` is the raw bytes: signatures are
always computed over the bytes as received, never over re-serialised JSON.

Context headers set by the web layer (never by senders; the web layer must drop them from the
incoming request before adding its own):

- ``X-Bumper-Url-Token``: the secret part of the receiver URL, for senders with no signature
  scheme (Docker Hub, Quay, Tekton, and optionally CloudEvents/CDEvents).
- ``X-Bumper-Registry``: the registry host for senders whose payloads do not name it (JFrog
  without ``jpd_origin``, Nexus, ACR without ``request.host``).

How ``secret`` is spelled for each sender is documented in the sender's module docstring and
in the README ("Webhook senders").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, cast

from bumper.core.events import Event


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive view of HTTP headers (last value wins on repeats)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            if isinstance(name, str) and isinstance(value, str):
                self._items[name.lower()] = (name, value)

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headers:
        """``headers`` itself when it already is a ``Headers``, else a case-insensitive copy."""
        return headers if isinstance(headers, Headers) else cls(headers)

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Header values may be credentials: never show them.
        return f"Headers({sorted(self._items)})"


class Sender(Protocol):
    """The functions every module in ``SENDERS`` provides (see the module docstring)."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None: ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]: ...

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None: ...

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool: ...

    def check_secret(self, secret: str) -> None: ...


SENDER_NAMES: tuple[str, ...] = (
    "acr",
    "buildkite",
    "cdevents",
    "circleci",
    "cloudevents",
    "distribution",
    "dockerhub",
    "ecr",
    "gar",
    "gitea",
    "github",
    "gitlab",
    "harbor",
    "jenkins",
    "jfrog",
    "nexus",
    "quay",
    "tekton",
)


def _load() -> dict[str, Sender]:
    import importlib

    modules = {name: importlib.import_module(f"{__name__}.{name}") for name in SENDER_NAMES}
    return {name: cast(Sender, module) for name, module in modules.items()}


SENDERS: dict[str, Sender] = _load()
"""Sender name (as used in ``receivers[].type`` and ``--source``) → module."""


def get(name: str) -> Sender:
    """The sender called ``name``; ``KeyError`` with the known names if there is none."""
    try:
        return SENDERS[name]
    except KeyError:
        known = ", ".join(sorted(SENDERS))
        raise KeyError(f"unknown webhook sender {name!r} (known: {known})") from None
