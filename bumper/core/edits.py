"""One image edit from scan to commit, as one record that moves through three stages.

An :class:`ImageEdit` is first *found*: a reference the finder reported (its :class:`Found`)
in a file. It is then *planned*: the tag and digest it should read and the byte
:class:`Edit` s that write them (none when it already reads them). Last it is *applied*: the
edits are in the file's new text and a re-scan read them back. Each transition is a method
returning a new frozen record, so the reference a scan found is the very one a commit message
lists; nothing is matched again by name or text on the way.

A :class:`FileEdit` is one text and its image edits: the text before and after, every
reference found in it (what verification compares the edited text against) and the
references to the image being edited.

Planning and verifying are ``core.yaml.editor``'s; reading and writing files are
``bumper.edittree``'s. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Literal

from bumper.core.walk import Found, Skipped

Stage = Literal["found", "planned", "applied"]


@dataclasses.dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``start:end`` of a text with ``new``; an empty range inserts."""

    start: int
    end: int
    new: str


@dataclasses.dataclass(frozen=True, slots=True)
class ImageEdit:
    """One image reference carried from scan to commit.

    ``found`` is how the reference read when scanned, in the file ``path`` (relative to the
    tree's root; ``""`` for a text edited on its own). Once planned, ``tag``/``digest`` are
    what it reads after the edit, ``image`` the normalised name after it (renames; ``""``:
    unchanged) and ``edits`` the byte edits that write them.
    """

    found: Found
    path: str = ""
    stage: Stage = "found"
    tag: str | None = None
    digest: str | None = None
    image: str = ""
    edits: tuple[Edit, ...] = ()

    def planned(
        self, tag: str | None, digest: str | None, edits: Iterable[Edit], image: str = ""
    ) -> ImageEdit:
        """This reference, to be made to read ``tag``/``digest`` (and ``image``) by ``edits``."""
        self._expect("found", "plan")
        return ImageEdit(self.found, self.path, "planned", tag, digest, image, tuple(edits))

    def applied(self) -> ImageEdit:
        """This reference, once its edits are in the new text and were read back."""
        self._expect("planned", "apply")
        found, path, tag, digest, image = self.found, self.path, self.tag, self.digest, self.image
        return ImageEdit(found, path, "applied", tag, digest, image, self.edits)

    def _expect(self, stage: Stage, step: str) -> None:
        # A programming error, not bad input: the stages only ever run in order.
        if self.stage != stage:
            raise ValueError(f"cannot {step} an image edit that is {self.stage}")

    @property
    def rewrites(self) -> bool:
        """Whether the edit changes any byte (False: the reference already reads the target)."""
        return bool(self.edits)

    @property
    def line(self) -> int:
        return self.found.line

    @property
    def kind(self) -> str:
        return self.found.kind

    @property
    def new_image(self) -> str:
        return self.image or self.found.image

    @property
    def old(self) -> str:
        """The reference's ``tag@digest`` as found."""
        return tag_digest(self.found.tag, self.found.digest)

    @property
    def new(self) -> str:
        """The reference's ``tag@digest`` once planned."""
        return tag_digest(self.tag, self.digest)


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One changed reference as a change list prints it (``path:line kind old -> new``):
    what a large file edited group by group keeps of each reference, where an
    :class:`ImageEdit` per reference would hold hundreds of MB."""

    path: str
    line: int
    kind: str
    old: str
    new: str


def tag_digest(tag: str | None, digest: str | None) -> str:
    return (tag or "") + (f"@{digest}" if digest else "")


@dataclasses.dataclass(frozen=True, slots=True)
class FileEdit:
    """One text and the edits of one image in it.

    ``scanned`` is every reference in ``before`` (any image): verification checks that the
    others still read the same. ``references`` are those to the image, all at one stage.
    Until applied, ``after`` is ``before``.
    """

    path: str
    before: str
    after: str
    scanned: tuple[Found, ...]
    references: tuple[ImageEdit, ...]
    skipped: Skipped | None = None

    @property
    def text(self) -> str:
        """The text after the edit."""
        return self.after

    @property
    def changes(self) -> tuple[ImageEdit, ...]:
        """The references whose bytes the edit changes."""
        return tuple(ref for ref in self.references if ref.rewrites)

    @property
    def matched(self) -> int:
        """References to the image, changed or already current."""
        return len(self.references)

    def diff(self, label: str | None = None) -> str:
        """A unified diff, ``a/LABEL`` → ``b/LABEL`` (``label`` defaults to ``path``)."""
        name = (label or self.path).lstrip("/")
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )
