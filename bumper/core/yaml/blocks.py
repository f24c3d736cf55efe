"""YAML inside a literal block scalar (Argo CD ``helm.values: |``), scanned in place.

A literal block's value is its lines with the block indentation removed (and CRLF read as
LF), so each inner line maps to one outer line at a fixed column. :class:`Remap` carries inner
offsets back to the file; when any line does not map exactly, the block is left alone.

Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import yaml

from bumper.core.walk import DocumentWalk, PathKey, compose_all
from bumper.errors import ParseLimitExceeded


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


def scan_block(
    ctx: DocumentWalk,
    node: Any,
    path: tuple[PathKey, ...],
    walk: Callable[[DocumentWalk], None],
) -> None:
    """Walk the YAML held by block scalar ``node``; its references land in ``ctx.found``."""
    if ctx.remap is not None:
        return  # YAML in YAML in YAML: not worth the risk
    remap = remap_for(ctx.text, ctx.offset, node)
    if remap is None:
        return
    try:
        documents = compose_all(node.value)
    except (yaml.YAMLError, ParseLimitExceeded):
        return  # like a block that is not YAML: left alone
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
