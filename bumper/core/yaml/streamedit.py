"""Edit a large YAML stream group of documents by group (``finder.scan_parts``), so that
memory follows one group's references, not the stream's: a 50 MB manifest with a reference
in each of its 300,000 documents is edited in about the memory of its text.

Each group is edited exactly as a small text is (:func:`editor.edit_file`: the stale-digest
rule, templated references refused, the group re-scanned and verified after the edit); its
new text, a :class:`Change` per changed reference (stream line numbers) and, on request, its
unified diff (stream line numbers) are yielded, and the group's records dropped. Joining the
parts' ``after`` texts gives the edited stream, byte for byte what editing it whole gives:
the groups are parsed alone either way, and edits never cross a document marker.

A refusal raises ``EditRefused`` naming the stream's line; the caller writes nothing then.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Iterator

from bumper.core import finder, refs
from bumper.core.edits import Change, FileEdit, ImageEdit
from bumper.core.walk import Skipped
from bumper.core.yaml import editor
from bumper.errors import EditRefused


@dataclasses.dataclass(frozen=True, slots=True)
class EditedPart:
    """One group of documents after the edit: its new text, the references to the image it
    holds (``matched``), those changed, any documents skipped, and its diff hunks (``""``
    unless asked for, or when nothing changed)."""

    after: str
    matched: int
    changes: tuple[Change, ...]
    skipped: Skipped | None
    hunks: str = ""


def edit_parts(
    text: str,
    image: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    path: str = "",
    diff: bool = False,
    keep_form: bool = False,
) -> Iterator[EditedPart]:
    """Every group of ``text`` with its references to ``image`` set to ``tag``/``digest``;
    with ``diff``, a last part with no text may carry the diff's last hunks."""
    wanted = refs.normalize_name(image)
    differ = _StreamDiff()
    for part in finder.scan_parts(text):
        group = text[part.start : part.end]
        found = tuple(
            ImageEdit(f, path)
            for f in part.scan.found
            if f.image == wanted and f.artifact == "image" and f.editable
        )
        file = FileEdit(path, group, group, part.scan.found, found, part.scan.skipped)
        try:
            edited = editor.edit_file(file, tag=tag, digest=digest, keep_form=keep_form)
        except EditRefused as error:
            raise EditRefused(part.relined(str(error))) from None
        changes = tuple(
            Change(path, ref.line + part.lines, ref.kind, sys.intern(ref.old), sys.intern(ref.new))
            for ref in edited.changes
        )
        hunks = differ.add(group, edited.after) if diff else ""
        yield EditedPart(edited.after, edited.matched, changes, part.skipped, hunks)
    if diff:
        yield EditedPart("", 0, (), None, differ.flush())


class _StreamDiff:
    """A unified diff of a stream fed group by group, as ``difflib.unified_diff`` would
    give it (3 lines of context, stream line numbers, no file header). The diff of each
    group is taken together with the lines carried from the group before: its last 3 lines,
    or from its last hunk on when that hunk reaches its end, so that a hunk at a group's
    edge gets its full context and hunks close across an edge are one."""

    CONTEXT = 3

    def __init__(self) -> None:
        self.old: list[str] = []  # carried lines, then the group's
        self.new: list[str] = []
        self.old_at = self.new_at = 0  # stream line index of old[0], new[0]

    def add(self, before: str, after: str) -> str:
        self.old += before.splitlines(keepends=True)
        self.new += after.splitlines(keepends=True)
        return self._emit(final=False)

    def flush(self) -> str:
        return self._emit(final=True)

    def _emit(self, final: bool) -> str:
        matcher = difflib.SequenceMatcher(None, self.old, self.new)
        hunks = [h for h in matcher.get_grouped_opcodes(self.CONTEXT) if _changes(h)]
        keep_i = max(len(self.old) - self.CONTEXT, 0)  # carry the last lines as context
        keep_j = max(len(self.new) - self.CONTEXT, 0)
        if hunks and not final:
            _, _, i2, _, j2 = [op for op in hunks[-1] if op[0] != "equal"][-1]
            # Its context would reach the carried lines: wait for the next group's lines.
            if i2 + self.CONTEXT > keep_i or j2 + self.CONTEXT > keep_j:
                _, keep_i, _, keep_j, _ = hunks.pop()[0]
        out = "".join(self._format(hunk) for hunk in hunks)
        self.old_at += keep_i
        self.new_at += keep_j
        self.old, self.new = self.old[keep_i:], self.new[keep_j:]
        return out

    def _format(self, hunk: list[tuple[str, int, int, int, int]]) -> str:
        first, last = hunk[0], hunk[-1]
        old = _range(self.old_at + first[1], last[2] - first[1])
        new = _range(self.new_at + first[3], last[4] - first[3])
        lines = [f"@@ -{old} +{new} @@\n"]
        for op, i1, i2, j1, j2 in hunk:
            if op == "equal":
                lines += [" " + line for line in self.old[i1:i2]]
                continue
            lines += ["-" + line for line in self.old[i1:i2]]
            lines += ["+" + line for line in self.new[j1:j2]]
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )


def _changes(hunk: list[tuple[str, int, int, int, int]]) -> bool:
    return any(op[0] != "equal" for op in hunk)


def _range(start: int, length: int) -> str:
    """A hunk's range as unified diffs write it (``difflib``'s format)."""
    beginning = start + 1
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
