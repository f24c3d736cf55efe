"""Normalised events: the only types that cross from webhooks into the queue.

``image.pushed`` / ``image.deleted`` come from registries; ``build.finished`` from CI.
Every event carries its source (sender module name), the delivery id and the time of
receipt. They serialise with ``to_dict`` / ``from_dict`` (plain JSON types only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

ImageEventType = Literal["image.pushed", "image.deleted"]
BuildStatus = Literal["success", "failure", "cancelled", "running", "pending", "skipped", "unknown"]


@dataclass(frozen=True)
class ImageEvent:
    """A registry push or delete. ``image`` is fully qualified and normalised (see refs)."""

    type: ImageEventType
    image: str
    tag: str | None = None
    digest: str | None = None
    source: str = ""
    delivery_id: str = ""
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

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


Event = ImageEvent | BuildFinished


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key that ``from_dict`` reads back."""
    return dataclasses.asdict(event)


def from_dict(data: dict[str, Any]) -> Event:
    """Inverse of ``to_dict``; unknown keys are ignored so old jobs still load."""
    kind = data.get("type")
    cls: type[ImageEvent] | type[BuildFinished]
    if kind in ("image.pushed", "image.deleted"):
        cls = ImageEvent
    elif kind == "build.finished":
        cls = BuildFinished
    else:
        raise ValueError(f"unknown event type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def stamp(event: Event, *, source: str, delivery_id: str, received_at: float) -> Event:
    """The same event with its delivery fields filled in by the receiver."""
    return dataclasses.replace(
        event, source=source, delivery_id=delivery_id, received_at=received_at
    )
