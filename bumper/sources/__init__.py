"""Webhook senders, one module each, and the contract the web layer relies on.

A sender module *declares* what it does; this package turns each declaration into a typed
``Sender`` (``SENDERS[name]``). A module declares:

``NAME``
    The sender's name, as used in ``receivers[].type`` and ``--source``.
``AUTH``
    Its authentication scheme, a ``bumper.sources._auth.Scheme`` (URL token, header
    credential, HMAC signature header, shared token, bearer, or the module's own check).
``parse(headers, body) -> list[Event]``
    The normalised events of the delivery.
``delivery_id(headers, body) -> str | None`` and ``is_ping(headers, body) -> bool``
    Only where the sender has them; otherwise there is no id and nothing is a ping.
``REGISTRY_HOSTS``
    Only in senders that produce image events: the registry hosts the sender itself serves
    (``("docker.io",)`` for Docker Hub), or ``()`` when it has none of its own (Harbor, JFrog,
    CloudEvents...), so that its receiver must name one. A receiver's default scope
    (``bumper.sources.scoping``).
``dedupe_key(headers, body) -> str | None``
    Only where the unsigned dedupe key is not the delivery id (CloudEvents: ``source`` and
    ``id``); otherwise the delivery id is the key.
``EVENT_HINTS``
    Only where the body may not say which event fired (Quay builds): the values the URL's
    ``?event=`` may take (``bumper.sources._hints``). Other senders refuse any hint.

The module functions receive the case-insensitive ``Headers`` and may raise anything: the
"never raise" rule below is applied here, once, by ``Sender``, not by each module.

The ``Sender`` contract (pure functions over the raw request):

``verify(headers, body, secret, *, replay_window=300) -> Signed``
    Authenticates the delivery with the sender's own scheme and returns what its signature
    covers (``_auth.Signed``: a signed identity, a signed timestamp; empty for token schemes).
    Raises ``WebhookRejected`` with status 401 (credentials missing) or 403 (credentials
    present but wrong, forged, or a signed timestamp more than ``replay_window`` seconds from
    now: ``stale-timestamp``) and a ``reason`` slug. The message never contains the secret or
    the presented credential. Raises ``ConfigError`` when ``secret`` itself is unusable (call
    ``check_secret`` at start-up so that never happens on a request). A blank secret is always
    a ``ConfigError``.
``parse(headers, body) -> list[Event]``
    The normalised events of the delivery (``bumper.core.events``), ``[]`` for deliveries that
    are irrelevant (pings, npm packages, layer blobs, pulls, unfinished builds). Raises
    ``WebhookRejected(status=400)`` for a malformed body, and nothing else, whatever the input:
    any other exception from the module is a parser bug, logged at ERROR with its traceback
    (logger ``bumper.sources.<name>``) and answered as ``WebhookRejected(400, "malformed")``.
    A field that is invalid (placeholder digest, empty tag) becomes ``None``; an event left
    with nothing to act on is dropped with a logged reason (same logger, INFO or DEBUG).
``delivery_id(headers, body) -> str | None``
    The sender's own id for the delivery, stable across its retries (``X-GitHub-Delivery``,
    GitLab ``Idempotency-Key``, CloudEvents ``id``, ...), or ``None`` when it has none or the
    body cannot be read. At most 200 characters. Never raises. Shown in replies, logs and
    events; it is not what the receiver dedupes on when the sender signs something (``key``).
``key(headers, body, signed, delivery_id, found) -> DeliveryKey``
    What the receiver dedupes a verified delivery on. A delivery whose one event is a finished
    build is keyed by its run (``bumper.core.events.run_identity``), so that the several
    deliveries a CI sends for one run make one ``build.finished``; that key is signed when the
    body is. Otherwise, from signed fields where the sender signs any: the signed identity,
    else the sender's own (unsigned) dedupe key or delivery id, else the SHA-256 of the body.
    Never raises.
``is_ping(headers, body) -> bool``
    True for a sender's connectivity check (GitHub ``ping``, Buildkite ``ping``, ACR
    ``ping``). The receiver still verifies it, then answers 200 without parsing or enqueueing.
    Never raises (an unreadable body is not a ping). The CloudEvents abuse-protection handshake
    is an ``OPTIONS`` request, not a POST: see ``bumper.sources.cloudevents.handshake_headers``.
``check_hint(hint) -> str``
    The URL's event hint if this sender allows it; ``WebhookRejected(400,
    "unknown-event-hint")`` with a one-line message naming the allowed values otherwise. The
    web layer passes an accepted hint to ``parse`` as ``X-Bumper-Event-Hint``.
``check_secret(secret) -> None``
    Raises ``ConfigError`` if ``secret`` is not in the form ``verify`` needs, is blank, or its
    shared part is shorter than ``_auth.MIN_SECRET_BYTES`` (16 bytes).

``headers`` may be any ``Mapping[str, str]``; ``Sender`` wraps it in the case-insensitive
``Headers`` (pass a ``Headers`` to avoid the copy). ``body`` is the raw bytes: signatures are
always computed over the bytes as received, never over re-serialised JSON.

Context headers set by the web layer (never by senders; the web layer must drop them from the
incoming request before adding its own):

- ``X-Bumper-Url-Token``: the secret part of the receiver URL, for senders with no signature
  scheme (Docker Hub, Quay, Tekton, and optionally CloudEvents/CDEvents).
- ``X-Bumper-Event-Hint``: the receiver URL's ``?event=`` value, once ``check_hint`` accepted
  it (Quay build notifications).
- ``X-Bumper-Registry``: the receiver's configured registry host, for senders whose payloads
  do not name the image's host (JFrog, Nexus, ACR without ``request.host``). Configured
  identity wins: a payload field never replaces it (JFrog's ``jpd_origin`` is used only when
  no registry is configured). Where a payload does name the host, the parser keeps it and the
  receiver's scope decides.

How ``secret`` is spelled for each sender is documented in the sender's module docstring and
in docs/senders.md.

This package imports only ``bumper.core`` and ``bumper.errors``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from bumper.core.events import Event, run_identity
from bumper.errors import WebhookRejected
from bumper.sources import (
    _hints,
    acr,
    buildkite,
    cdevents,
    circleci,
    cloudevents,
    distribution,
    dockerhub,
    ecr,
    gar,
    gitea,
    github,
    gitlab,
    harbor,
    jenkins,
    jfrog,
    nexus,
    quay,
    tekton,
)
from bumper.sources._auth import REPLAY_WINDOW, Scheme, Signed
from bumper.sources._headers import Headers
from bumper.sources._hints import EVENT_HINT_HEADER
from bumper.sources._hints import from_query as hint_from_query

__all__ = [
    "EVENT_HINT_HEADER",
    "REPLAY_WINDOW",
    "SENDERS",
    "SENDER_NAMES",
    "DeliveryKey",
    "Headers",
    "Sender",
    "Signed",
    "get",
    "hint_from_query",
]

Parser = Callable[[Headers, bytes], list[Event]]
IdReader = Callable[[Headers, bytes], str | None]
PingTest = Callable[[Headers, bytes], bool]


def no_delivery_id(headers: Headers, body: bytes) -> str | None:
    """For senders that send no id of their own: the receiver dedupes on the body's hash."""
    return None


