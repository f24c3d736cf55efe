"""Registry clients for the worker, one per ``registries:`` entry, and event completion.

``client_for(ctx, host)`` builds a ``bumper.registry.client.RegistryClient`` only for a host
that has an entry in bumper.yaml's ``registries:`` (else None: no network fetch on a
payload's say-so), with the entry's password resolved through ``bumper.secrets`` and its CA
file located beside bumper.yaml. ``client_for(ctx, host, index=URL)`` is for a classic Helm
repository a chart rule of bumper.yaml names: the URL's scheme and host, the host's entry
(credentials, CA file) when there is one, anonymous otherwise; None when the entry's
credentials would travel over plain HTTP to a host that is not loopback.
Clients live for the process (a forked work horse has its own),
so a bearer token is reused while it is valid.

``complete(ctx, event)`` fills in what a sender left out, for an image some rule watches:
the digest (a manifest ``HEAD``: Docker Hub sends none), and the ``revision`` of the image config's
``org.opencontainers.image.revision`` label when a rule has a CI gate (so the gate can join the
push to its CI run). A registry error leaves the event as it was, with one log line.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from urllib.parse import urlsplit

from bumper import secrets
from bumper.core import config, events, refs
from bumper.errors import BumperError, InvalidReference
from bumper.registry.client import RegistryClient
from worker.context import WorkerContext

log = logging.getLogger("bumper.worker")

# Keyed by the entry's JSON: an entry with ``verify`` holds a list, so it has no hash.
_clients: dict[tuple[str, str], RegistryClient] = {}


def client_for(ctx: WorkerContext, host: str, *, index: str | None = None) -> RegistryClient | None:
    """The client of ``host``'s ``registries:`` entry, or None when it has none; with
    ``index``, the client of that classic Helm repository (see the module docstring)."""
    entry = ctx.config.registry(host)
    if index is not None:
        entry = _chart_repository_entry(entry, host, index)
    if entry is None:
        return None
    key = (str(ctx.config_dir), entry.model_dump_json())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = new_client(entry, ctx.config_dir)
    return client


def new_client(entry: config.RegistryEntry, config_dir: Path) -> RegistryClient:
    """A client for ``entry``, its password and CA file resolved beside bumper.yaml."""
    password = None
    if entry.credentials is not None:
        password = secrets.resolve(entry.credentials.password, base=config_dir)
    ca_path = str(secrets.locate(entry.ca_file, config_dir)) if entry.ca_file else None
    return RegistryClient(entry, password=password, ca_path=ca_path)


def _chart_repository_entry(
    entry: config.RegistryEntry | None, host: str, index: str
) -> config.RegistryEntry | None:
    plain = urlsplit(index).scheme == "http"
    if entry is None:
        return config.RegistryEntry(host=host, plain_http=plain)
    if plain and entry.credentials is not None and not config.is_loopback(host):
        log.warning("%s: not polled, its registries entry's credentials need https", index)
        return None
    return entry.model_copy(update={"plain_http": plain})


def split(image: str) -> tuple[str, str]:
    """``ghcr.io/acme/api`` → (``ghcr.io``, ``acme/api``)."""
    host, _, repository = image.partition("/")
    return host, repository


def complete(ctx: WorkerContext, event: events.Event) -> events.Event:
    """``event`` with a missing digest / revision filled in from its registry (see above)."""
    if not isinstance(event, events.ImageEvent) or event.type != "image.pushed" or not event.tag:
        return event
    rules = ctx.config.images_for(event.image)
    gated = any(rule.gate is not None for rule in rules)
    missing_revision = gated and not _revision(event)
    if not rules or (event.digest and not missing_revision):
        return event
    try:
        host, repository = split(refs.parse_name(event.image).name)
    except InvalidReference:
        return event
    client = client_for(ctx, host)
    if client is None:
        return event
    try:
        digest = event.digest or client.digest(repository, event.tag)
        extra = dict(event.extra or {})
        if missing_revision:
            revision = client.revision(repository, digest or event.tag)
            if revision:
                extra["revision"] = revision
    except BumperError as error:
        log.warning(
            "could not complete %s:%s from its registry (%s): %s",
            event.image,
            event.tag,
            error.reason,
            error,
        )
        return event
    return dataclasses.replace(event, digest=digest, extra=extra)


def _revision(event: events.ImageEvent) -> str | None:
    extra = event.extra or {}
    labels = extra.get("labels") if isinstance(extra.get("labels"), dict) else {}
    value = extra.get("revision") or (labels or {}).get("org.opencontainers.image.revision")
    return str(value) if value else None
