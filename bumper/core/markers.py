"""Marker comments: a line comment that says which image a scalar belongs to.

Syntax (one marker per line, after the scalar it marks)::

    image: ghcr.io/acme/api:1.4.2        # bumper:image=ghcr.io/acme/api
    apiTag: "1.4.2"                      # bumper:tag=ghcr.io/acme/api
    apiDigest: sha256:...                # bumper:digest=ghcr.io/acme/api

``image`` marks a full ``name[:tag][@digest]`` reference, ``tag`` a bare tag, ``digest`` a
bare digest. Tag and digest markers for the same image in the same mapping form one
reference. A marked scalar is reported as kind ``marker`` and wins over any other kind.

Pure: no I/O.
"""

from __future__ import annotations

import re

from bumper.core import refs
from bumper.core.walk import Found, Slot
from bumper.errors import InvalidReference

PREFIX = "bumper:"
MARKER = re.compile(r"#\s*bumper:(image|tag|digest)=(\S+)")


def apply(text: str, found: list[Found], by_line: dict[int, list[Slot]]) -> list[Found]:
    """``found`` with marked scalars added (and any other claim on them removed)."""
    if PREFIX not in text:
        return found
    marked = list(_markers(text, by_line))
    if not marked:
        return found
    claimed = {(slot.start, slot.end) for _, _, slot in marked}
    kept = [f for f in found if not claimed & set(f.spans)]
    return kept + _group(marked)


def _markers(text: str, by_line: dict[int, list[Slot]]) -> list[tuple[str, str, Slot]]:
    result = []
    line_starts = _line_starts(text)
    for match in MARKER.finditer(text):
        line = _line_of(line_starts, match.start())
        candidates = [s for s in by_line.get(line, ()) if s.end <= match.start()]
        if not candidates:
            continue
        try:
            image = refs.normalize_name(match.group(2))
        except InvalidReference:
            continue
        result.append((match.group(1), image, max(candidates, key=lambda s: s.end)))
    return result


def _group(marked: list[tuple[str, str, Slot]]) -> list[Found]:
    out: list[Found] = []
    parts: dict[tuple[str, int, tuple[object, ...]], dict[str, Slot]] = {}
    for role, image, slot in marked:
        if role == "image":
            try:
                ref = refs.parse(slot.value)
            except InvalidReference:
                continue
            out.append(Found(image, ref.tag, ref.digest, "marker", slot.line, ref_slot=slot))
        else:
            parts.setdefault((image, slot.doc, slot.path[:-1]), {})[role] = slot
    for (image, _, _), group in parts.items():
        tag_slot, digest_slot = group.get("tag"), group.get("digest")
        tag = tag_slot.value if tag_slot and not tag_slot.is_null else None
        digest = digest_slot.value if digest_slot and not digest_slot.is_null else None
        line = (tag_slot or digest_slot or next(iter(group.values()))).line
        out.append(
            Found(
                image,
                tag or None,
                digest or None,
                "marker",
                line,
                tag_slot=tag_slot,
                digest_slot=digest_slot,
            )
        )
    return out


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_right(starts, offset)
