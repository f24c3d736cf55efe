"""Builders for expected events and readers for the shared webhook fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bumper.core.events import BuildFinished, BuildStatus, ImageEvent, ImageEventType


def image(
    source: str,
    kind: ImageEventType,
    name: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ImageEvent:
    return ImageEvent(
        type=kind, image=name, tag=tag, digest=digest, source=source, extra=extra or {}
    )


def build(
    source: str,
    status: BuildStatus,
    *,
    commit: str | None = None,
    ref: str | None = None,
    repository: str | None = None,
    pipeline: str | None = None,
    url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> BuildFinished:
    return BuildFinished(
        status=status,
        commit=commit,
        ref=ref,
        repository=repository,
        pipeline=pipeline,
        url=url,
        source=source,
        extra=extra or {},
    )


def fixture(shared_dir: Path, sender: str, name: str) -> tuple[dict[str, str], bytes]:
    """The body of ``webhooks/<sender>/<name>`` and its ``.headers.json`` if there is one."""
    folder = shared_dir / "fixtures" / "webhooks" / sender
    body = (folder / name).read_bytes()
    headers_file = folder / (name.removesuffix(".json") + ".headers.json")
    headers: dict[str, str] = {}
    if headers_file.exists():
        headers = json.loads(headers_file.read_text())
    return headers, body