def never_a_ping(headers: Headers, body: bytes) -> bool:
    """For senders without a connectivity check."""
    return False


@dataclass(frozen=True)
class DeliveryKey:
    """How the receiver identifies one verified delivery.

    ``key`` is what the dedup mark (and the job ids) are made of; ``delivery_id`` is what
    replies, logs and events show; ``signed`` says whether ``key`` comes from signed fields.
    """

    key: str
    delivery_id: str
    signed: bool


@dataclass(frozen=True)
class Sender:
    """One sender, with the contract of the module docstring enforced around its declaration."""

    name: str
    auth: Scheme
    parser: Parser
    id_reader: IdReader = no_delivery_id
    ping_test: PingTest = never_a_ping
    # None: the sender produces no image events; (): it has no registry host of its own.
    registry_hosts: tuple[str, ...] | None = None
    key_reader: IdReader | None = None
    hints: frozenset[str] = frozenset()

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        secret: str,
        *,
        replay_window: int = REPLAY_WINDOW,
    ) -> Signed:
        return self.auth.verify(Headers.of(headers), body, secret, replay_window=replay_window)

    def key(
        self,
        headers: Mapping[str, str],
        body: bytes,
        signed: Signed,
        delivery_id: str | None,
        found: Sequence[Event] = (),
    ) -> DeliveryKey:
        """What a verified delivery is deduplicated on (see the module docstring).

        ``delivery_id`` is this sender's ``delivery_id`` of the same request, already read;
        ``found`` its events, as queued. Key spellings: ``run:<run identity>``,
        ``signed:<identity>``, ``id:<sender key>``, ``sha256:<body hash>``.
        """
        run = run_identity(found[0]) if len(found) == 1 else None
        if run is not None:
            shown = delivery_id or "run:" + run[:16]
            return DeliveryKey("run:" + run, shown, bool(signed.identity))
        if signed.identity:
            shown = delivery_id or _short(signed.identity)
            return DeliveryKey("signed:" + signed.identity, shown, True)
        own = delivery_id
        if self.key_reader is not None:
            try:
                own = self.key_reader(Headers.of(headers), body)
            except Exception:  # an unreadable body has no key; its hash is one
                own = None
        if own:
            return DeliveryKey("id:" + own, delivery_id or own[:200], False)
        digest = hashlib.sha256(body).hexdigest()
        return DeliveryKey("sha256:" + digest, delivery_id or "sha256:" + digest[:16], False)

    def check_secret(self, secret: str) -> None:
        self.auth.check_secret(secret)

    def check_hint(self, hint: str) -> str:
        return _hints.check(self.name, self.hints, hint)

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        try:
            return self.parser(Headers.of(headers), body)
        except WebhookRejected:
            raise
        except RecursionError:
            raise WebhookRejected(
                "body is nested too deeply", status=400, reason="malformed"
            ) from None
        except Exception:
            logging.getLogger(f"bumper.sources.{self.name}").exception(
                "parser bug while reading a %s delivery", self.name
            )
            raise WebhookRejected(
                f"could not read this {self.name} delivery", status=400, reason="malformed"
            ) from None

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        try:
            return self.id_reader(Headers.of(headers), body)
        except Exception:  # a malformed body has no id; the receiver hashes it instead
            return None

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            return self.ping_test(Headers.of(headers), body)
        except Exception:  # a malformed body is not a ping; parse will refuse it
            return False


