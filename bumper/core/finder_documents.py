"""Scan a large YAML stream group of documents by group, so memory follows one group's size,
not the stream's (a 50 MB generated manifest needs tens of MB to compose per group, where a
whole-stream parse needs gigabytes).

A text over ``STREAM_ABOVE`` characters is cut at document markers into groups of about
``GROUP_SIZE`` (``yaml.documents.groups``: a cut never falls inside a value, and anchors are
per document). Each group is scanned like a whole text (``scan_one``), within the parse
limits, and its references are moved to the stream's offsets, lines and document indexes: the
editor slices and re-scans the whole stream exactly as it does a small file. A group over a
limit or not YAML is scanned again document by document, and the document to blame (one
over ``max_bytes``, 16 MiB, an alias bomb, a syntax error) is skipped with its first line
named: the other documents are still scanned. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from bumper.core.walk import Found, Insert, Scan, Skipped, Slot
from bumper.core.yaml import documents

# Above the real-world corpus's largest file (1.9 MB): every file of it is parsed whole.
STREAM_ABOVE = 2 * 2**20
GROUP_SIZE = 200_000  # under 250,000: no alias, no event pass (limits._cannot_exceed)
_LINE = re.compile(r"\bline (\d+)")

ScanOne = Callable[[str], tuple[Scan, int]]  # a text's scan and its number of documents


def scan(text: str, scan_one: ScanOne) -> Scan:
    """``text`` scanned group by group (see the module); one Scan for the whole stream."""
    spans = documents.groups(text, GROUP_SIZE)
    if len(spans) == 1:
        return scan_one(text)[0]
    found: list[Found] = []
    warnings: list[str] = []
    skipped: list[Skipped] = []
    lines = docs = counted_to = 0
    work = list(reversed(spans))
    while work:
        start, end = work.pop()
        group = text[start:end]
        result, count = scan_one(group)
        parts = documents.groups(group, 0) if result.skipped is not None else []
        if len(parts) > 1:  # scan its documents one by one: only the one to blame is skipped
            work += reversed([(start + s, start + e) for s, e in parts])
            continue
        lines += text.count("\n", counted_to, start)
        counted_to = start
        found.extend(_moved(f, start, lines, docs) for f in result.found)
        warnings.extend(_relined(w, lines) for w in result.warnings)
        if result.skipped is not None:
            reason = _relined(result.skipped.reason, lines)
            where = f"document at line {lines + 1}"
            skipped.append(Skipped(f"{where}: {reason}", result.skipped.over_limits))
        docs += count
    return Scan(tuple(found), _summary(skipped), tuple(warnings))


def _summary(skipped: list[Skipped]) -> Skipped | None:
    """One line for every skipped group: the first reason, and how many more."""
    if not skipped:
        return None
    more = f" ({len(skipped) - 1} more groups of documents skipped)" if len(skipped) > 1 else ""
    reason = f"{skipped[0].reason}{more}; the other documents were scanned"
    return Skipped(reason, over_limits=any(s.over_limits for s in skipped))


def _relined(message: str, lines: int) -> str:
    return _LINE.sub(lambda m: f"line {int(m[1]) + lines}", message)


def _moved(found: Found, chars: int, lines: int, docs: int) -> Found:
    def slot(s: Slot | None) -> Slot | None:
        if s is None:
            return None
        return dataclasses.replace(
            s, start=s.start + chars, end=s.end + chars, line=s.line + lines, doc=s.doc + docs
        )

    def insert(i: Insert | None) -> Insert | None:
        return None if i is None else dataclasses.replace(i, at=i.at + chars)

    return dataclasses.replace(
        found,
        line=found.line + lines,
        ref_slot=slot(found.ref_slot),
        tag_slot=slot(found.tag_slot),
        digest_slot=slot(found.digest_slot),
        name_slots=tuple(s for s in map(slot, found.name_slots) if s is not None),
        tag_insert=insert(found.tag_insert),
        digest_insert=insert(found.digest_insert),
    )
