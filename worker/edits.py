"""The file side of a bump: find the image's references under a target's path globs, and
rewrite them to the chosen tag/digest, in a checkout.

The worker's seam onto the editor's ``bumper.edittree`` (finder + byte-exact ``core.yaml.editor``):
everything the bump flow needs from file editing goes through ``find`` and ``apply``, with
editor errors turned into ``PermanentError`` (a bad path or a refused edit will not fix
itself on retry). ``edittree`` confines every path to the checkout root.
"""

from __future__ import annotations

from dataclasses import dataclass

from bumper import edittree, gitrepo
from bumper.core import changes, finder
from bumper.errors import BumperError, PermanentError, TransientError


@dataclass(frozen=True)
class Found:
    """One reference to the image in a file."""

    path: str
    line: int
    tag: str | None
    digest: str | None


def find(checkout: gitrepo.Checkout, globs: list[str], image: str) -> list[Found]:
    """Every reference to ``image`` under ``globs``, in path order."""
    try:
        term = edittree.screen_term(image)
        result = []
        for path in edittree.yaml_files(checkout.root, globs):
            text = edittree.read_text(path)
            if term not in text:
                continue  # cheap screen: every spelling of the image contains this
            rel = path.relative_to(checkout.root.resolve()).as_posix()
            for found in finder.find(text, image):
                result.append(Found(rel, found.line, found.tag, found.digest))
        return result
    except (PermanentError, TransientError):
        raise
    except BumperError as error:
        raise PermanentError(f"cannot read the target's files: {error}", reason="edit") from None


def apply(
    checkout: gitrepo.Checkout, globs: list[str], image: str, tag: str, digest: str | None
) -> list[changes.FileChange]:
    """Rewrite every reference to ``image`` to ``tag`` (and ``digest``); the changes made."""
    try:
        made = edittree.set_image_in_tree(checkout.root, globs, image, tag=tag, digest=digest)
    except (PermanentError, TransientError):
        raise
    except BumperError as error:
        raise PermanentError(f"cannot edit the target's files: {error}", reason="edit") from None
    return [changes.FileChange(c.path, c.old, c.new, c.line) for c in made]
