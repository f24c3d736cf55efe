"""Split a YAML stream at its document markers, without parsing it.

A line that starts with ``---`` followed by a space, a tab or the line's end begins a
document: the YAML spec forbids such a line inside any scalar (plain, quoted or block), so a
cut there never falls inside a value, and anchors never cross it (they are per document).
``groups`` cuts only there, and only between documents, so that each group is parsed on its
own with the same nodes a whole-stream parse gives (up to the offsets and line numbers, which
callers add back). Pure: no I/O.
"""

from __future__ import annotations

import re

_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)


def groups(text: str, target: int) -> list[tuple[int, int]]:
    """``(start, end)`` spans covering ``text`` in order, each a run of whole documents of
    at most ``target`` characters (a larger document is a span alone). A stream with
    directives (``%YAML``, ``%TAG``: they belong to the document after them) is one span."""
    if re.search(r"^%", text, re.MULTILINE):
        return [(0, len(text))]
    bounds = [m.start() for m in _START.finditer(text) if m.start() > 0] + [len(text)]
    spans: list[tuple[int, int]] = []
    start = previous = 0
    for end in bounds:  # the document previous:end joins the group, or starts the next one
        if end - start > target and previous > start:
            spans.append((start, previous))
            start = previous
        previous = end
    spans.append((start, len(text)))
    return spans
