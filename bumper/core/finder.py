"""Find every image reference in a YAML text, with the exact character spans an edit may touch.

``scan(text)`` composes the YAML (libyaml through PyYAML: node positions without building or
re-serialising data), walks every document and reports a :class:`Found` per reference: the
normalised image, its tag and digest, the kind of location, the 1-based line, and the
:class:`Slot` scalars that hold it. Location kinds are recognised in :mod:`finder_kinds`;
marker comments in :mod:`markers`.

Offsets are indexes into the ``str`` given (a leading BOM counts as one character), which is
what the editor slices; for ASCII files they equal byte offsets.

Text that is not YAML (a Helm template, a syntax error), or YAML over the parse limits of
:mod:`bumper.core.yaml.limits` (an alias bomb; ``Skipped.over_limits``), gives a
:class:`Skipped` with the reason, never an exception. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from bumper.core import finder_charts, finder_documents, finder_kinds, markers, refs
from bumper.core.walk import (
    BOM,
    DocumentWalk,
    Found,
    Insert,
    PathKey,
    Scan,
    Skipped,
    Slot,
    compose_all,
)
from bumper.errors import ParseLimitExceeded

# Re-exported: callers name the finder's results ``finder.Found``, ``finder.Scan`` ...
__all__ = [
    "DocumentWalk",
    "Found",
    "Insert",
    "PathKey",
    "Scan",
    "Skipped",
    "Slot",
    "compose_all",
    "find",
    "scan",
    "scan_stream",
]


def scan(text: str) -> Scan:
    """Every image reference in ``text``, or the reason the text was skipped. A large text
    is scanned group of documents by group (:mod:`finder_documents`)."""
    if len(text) > finder_documents.STREAM_ABOVE:
        return finder_documents.scan(text, _scan_whole)
    return _scan_whole(text)[0]


def scan_stream(text: str) -> Iterator[Scan]:
    """:func:`scan` in parts, in order: a large text's groups of documents one at a time (so
    a caller need not hold every reference at once), the reason for any skipped documents
    last; a small text is one part."""
    if len(text) > finder_documents.STREAM_ABOVE:
        yield from finder_documents.stream(text, _scan_whole)
    else:
        yield _scan_whole(text)[0]


def scan_parts(text: str) -> Iterator[finder_documents.Part]:
    """A large text's groups of documents, each with its own scan (group offsets): what an
    editor needs to edit a stream group by group. A small text is one part."""
    if len(text) > finder_documents.STREAM_ABOVE:
        yield from finder_documents.parts(text, _scan_whole)
    else:
        yield finder_documents.Part(0, len(text), 0, 0, _scan_whole(text)[0])


def _scan_whole(text: str) -> tuple[Scan, int]:
    """``text`` parsed at once: its scan, and how many documents it holds."""
    offset = 1 if text.startswith(BOM) else 0
    body = text[offset:]
    try:
        documents = compose_all(body)
    except yaml.YAMLError as error:
        return Scan((), Skipped(_parse_failure(body, error))), _markers_in(body)
    except ParseLimitExceeded as error:
        return Scan((), Skipped(str(error), over_limits=True)), _markers_in(body)
    has_markers = markers.PREFIX in text
    has_aliases = "*" in body
    found: list[Found] = []
    warnings: list[str] = []
    by_line: dict[int, list[Slot]] = {}
    walks: list[DocumentWalk] = []
    for index, root in enumerate(documents):
        if root is None:
            continue
        ctx = DocumentWalk(body, index, offset, root, scalars_by_line=by_line, markers=has_markers)
        ctx.api_version, ctx.kind = finder_kinds.identity(root)
        if has_aliases:
            ctx.uses = _count_uses(root)
        finder_kinds.walk_document(ctx)
        found.extend(ctx.found)
        warnings.extend(ctx.warnings)
        walks.append(ctx)
    found.extend(finder_charts.find(walks))  # chart versions: the second artifact kind
    found = markers.apply(text, found, by_line)
    scanned = Scan(tuple(_dedupe(found)), warnings=tuple(dict.fromkeys(warnings)))
    return scanned, len(documents)


def _markers_in(text: str) -> int:
    """Documents in a text that could not be parsed, counted by their start markers."""
    return max(len(re.findall(r"^---(?=[ \t\r\n]|$)", text, re.MULTILINE)), 1)


def _count_uses(root: Any) -> dict[int, int]:
    """How many times each scalar node is reached, aliases expanded (bounded: the parse
    limits cap what aliases expand to). Only scalars reached more than once are listed."""
    counts: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.id == "scalar":
            counts[id(node)] = counts.get(id(node), 0) + 1
        elif node.id == "mapping":
            stack.extend(value for _, value in node.value)
        else:
            stack.extend(node.value)
    return {key: count for key, count in counts.items() if count > 1}


def find(text: str, image: str) -> list[Found]:
    """References to ``image`` (any spelling: ``nginx`` ≡ ``docker.io/library/nginx``)."""
    name = refs.normalize_name(image)
    return [f for f in scan(text).found if f.image == name]


def _parse_failure(text: str, error: yaml.YAMLError) -> str:
    where = ""
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        where = f" at line {mark.line + 1}"
    if _template_near(text, error):
        return f"Helm/Go template ({{{{ }}}}), not YAML{where}"
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"not valid YAML: {problem}{where}"


def _template_near(text: str, error: yaml.YAMLError) -> bool:
    """Whether a template action (``{{ … }}``) sits where the parse failed: on the lines from
    the error's context to its problem. Any other ``{{`` (a quoted value, a comment, a block
    scalar) does not make a syntax error a template."""
    marks = [getattr(error, name, None) for name in ("context_mark", "problem_mark")]
    lines = [mark.line for mark in marks if mark is not None]
    if not lines:
        return "{{" in text
    # A line above the first mark too: libyaml often marks the token after the action.
    around = text.split("\n")[max(min(lines) - 1, 0) : max(lines) + 1]
    return any("{{" in line for line in around)


def _dedupe(found: list[Found]) -> Iterator[Found]:
    """Drop a reference whose scalars were already claimed (aliases, overlapping detectors)."""
    claimed: set[tuple[int, int]] = set()
    for item in sorted(found, key=lambda f: (f.line, f.spans)):
        spans = set(item.spans) or {(s.start, s.end) for s in item.name_slots}
        if spans & claimed:
            continue
        claimed |= spans
        yield item
