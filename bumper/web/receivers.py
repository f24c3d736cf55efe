"""Receivers at run time: each configured ``/hooks/<name>`` bound to its sender and secret.

Built once when the app starts (``load_receivers``): the ``Sender`` is looked up, the
secret is read from its env var or file (``bumper.secrets``, a relative file being relative to
bumper.yaml's directory) and kept in memory, so a request never parses configuration or
touches the file system. A missing, blank, malformed or short secret (under 16 bytes of shared
secret), an unknown sender type, a replay window longer than the dedup window, or a receiver
that cannot know which images it speaks for is a ``ConfigError`` at start, not a surprise at
the first delivery; secret errors name the receiver and where the secret was read, never its
value. ``bumper check-config`` runs the same checks. Each receiver's scope
(``bumper.sources.scoping``: what it may speak for, its sender's defaults filled in) is resolved
here too; scope warnings are logged once at start.

Secrets live only in ``ReceiverEndpoint.secret``; its ``repr`` hides it, and nothing here logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bumper import secrets, sources
from bumper.core import config as config_model
from bumper.core.scope import Scope
from bumper.errors import ConfigError
from bumper.sources import scoping

log = logging.getLogger("bumper.web.receivers")

# Media types senders use for JSON bodies, besides any ``application/*+json``.
JSON_TYPES = frozenset({"application/json", "text/json", "text/plain"})


def accepts(mimetype: str) -> bool:
    """True for a JSON body however the sender spells it (``application/*+json`` included).

    ``text/plain`` is accepted because some senders (CloudEvents binary mode emitters, curl
    users) label JSON that way; the sender's parser still rejects a body that is not JSON.
    """
    mimetype = mimetype.lower()
    if mimetype in JSON_TYPES:
        return True
    return mimetype.startswith("application/") and mimetype.endswith("+json")


@dataclass(frozen=True)
class ReceiverEndpoint:
    name: str
    type: str
    sender: sources.Sender
    kinds: frozenset[str]
    max_body_bytes: int
    insecure: bool
    registry: str | None = None
    scope: Scope = field(default_factory=Scope)
    secret: str | None = field(default=None, repr=False)
    replay_window: int = sources.REPLAY_WINDOW
    allowed_origins: frozenset[str] = frozenset()


def secret_source(ref: config_model.SecretRef) -> str:
    """Where a secret is read from, for error messages: the variable or the file, not the value."""
    return f"environment variable {ref.env}" if ref.env is not None else f"file {ref.file}"


def read_secret(
    receiver: config_model.Receiver, base: Path, environ: Mapping[str, str] | None = None
) -> str | None:
    """The receiver's secret, or None for an ``insecure`` receiver without one.

    A relative ``file:`` is relative to ``base``, bumper.yaml's directory (``bumper.secrets``).
    """
    if receiver.secret is None:
        return None
    try:
        return secrets.resolve(receiver.secret, base=base, environ=environ)
    except ConfigError as error:
        raise ConfigError(f"receiver {receiver.name!r}: {error}") from None


def check_secret(receiver: config_model.Receiver, secret: str) -> None:
    """``ConfigError`` naming the receiver and the secret's source when the sender refuses it
    (blank, malformed, or shorter than 16 bytes of shared secret)."""
    sender = sources.SENDERS.get(receiver.type)
    if sender is None or receiver.secret is None:
        return
    try:
        sender.check_secret(secret)
    except ConfigError as error:
        where = secret_source(receiver.secret)
        raise ConfigError(f"receiver {receiver.name!r} (secret from {where}): {error}") from None


def load_receivers(
    cfg: config_model.BumperConfig,
    *,
    base: Path,
    environ: Mapping[str, str] | None = None,
    dedup_window: int | None = None,
) -> dict[str, ReceiverEndpoint]:
    """One ``ReceiverEndpoint`` per configured name, with its ``Sender`` and secret resolved;
    ``base`` is the directory of the config file (where relative ``file:`` secrets are).

    ``dedup_window`` (``BUMPER_WEB__DEDUP_WINDOW_SECONDS``): a replay window must not outlast
    it, or a signed delivery replayed after its dedup mark expired would be accepted again.
    """
    senders = sources.SENDERS
    _check_scopes(cfg)
    result: dict[str, ReceiverEndpoint] = {}
    for item in cfg.receivers:
        sender = senders.get(item.type)
        if sender is None:
            known = ", ".join(sorted(senders))
            raise ConfigError(
                f"receiver {item.name!r}: unknown type {item.type!r} (known: {known})"
            )
        if item.name in result:
            raise ConfigError(f"receiver {item.name!r} is defined twice")
        if dedup_window is not None and item.replay_window_seconds > dedup_window:
            raise ConfigError(
                f"receiver {item.name!r}: replay_window_seconds ({item.replay_window_seconds}) "
                f"is longer than BUMPER_WEB__DEDUP_WINDOW_SECONDS ({dedup_window})"
            )
        secret = read_secret(item, base, environ)
        if secret is not None:
            check_secret(item, secret)
        result[item.name] = ReceiverEndpoint(
            name=item.name,
            type=item.type,
            sender=sender,
            kinds=frozenset(item.events),
            max_body_bytes=item.max_body_bytes,
            insecure=item.insecure,
            registry=item.registry,
            scope=scoping.scope_of(item, sender, cfg.registry_hosts()),
            secret=secret,
            replay_window=item.replay_window_seconds,
            allowed_origins=frozenset(item.allowed_origins),
        )
    return result


def _check_scopes(cfg: config_model.BumperConfig) -> None:
    """Refuse to start on a scope error; log each warning once."""
    for issue in scoping.problems(cfg):
        if not issue.warning:
            raise ConfigError(str(issue), path=issue.path)
        log.warning("config: %s", issue, extra={"path": issue.path})