def _short(identity: str) -> str:
    """A signed identity as shown when the sender sent no id: a body hash cut like the others."""
    kind, _, value = identity.partition(":")
    return f"{kind}:{value[:16]}" if kind == "body" else identity[:200]


def declared(module: ModuleType) -> Sender:
    """The ``Sender`` a sender module declares (see the module docstring)."""
    auth = module.AUTH
    if not isinstance(auth, Scheme):
        raise TypeError(f"{module.__name__}.AUTH is not a bumper.sources._auth.Scheme")
    return Sender(
        name=module.NAME,
        auth=auth,
        parser=module.parse,
        id_reader=getattr(module, "delivery_id", no_delivery_id),
        ping_test=getattr(module, "is_ping", never_a_ping),
        registry_hosts=getattr(module, "REGISTRY_HOSTS", None),
        key_reader=getattr(module, "dedupe_key", None),
        hints=frozenset(getattr(module, "EVENT_HINTS", ())),
    )


# Sender modules import _auth, _common and _headers, never this package: no import cycle.
_MODULES = (
    acr,
    buildkite,
    cdevents,
    circleci,
    cloudevents,
    distribution,
    dockerhub,
    ecr,
    gar,
    gitea,
    github,
    gitlab,
    harbor,
    jenkins,
    jfrog,
    nexus,
    quay,
    tekton,
)

SENDERS: dict[str, Sender] = {sender.name: sender for sender in map(declared, _MODULES)}
"""Sender name (as used in ``receivers[].type`` and ``--source``) → ``Sender``."""

SENDER_NAMES: tuple[str, ...] = tuple(SENDERS)


def get(name: str) -> Sender:
    """The sender called ``name``; ``KeyError`` with the known names if there is none."""
    try:
        return SENDERS[name]
    except KeyError:
        known = ", ".join(sorted(SENDERS))
        raise KeyError(f"unknown webhook sender {name!r} (known: {known})") from None
