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

from collections.abc import Iterator

import yaml

from bumper.core import finder_kinds, markers, refs
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
]


def scan(text: str) -> Scan:
    """Every image reference in ``text``, or the reason the text was skipped."""
    offset = 1 if text.startswith(BOM) else 0
    body = text[offset:]
    try:
        documents = compose_all(body)
    except yaml.YAMLError as error:
        return Scan((), Skipped(_parse_failure(body, error)))
    except ParseLimitExceeded as error:
        return Scan((), Skipped(str(error), over_limits=True))
    has_markers = markers.PREFIX in text
    found: list[Found] = []
    by_line: dict[int, list[Slot]] = {}
    for index, root in enumerate(documents):
        if root is None:
            continue
        ctx = DocumentWalk(body, index, offset, root, scalars_by_line=by_line, markers=has_markers)
        finder_kinds.walk_document(ctx)
        found.extend(ctx.found)
    found = markers.apply(text, found, by_line)
    return Scan(tuple(_dedupe(found)))


def find(text: str, image: str) -> list[Found]:
    """References to ``image`` (any spelling: ``nginx`` ≡ ``docker.io/library/nginx``)."""
    name = refs.normalize_name(image)
    return [f for f in scan(text).found if f.image == name]


def _parse_failure(text: str, error: yaml.YAMLError) -> str:
    where = ""
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        where = f" at line {mark.line + 1}"
    if "{{" in text:
        return f"Helm/Go template ({{{{ }}}}), not YAML{where}"
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"not valid YAML: {problem}{where}"


def _dedupe(found: list[Found]) -> Iterator[Found]:
    """Drop a reference whose scalars were already claimed (aliases, overlapping detectors)."""
    claimed: set[tuple[int, int]] = set()
    for item in sorted(found, key=lambda f: (f.line, f.spans)):
        spans = set(item.spans) or {(s.start, s.end) for s in item.name_slots}
        if spans & claimed:
            continue
        claimed |= spans
        yield item
