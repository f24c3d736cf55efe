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
named: the other documents are still scanned.

``parts`` yields each group with its own scan (group offsets), for callers that edit a
stream group by group; ``stream`` yields each group's scan moved to the stream's offsets,
then one skipped summary, so a caller can print references without holding them all;
``scan`` is the whole stream's Scan. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator

from bumper.core.walk import Found, Insert, Scan, Skipped, Slot
from bumper.core.yaml import documents

# Above the real-world corpus's largest file (1.9 MB): every file of it is parsed whole.
STREAM_ABOVE = 2 * 2**20
GROUP_SIZE = 200_000  # under 250,000: no alias, no event pass (limits._cannot_exceed)
_LINE = re.compile(r"\bline (\d+)")

ScanOne = Callable[[str], tuple[Scan, int]]  # a text's scan and its number of documents


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """One group of documents, ``start:end`` of the stream, scanned on its own: ``scan``'s
    offsets, lines and document indexes count from the group's start; ``lines`` and ``docs``
    are the lines and documents before it."""

    start: int
    end: int
    lines: int
    docs: int
    scan: Scan

    def moved(self) -> Scan:
        """The group's scan with the stream's offsets, lines and document indexes; a skipped
        group's reason names the line of the document it starts at."""
        found = tuple(_moved(f, self.start, self.lines, self.docs) for f in self.scan.found)
        warnings = tuple(_relined(w, self.lines) for w in self.scan.warnings)
        return Scan(found, self.skipped, warnings)

    @property
    def skipped(self) -> Skipped | None:
        """Why the group was skipped, naming the stream's line of its first document."""
        skipped = self.scan.skipped
        if skipped is None:
            return None
        reason = f"document at line {self.lines + 1}: {self.relined(skipped.reason)}"
        return Skipped(reason, skipped.over_limits)

    def relined(self, message: str) -> str:
        """``message`` with its group line numbers made the stream's."""
        return _relined(message, self.lines)


def parts(text: str, scan_one: ScanOne) -> Iterator[Part]:
    """The groups of ``text`` in order, each scanned (a text of one group is one part)."""
    spans = documents.groups(text, GROUP_SIZE)
    if len(spans) == 1:
        yield Part(0, len(text), 0, 0, scan_one(text)[0])
        return
    lines = docs = counted_to = 0
    work = list(reversed(spans))
    while work:
        start, end = work.pop()
        group = text[start:end]
        result, count = scan_one(group)
        split = documents.groups(group, 0) if result.skipped is not None else []
        if len(split) > 1:  # scan its documents one by one: only the one to blame is skipped
            work += reversed([(start + s, start + e) for s, e in split])
            continue
        del group
        lines += text.count("\n", counted_to, start)
        counted_to = start
        yield Part(start, end, lines, docs, result)
        docs += count


def stream(text: str, scan_one: ScanOne) -> Iterator[Scan]:
    """Each group's scan moved to the stream's offsets (no ``skipped``), then, when groups
    were skipped, one Scan with no reference that sums them up in one line."""
    skipped: list[Skipped] = []
    for part in parts(text, scan_one):
        if part.start == 0 and part.end == len(text):
            yield part.scan
            return
        moved = part.moved()
        if moved.skipped is not None:
            skipped.append(moved.skipped)
        yield Scan(moved.found, None, moved.warnings)
    if skipped:
        yield Scan((), summary(skipped))


def scan(text: str, scan_one: ScanOne) -> Scan:
    """``text`` scanned group by group (see the module); one Scan for the whole stream."""
    return combine(stream(text, scan_one))


def combine(scans: Iterable[Scan]) -> Scan:
    """One Scan of a stream's parts: their references and warnings in order, the last
    ``skipped`` (``stream`` gives at most one)."""
    found: list[Found] = []
    warnings: list[str] = []
    skipped: Skipped | None = None
    for one in scans:
        found.extend(one.found)
        warnings.extend(one.warnings)
        skipped = one.skipped or skipped
    return Scan(tuple(found), skipped, tuple(warnings))


def summary(skipped: list[Skipped]) -> Skipped:
    """One line for every skipped group (at least one): the first reason, and how many more."""
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
