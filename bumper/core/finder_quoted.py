"""JSON text held in a multi-line quoted YAML string (kubeless ``runtimeImages``, the
deprecated ``pod.beta.kubernetes.io/init-containers`` annotation): each ``"image": "ref"``
member of it is a reference (kind ``image-string``, confidence ``generic``).

A quoted scalar folds its line breaks and may escape characters, so its value is not a
slice of the file. A member is taken only where its value is a slice: on one line, made of
reference characters only (no quote, no backslash, no space), so the characters between the
JSON quotes are the value's characters, and an edit of them is byte-exact. Any other shape
(an escaped character in the value) is left alone. A kubectl last-applied-configuration is
kubectl's record, never a reference. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from bumper.core import placeholders, refs
from bumper.core.walk import DocumentWalk, Found, PathKey, Slot
from bumper.errors import InvalidReference

_VALUE = r"([A-Za-z0-9][A-Za-z0-9._:/@+-]*)"
# In a single-quoted scalar the JSON quotes are written as they are; in a double-quoted one
# they are escaped (\").
_MEMBER = {
    "'": re.compile(r'"image"[ \t]*:[ \t]*"' + _VALUE + '"'),
    '"': re.compile(r'\\"image\\"[ \t]*:[ \t]*\\"' + _VALUE + r'\\"'),
}
NOTE = "JSON text in a quoted string"
_RECORDS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def holds_json(node: Any) -> bool:
    """Whether scalar ``node`` is a multi-line quoted string with an ``image`` member."""
    return (
        node.style in _MEMBER
        and node.start_mark.line != node.end_mark.line
        and '"image"' in node.value
    )


def find(ctx: DocumentWalk, node: Any, path: tuple[PathKey, ...]) -> None:
    """The ``"image"`` members of the JSON text quoted by ``node``, into ``ctx.found``."""
    if ctx.remap is not None or (path and path[-1] in _RECORDS):
        return  # inside a block scalar: its offsets are not the file's
    start, end = node.start_mark.index + 1, node.end_mark.index - 1  # inside the quotes
    for match in _MEMBER[node.style].finditer(ctx.text, start, end):
        value = match[1]
        try:
            ref = refs.parse(value)
        except InvalidReference:
            continue
        begin = match.start(1)
        line = ctx.text.count("\n", 0, begin) + 1
        slot = Slot(
            begin + ctx.offset,
            match.end(1) + ctx.offset,
            node.style,
            value,
            ctx.doc,
            (*path, "image"),
            line,
        )
        templated = placeholders.is_templated_ref(value)
        ctx.found.append(
            Found(
                ref.name,
                ref.tag,
                ref.digest,
                "image-string",
                line,
                ref_slot=slot,
                confidence="generic",
                note=NOTE,
                templated=templated,
            )
        )
