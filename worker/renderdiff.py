"""What a bump changes in rendered objects: the containers whose image changes, and a bounded
unified diff of the objects that change.

Pure functions over two renders (lists of objects, as ``bumper.agent.render`` returns them),
matched by object identity (``manifests.key_of``). Every bound is here: ``diff`` stops once
its budget of characters is spent (so a huge render costs no more than the budget), and an
object whose YAML is larger than ``MAX_OBJECT_CHARS`` is named, not diffed.
Must not: run tools, read files or format Markdown (``worker.effect`` does).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bumper.agent import manifests
from bumper.agent.manifests import Key, Obj

MAX_OBJECT_CHARS = 200_000
CONTAINER_FIELDS = ("initContainers", "containers")


@dataclass(frozen=True)
class ImageChange:
    """One container whose image differs between the renders (None: no such container)."""

    workload: Key
    container: str
    init: bool
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Diff:
    """The unified diff of the changed objects, cut at a budget of characters."""

    text: str
    changed: int  # objects that differ (added, removed or modified)
    shown: int  # of those, how many the text holds in full
    truncated: bool


def _by_key(objs: Sequence[Obj]) -> dict[Key, Obj]:
    return {manifests.key_of(obj): obj for obj in objs}


def _keys(before: Mapping[Key, Obj], after: Mapping[Key, Obj]) -> list[Key]:
    """Every object's key: the new render's order, then objects that left it."""
    return [*after, *(key for key in before if key not in after)]


def _containers(obj: Obj | None) -> dict[tuple[str, str], str | None]:
    """(field, container name) → image, init containers first, in manifest order."""
    spec = manifests.pod_spec(obj or {}) or {}
    found: dict[tuple[str, str], str | None] = {}
    for field in CONTAINER_FIELDS:
        items = spec.get(field)
        for container in items if isinstance(items, list) else []:
            if isinstance(container, dict) and isinstance(container.get("name"), str):
                image = container.get("image")
                found[(field, container["name"])] = image if isinstance(image, str) else None
    return found


def image_changes(before: Sequence[Obj], after: Sequence[Obj]) -> list[ImageChange]:
    """Each container whose image differs between ``before`` and ``after``; a container (or
    workload) only one side has counts, with None on the other side."""
    old_objs, new_objs = _by_key(before), _by_key(after)
    found: list[ImageChange] = []
    for key in _keys(old_objs, new_objs):
        old, new = _containers(old_objs.get(key)), _containers(new_objs.get(key))
        for field, name in [*new, *(c for c in old if c not in new)]:
            was, now = old.get((field, name)), new.get((field, name))
            if was != now:
                found.append(ImageChange(key, name, field == "initContainers", was, now))
    return found


def changed_keys(before: Sequence[Obj], after: Sequence[Obj]) -> list[Key]:
    old_objs, new_objs = _by_key(before), _by_key(after)
    return [k for k in _keys(old_objs, new_objs) if old_objs.get(k) != new_objs.get(k)]


def diff(before: Sequence[Obj], after: Sequence[Obj], budget: int) -> Diff:
    """The unified diff of every changed object, whole objects only, within ``budget``
    characters (the first object that does not fit ends the text)."""
    old_objs, new_objs = _by_key(before), _by_key(after)
    keys = changed_keys(before, after)
    parts: list[str] = []
    used = 0
    for key in keys:
        text = _object_diff(key, old_objs.get(key), new_objs.get(key))
        if used + len(text) > budget:
            return Diff("".join(parts), len(keys), len(parts), truncated=True)
        parts.append(text)
        used += len(text)
    return Diff("".join(parts), len(keys), len(parts), truncated=False)


def _object_diff(key: Key, old: Obj | None, new: Obj | None) -> str:
    name = label(key)
    old_text, new_text = _dump(old), _dump(new)
    if len(old_text) + len(new_text) > 2 * MAX_OBJECT_CHARS:
        too_big = f"@@ larger than {MAX_OBJECT_CHARS} characters: not diffed @@"
        return f"--- a/{name}\n+++ b/{name}\n{too_big}\n"
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=f"a/{name}" if old is not None else "/dev/null",
        tofile=f"b/{name}" if new is not None else "/dev/null",
    )
    return "".join(_ended(lines))


def _ended(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        yield line if line.endswith("\n") else line + "\n"


def _dump(obj: Any) -> str:
    if obj is None:
        return ""
    # Wide lines: a long string is one changed line, not several folded ones.
    return str(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=10_000))


def label(key: Key) -> str:
    """``Deployment/shop-prod/shop`` (``Kind/name`` when cluster-scoped)."""
    where = f"{key.namespace}/" if key.namespace else ""
    return f"{key.kind}/{where}{key.name}"
