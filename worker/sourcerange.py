"""The source range of a bump (``bumper.core.sourcerange.SourceRange``): which commits the old
and the new image were built from, and what lies between them on the source forge.

- The commits: the new image's from the event that named it (a CI trigger's or a gated push's
  ``revision``), else from its OCI labels; the old image's from its OCI labels (of the digest
  the old reference pinned, when it pinned one: a tag may have moved since). Labels are read
  through the registry client (manifest, then config blob; bounded) and only for a registry
  bumper.yaml configures (``worker.registries.client_for``): an image names no host of its own.
- The source repository: the ``org.opencontainers.image.source`` label. Its compare link, commit
  subjects and release notes are shown only when its host is the host of a forge bumper.yaml
  configures (a ``repos:`` entry with ``forge: github`` or ``gitlab``), and fetched with that
  entry's API URL and token: no request goes where a label alone points.

Nothing here fails a bump: a registry or forge error becomes an "unknown" or "unavailable
(reason)" line in the PR body, and a warning in the log.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import urlsplit

from bumper.core import config, refs
from bumper.core import sourcerange as text
from bumper.errors import BumperError, InvalidReference
from bumper.scm.sourceinfo import SourceReader, SourceUnavailable
from worker import registries
from worker.context import WorkerContext

log = logging.getLogger("bumper.worker")


@dataclasses.dataclass(frozen=True)
class Image:
    """One side of the range: the image reference and what is known of it."""

    tag: str | None
    digest: str | None = None
    event: dict[str, Any] | None = None


def find(ctx: WorkerContext, rule: config.Image, old: Image, new: Image) -> text.SourceRange:
    """The source range between ``old`` and ``new`` images of ``rule``."""
    new_labels, new_why = _labels(ctx, rule, new)
    old_labels, old_why = _labels(ctx, rule, old)
    from_event = _event_revision(new.event)
    new_rev = from_event or _revision(new_labels)
    old_rev = _revision(old_labels)
    origin = "the CI event that built the new image" if from_event else "the images' OCI labels"
    source = new_labels.get(text.SOURCE_LABEL) or old_labels.get(text.SOURCE_LABEL) or ""
    repo = text.parse_source(source)
    found = text.SourceRange(repository=repo.web if repo else "", old=old_rev, new=new_rev)
    if old_rev is None or new_rev is None:
        why = old_why if old_rev is None else new_why
        return dataclasses.replace(found, why_unknown=why)
    found = dataclasses.replace(found, origin=origin)
    if repo is None:
        # the label's text stays out of the PR: it is hostile input
        why = (
            f"the {text.SOURCE_LABEL} label is not an http(s) repository URL"
            if source
            else f"the images name no {text.SOURCE_LABEL}"
        )
        return dataclasses.replace(found, unavailable=why)
    forge = _forge_of(ctx, repo)
    if forge is None:
        why = f"{urlsplit(repo.base).hostname} is not a forge bumper.yaml configures"
        return dataclasses.replace(found, unavailable=why)
    entry, reader = forge
    found = dataclasses.replace(
        found, compare_url=text.compare_url(entry.forge, repo, old_rev, new_rev)
    )
    if old_rev == new_rev:
        return found
    return _history(reader, repo, found, old.tag, new.tag or "")


def _history(
    reader: SourceReader,
    repo: text.SourceRepo,
    found: text.SourceRange,
    old_tag: str | None,
    new_tag: str,
) -> text.SourceRange:
    assert found.old is not None and found.new is not None
    try:
        compared = reader.compare(repo.path, found.old, found.new)
        releases = reader.releases(repo.path, 30)
    except SourceUnavailable as error:
        log.warning("source range of %s unavailable: %s", repo.web, error)
        return dataclasses.replace(found, unavailable=str(error))
    commits = tuple(
        text.Commit(c.sha, c.subject, c.url) for c in compared.commits[-text.MAX_COMMITS :]
    )
    between = tuple(
        text.Release(r.tag, r.name, r.notes, r.url)
        for r in releases
        if not r.draft and text.in_between(r.tag, old_tag, new_tag)
    )
    return dataclasses.replace(
        found, commits=commits, total_commits=compared.total, releases=between
    )


def _labels(ctx: WorkerContext, rule: config.Image, image: Image) -> tuple[dict[str, str], str]:
    """The image's OCI labels, or none and why."""
    reference = image.digest or image.tag
    if not reference:
        return {}, "the old reference has neither tag nor digest"
    try:
        host, repository = registries.split(refs.parse_name(rule.image).name)
    except InvalidReference:
        return {}, f"{rule.image} is not an image name"
    client = registries.client_for(ctx, host)
    if client is None:
        return {}, f"{host} has no registries: entry, so image labels are not read"
    try:
        labels = client.labels(repository, reference)
    except BumperError as error:
        log.warning(
            "labels of %s:%s unreadable (%s): %s", rule.image, reference, error.reason, error
        )
        return {}, f"the labels of {reference} could not be read ({error.reason})"
    if not _revision(labels):
        return labels, f"{reference} has no {text.REVISION_LABEL} label"
    return labels, ""


def _revision(labels: dict[str, str]) -> str | None:
    value = labels.get(text.REVISION_LABEL)
    return value if text.is_revision(value) else None


def _event_revision(event: dict[str, Any] | None) -> str | None:
    extra = (event or {}).get("extra") or {}
    value = extra.get("revision") if isinstance(extra, dict) else None
    return str(value) if text.is_revision(str(value) if value else None) else None


def _forge_of(ctx: WorkerContext, repo: text.SourceRepo) -> tuple[config.Repo, SourceReader] | None:
    """The configured forge whose web host is the source repository's, and a reader for it."""
    for entry in ctx.config.repos:
        if entry.forge == "git" or _base(entry.url) != repo.base:
            continue
        api = entry.api_url or _default_api(entry)
        token = ctx.forges.read_token(entry) if ctx.forges is not None else None
        return entry, SourceReader(entry.forge, api, token)
    return None


def _base(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def _default_api(entry: config.Repo) -> str:
    """The API URL ``bumper.scm.connect`` would use for ``entry``."""
    if entry.forge == "gitlab":
        return _base(entry.url)
    if urlsplit(entry.url).hostname == "github.com":
        return "https://api.github.com"
    return _base(entry.url) + "/api/v3"
