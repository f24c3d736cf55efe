"""YAML inside a literal block scalar (Argo CD ``helm.values: |``), scanned in place; one
level of nesting too (a literal block inside such a block).

A literal block's value is its lines with the block indentation removed (and CRLF read as
LF), so each inner line maps to one outer line at a fixed column. :class:`Remap` carries inner
offsets back to the file; when any line does not map exactly, the block is left alone.
A block holding a Helm/Go template (not YAML until rendered) is read line by line: only a
plain ``image: ref`` line is found there, with confidence ``generic``.

Pure: no I/O.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

import yaml

from bumper.core import refs
from bumper.core.walk import DocumentWalk, Found, PathKey, Slot, compose_all
from bumper.errors import InvalidReference, ParseLimitExceeded


class Remap:
    """Inner offset → outer offset, by line."""

    def __init__(self, inner_starts: list[int], outer_starts: list[int], lines: list[int]):
        self.inner_starts = inner_starts
        self.outer_starts = outer_starts
        self.lines = lines

    def _row(self, index: int) -> int:
        return max(bisect.bisect_right(self.inner_starts, index) - 1, 0)

    def outer(self, index: int) -> int:
        row = self._row(index)
        return self.outer_starts[row] + index - self.inner_starts[row]

    def line(self, index: int) -> int:
        return self.lines[self._row(index)]


class Nested:
    """A block inside a block (an injector's template inside a ConfigMap's config text):
    offsets go through the inner block's Remap, then the outer one's. Only one level deep."""

    def __init__(self, inner: Remap, outer: Remap):
        self.inner = inner
        self.outer_remap = outer

    def outer(self, index: int) -> int:
        return self.outer_remap.outer(self.inner.outer(index))

    def line(self, index: int) -> int:
        return self.outer_remap.line(self.inner.outer(index))


def remap_for(text: str, offset: int, node: Any) -> Remap | None:
    """A Remap for literal block scalar ``node`` of ``text`` (``offset`` added), or None."""
    if node.style != "|":
        return None
    header_end = text.find("\n", node.start_mark.index)
    if header_end == -1:
        return None
    pos = header_end + 1
    line = text.count("\n", 0, pos) + 1
    inner_starts: list[int] = []
    outer_starts: list[int] = []
    lines: list[int] = []
    indent: int | None = None
    inner_pos = 0
    value: str = node.value
    for inner_line in value.split("\n")[:-1] if value.endswith("\n") else value.split("\n"):
        eol = text.find("\n", pos)
        outer_line = text[pos : eol if eol != -1 else len(text)].removesuffix("\r")
        if inner_line:
            if indent is None:
                indent = len(outer_line) - len(inner_line)
            if indent < 0 or outer_line[indent:] != inner_line or outer_line[:indent].strip(" "):
                return None
            inner_starts.append(inner_pos)
            outer_starts.append(pos + indent + offset)
            lines.append(line)
        elif outer_line.strip(" "):
            return None
        inner_pos += len(inner_line) + 1
        pos = eol + 1
        line += 1
        if eol == -1:
            break
    return Remap(inner_starts, outer_starts, lines) if inner_starts else None


# ``image: ref`` alone on a line of template text (an injector's pod template): the value is
# a plain token, no quotes, no template action, nothing after it but a comment.
_TEMPLATE_IMAGE_LINE = re.compile(r"^[ \t]*(?:-[ \t]+)?image:[ \t]+([^\s\"'#{}]+)[ \t]*(?:#.*)?$")


def _template_lines(ctx: DocumentWalk, node: Any, path: tuple[PathKey, ...], remap: Any) -> None:
    """A Helm/Go template held in a block (not YAML until rendered): each plain
    ``image: ref`` line of it, found line by line (confidence ``generic``)."""
    text: str = node.value
    start = 0
    for line in text.split("\n"):
        match = _TEMPLATE_IMAGE_LINE.match(line)
        if match is not None:
            begin, end = start + match.start(1), start + match.end(1)
            _add_line_reference(ctx, match.group(1), begin, end, path, remap)
        start += len(line) + 1


def _add_line_reference(
    ctx: DocumentWalk, value: str, begin: int, end: int, path: tuple[PathKey, ...], remap: Any
) -> None:
    try:
        ref = refs.parse(value)
    except InvalidReference:
        return
    outer_begin, outer_end = remap.outer(begin), remap.outer(end)
    line = remap.line(begin)
    slot = Slot(outer_begin, outer_end, "", value, ctx.doc, (*path, "image"), line)
    ctx.found.append(
        Found(
            ref.name,
            ref.tag,
            ref.digest,
            "image-string",
            line,
            ref_slot=slot,
            confidence="generic",
            note="a line of template text",
        )
    )


def scan_block(
    ctx: DocumentWalk,
    node: Any,
    path: tuple[PathKey, ...],
    walk: Callable[[DocumentWalk], None],
) -> None:
    """Walk the YAML held by block scalar ``node``; its references land in ``ctx.found``."""
    remap: Remap | Nested | None
    if isinstance(ctx.remap, Remap):
        nested = remap_for(ctx.text, 0, node)
        remap = Nested(nested, ctx.remap) if nested is not None else None
    elif ctx.remap is not None:
        return  # a block in a block in a block: not worth the cost
    else:
        remap = remap_for(ctx.text, ctx.offset, node)
    if remap is None:
        return
    try:
        documents = compose_all(node.value)
    except (yaml.YAMLError, ParseLimitExceeded):
        if "{{" in node.value:
            _template_lines(ctx, node, path, remap)
        return  # any other text that is not YAML (a script, an expression): left alone
    for root in documents:
        if root is None:
            continue
        inner = DocumentWalk(
            node.value,
            ctx.doc,
            0,
            root,
            found=ctx.found,
            scalars_by_line=ctx.scalars_by_line,
            remap=remap,
            markers=ctx.markers,
        )
        walk(inner)
