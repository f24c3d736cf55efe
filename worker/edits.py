"""The file side of a bump: find the image's references under a target's path globs, then
rewrite those same references to the chosen tag/digest, in a checkout.

The worker's seam onto ``bumper.edittree`` (finder + byte-exact ``core.yaml.editor``). ``find``
reads and scans each file once, giving the bump flow the references (``ImageEdit`` records,
stage *found*) whose current value the policy compares against; ``apply`` plans, verifies and
writes *those records*, with the texts read by ``find``: the tree is not walked again.
A file over ``finder_documents.STREAM_ABOVE`` is scanned and edited group by group
(``edittree``'s bounded scan and ``stage_found``, the mechanism ``bumper set-image`` uses):
``find`` keeps its count and first references, ``apply`` lists its first changes and counts
the rest (``Applied.unlisted``), so a bump of a reference-dense 50 MB file holds one group's
references at a time.
Scan once per edit of a checkout: a push race re-runs the edit on a fresh tree, which needs a
fresh scan. Editor errors become ``PermanentError`` (a bad path or a refused edit will not
fix itself on retry). ``edittree`` confines every path to the checkout root.
"""

from __future__ import annotations

import dataclasses

from bumper import edittree, gitrepo
from bumper.core import config
from bumper.core.changes import EditedReference
from bumper.errors import BumperError, PermanentError, TransientError


def find(
    checkout: gitrepo.Checkout, globs: list[str], rule: config.Image | str
) -> edittree.TreeEdit:
    """Every reference to the rule's image (an image name; or, for a chart rule, its chart's
    versions: ``edittree.scan_chart``) under ``globs``, in path order (stage *found*).

    A file that mentions the image but cannot be decoded fails the bump: bumping the other
    files would leave that one behind, unseen."""
    try:
        if isinstance(rule, str):
            found = edittree.scan_image(checkout.root, globs, rule, bounded=True)
        elif rule.chart is not None:
            name, repository = rule.chart_identity()
            found = edittree.scan_chart(checkout.root, globs, name, repository)
        else:
            found = edittree.scan_image(checkout.root, globs, rule.image, bounded=True)
    except (PermanentError, TransientError):
        raise
    except BumperError as error:
        raise PermanentError(f"cannot read the target's files: {error}", reason="edit") from None
    if found.unreadable:
        reason = found.unreadable[0][1]
        raise PermanentError(f"cannot read the target's files: {reason}", reason="edit")
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """The references an edit changed, in path order (``changes``: a large file's first
    ``edittree.LISTED``), and ``(path, count)`` of those changed but not listed."""

    changes: tuple[EditedReference, ...]
    unlisted: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes or self.unlisted)


def apply(
    checkout: gitrepo.Checkout,
    found: edittree.TreeEdit,
    tag: str,
    digest: str | None,
    rule: config.Image | None = None,
    *,
    keep_form: bool = False,
) -> Applied:
    """Rewrite the references ``find`` found to ``tag`` (and ``digest``); those changed,
    applied. Every file is verified before any is written. ``keep_form``: only pinned
    references get ``digest``, and none is unpinned (``editor.edit_file``)."""
    edited: edittree.TreeEdit | None = None
    try:
        if rule is not None and rule.chart is not None:  # a chart version has no digest
            edited = edittree.plan_chart_tree(found, tag)
        else:
            edited = edittree.stage_found(
                checkout.root, found, tag=tag, digest=digest, keep_form=keep_form
            )
        edittree.write_tree(checkout.root, edited)
    except (PermanentError, TransientError):
        raise
    except BumperError as error:
        raise PermanentError(f"cannot edit the target's files: {error}", reason="edit") from None
    finally:
        if edited is not None:
            edittree.discard_staged(edited)  # written ones are gone already; a failure's not
    small: list[tuple[str, tuple[EditedReference, ...]]] = [
        (file.path, file.changes) for file in edited.files
    ]
    small += [(staged.path, staged.changes) for staged in edited.staged]
    listed = tuple(ref for _, refs in sorted(small, key=lambda item: item[0]) for ref in refs)
    return Applied(listed, edited.unlisted)
