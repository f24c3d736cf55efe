"""Byte-exact edits of image references: text in, text out, with the records of the edits.

``set_image(text, image, tag=..., digest=..., name=...)`` rewrites every reference to ``image`` that
:mod:`finder` reports, replacing only characters inside the reported spans. The quote style
is kept; a plain scalar whose new value would read as a non-string is double-quoted.
It is ``scan_image`` (stage *found*) then ``edit_file`` (*planned*, then *applied*) of
:mod:`bumper.core.edits`; callers that must learn what a text holds before choosing the new
value (the worker's policy) call the two apart, on the same records.

Stale-digest rule: setting a new tag without a digest on a reference pinned by digest
*removes* the digest (``repo:1.0@sha256:…`` → ``repo:1.1``; a separate ``digest:`` or
prometheus-community ``sha:`` field becomes ``""``), because that digest belongs to the old
tag: never ``new@sha256:old``. Pass a digest to pin the new tag (both are then written); a
digest alone changes only the digest. A ``sha:`` field is written as the bare hex.
Templated references (placeholders) are never edited: ``plan`` refuses them.

After editing, the text is scanned again: every edited reference must be found in the same
place (document order) with the intended tag and digest, and every other reference unchanged,
else
:class:`EditRefused` is raised and nothing should be written.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from bumper.core import finder, refs
from bumper.core.edits import Edit, FileEdit, ImageEdit
from bumper.core.finder import Found, Skipped, Slot
from bumper.core.yaml import scalars
from bumper.errors import EditRefused, InvalidReference


def set_image(
    text: str,
    image: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    name: str | None = None,
) -> FileEdit:
    """Set ``tag`` and/or ``digest`` on every reference to ``image`` (any spelling) in ``text``.

    With ``name``, the references are also renamed to that image: together with a tag and a
    digest this sets the full reference.
    """
    return edit_file(scan_image(text, image), tag=tag, digest=digest, name=name)


def scan_image(text: str, image: str, path: str = "") -> FileEdit:
    """The references to ``image`` in ``text`` (stage *found*); ``path`` names the file."""
    wanted = refs.normalize_name(image)
    scanned = finder.scan(text)
    found = tuple(
        ImageEdit(f, path)
        for f in scanned.found
        if f.image == wanted and f.artifact == "image" and f.editable
    )
    return FileEdit(path, text, text, scanned.found, found, scanned.skipped)


def edit_file(
    file: FileEdit,
    *,
    tag: str | None = None,
    digest: str | None = None,
    name: str | None = None,
    keep_form: bool = False,
) -> FileEdit:
    """``file`` with every reference planned to ``tag``/``digest`` (and ``name``), the edits
    applied to its text and read back (stage *applied*); ``EditRefused`` if they cannot be.
    With ``keep_form`` each reference keeps its form: only a pinned one gets ``digest``, and
    a pinned one is never unpinned (refused when a new tag comes without a digest)."""
    if tag is not None:
        refs.validate_tag(tag)
    if digest is not None:
        refs.validate_digest(digest)
    new_name = refs.parse_name(name).name if name is not None else ""
    text = file.before
    planned = [
        plan_reference(text, ref, tag, digest, name, new_name, keep_form=keep_form)
        for ref in file.references
    ]
    changed = [ref for ref in planned if ref.rewrites]
    if not changed:
        return file
    new_text = apply_edits(text, [e for ref in changed for e in ref.edits])
    verify(file.scanned, new_text, changed, file.skipped)
    applied = tuple(ref.applied() for ref in planned)
    return FileEdit(file.path, text, new_text, file.scanned, applied, file.skipped)


def plan_reference(
    text: str,
    ref: ImageEdit,
    tag: str | None,
    digest: str | None,
    name: str | None = None,
    new_name: str = "",
    *,
    keep_form: bool = False,
) -> ImageEdit:
    """``ref`` planned: the target tag and digest (stale-digest rule) and the edits. A
    reference found by its digest-pinned shape alone is kept as is by a bump without a
    digest: a tag alone would unpin it, and it would no longer be found. ``keep_form``: see
    :func:`edit_file`."""
    if ref.found.pinned and digest is None:
        return ref.planned(ref.found.tag, ref.found.digest, [], ref.found.image)
    if keep_form:
        digest = _kept_form(ref.found, tag, digest)
    target_tag, target_digest = targets(ref.found, tag, digest)
    edits = plan(text, ref.found, target_tag, target_digest, name=name)
    return ref.planned(target_tag, target_digest, edits, new_name or ref.found.image)


def _kept_form(found: Found, tag: str | None, digest: str | None) -> str | None:
    """The digest a reference keeping its form gets: none where none is pinned; a pinned
    one whose tag changes must get one (the old digest pinned the old tag)."""
    if found.digest is None:
        return None
    if digest is None and tag is not None and tag != found.tag:
        raise EditRefused(
            f"line {found.line}: pinned by digest, and no digest is known for {tag}:"
            " writing the tag alone would unpin it"
        )
    return digest


def set_reference(text: str, image: str, reference: str) -> FileEdit:
    """Make every reference to ``image`` read ``reference`` (``name[:tag][@digest]``)."""
    ref = refs.parse(reference)
    if ref.tag is None and ref.digest is None:
        raise InvalidReference(f"{reference!r} has neither a tag nor a digest")
    name = reference.partition("@")[0]
    name = name[: -len(ref.tag) - 1] if ref.tag else name
    return set_image(text, image, tag=ref.tag, digest=ref.digest, name=name)


def targets(found: Found, tag: str | None, digest: str | None) -> tuple[str | None, str | None]:
    """The tag and digest a reference should end with (applies the stale-digest rule)."""
    new_tag = found.tag if tag is None else tag
    if digest is not None:
        return new_tag, digest
    if tag is not None and tag != found.tag:
        return new_tag, None  # the old digest pinned the old tag
    return new_tag, found.digest


def plan(
    text: str, found: Found, tag: str | None, digest: str | None, *, name: str | None = None
) -> list[Edit]:
    """The edits that make ``found`` read ``tag``/``digest`` (and ``name``); empty if so."""
    if found.templated:
        raise EditRefused(f"line {found.line} ({found.kind}): templated, never edited")
    if found.invalid:
        raise EditRefused(f"line {found.line} ({found.kind}): not a valid reference, never edited")
    if found.pinned and digest is None:  # plan_reference keeps it as is instead
        raise EditRefused(
            f"line {found.line}: found by its digest shape, edited only with a digest"
        )
    renamed = name is not None and refs.normalize_name(name) != found.image
    if (tag, digest) == (found.tag, found.digest) and not renamed:
        return []
    if found.ref_slot is not None:
        return _plan_ref(text, found, found.ref_slot, tag, digest, name if renamed else None)
    edits = (
        _plan_split(text, found, tag, digest) if (tag, digest) != (found.tag, found.digest) else []
    )
    if renamed and name is not None:
        edits += _plan_rename(text, found, name)
    return edits


def _plan_ref(
    text: str, found: Found, slot: Slot, tag: str | None, digest: str | None, name: str | None
) -> list[Edit]:
    prefix, ref_text = slot.value[: found.ref_offset], slot.value[found.ref_offset :]
    name = name or _name_part(ref_text)
    new_value = prefix + name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return write_slot_edits(text, slot, new_value)


def _plan_rename(text: str, found: Found, name: str) -> list[Edit]:
    """Rename a split form: ``registry`` + ``repository`` fields, or the one name field."""
    slots = found.name_slots
    if not slots or (found.kind == "kustomize-images" and slots[0].path[-1] != "newName"):
        raise EditRefused(
            f"line {found.line} ({found.kind}): no name field to rename {found.image}"
        )
    if len(slots) == 1:
        return [write_slot(text, slots[0], name)]
    ref = refs.parse_name(name)
    return [write_slot(text, slots[0], ref.registry), write_slot(text, slots[1], ref.repository)]


def _name_part(ref_text: str) -> str:
    body = ref_text.partition("@")[0]
    colon = body.rfind(":")
    return body[:colon] if colon > body.rfind("/") else body


def _plan_split(text: str, found: Found, tag: str | None, digest: str | None) -> list[Edit]:
    where = f"line {found.line} ({found.kind})"
    edits = []
    digest_to_tag = found.digest_slot is None and found.digest_in_tag
    tag_value = tag or ""
    if digest_to_tag and digest:
        if not tag:
            raise EditRefused(f"{where}: a digest needs a tag to go with in the tag field")
        tag_value = f"{tag}@{digest}"
    tag_changed = tag != found.tag or (digest_to_tag and digest != found.digest)
    if found.tag_slot is not None:
        if tag_value != _current(found.tag_slot):
            if not tag_value:
                raise EditRefused(f"{where}: refusing to empty the tag of {found.image}")
            edits.append(write_slot(text, found.tag_slot, tag_value))
    elif tag_changed:
        if found.tag_insert is None or not tag:
            raise EditRefused(f"{where}: no tag field to set for {found.image}")
        edits.append(_insert(found.tag_insert, tag))
    if found.digest_slot is not None:
        written = _bare(digest, where) if found.digest_bare else digest or ""
        if written != _current(found.digest_slot):
            edits.append(write_slot(text, found.digest_slot, written))
    elif not digest_to_tag and digest != found.digest:
        if found.digest_insert is None or not digest:
            raise EditRefused(f"{where}: no digest field to set for {found.image}")
        edits.append(_insert(found.digest_insert, digest))
    return edits


def _bare(digest: str | None, where: str) -> str:
    """A ``sha:`` field's value: the hex of a sha256 digest (the chart adds ``@sha256:``)."""
    if digest is None:
        return ""
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != "sha256":
        raise EditRefused(f"{where}: the sha field holds only sha256 digests, not {algorithm}")
    return hexpart


def _insert(point: finder.Insert, value: str) -> Edit:
    rendered = scalars.render(value, scalars.PLAIN)
    return Edit(point.at, point.at, point.before + rendered + point.after)


def _current(slot: Slot) -> str:
    return "" if slot.is_null else slot.value


def write_slot_edits(text: str, slot: Slot, value: str) -> list[Edit]:
    """Like :func:`write_slot`; a scalar continued over escaped line breaks may take one
    edit per line of it."""
    if _has_breaks(text, slot):
        return _write_across_breaks(slot, text[slot.start : slot.end], value)
    return [write_slot(text, slot, value)]


def _has_breaks(text: str, slot: Slot) -> bool:
    return slot.style == scalars.DOUBLE and text[slot.start : slot.end] != (
        scalars.quoted_content(slot.value, slot.style)
    )


def write_slot(text: str, slot: Slot, value: str) -> Edit:
    """The smallest edit inside ``slot`` that makes it read ``value`` (re-quoting if needed)."""
    if slot.style == scalars.PLAIN and (scalars.needs_quotes(value) or slot.is_null):
        rendered = scalars.render(value, scalars.PLAIN)
        if slot.start == slot.end and text[slot.start - 1 : slot.start] == ":":
            rendered = " " + rendered  # "tag:" with nothing after the colon
        return Edit(slot.start, slot.end, rendered)
    old = text[slot.start : slot.end]
    if _has_breaks(text, slot):
        edits = _write_across_breaks(slot, old, value)
        if len(edits) != 1:
            raise EditRefused(f"line {slot.line}: the change would span escaped line breaks")
        return edits[0]
    new = scalars.quoted_content(value, slot.style)
    head = _common_prefix(old, new)
    tail = _common_prefix(old[head:][::-1], new[head:][::-1])
    return Edit(slot.start + head, slot.end - tail, new[head : len(new) - tail])


def _write_across_breaks(slot: Slot, source: str, value: str) -> list[Edit]:
    """The edits of a double-quoted scalar continued over lines with escaped line breaks:
    the characters that change are found in the value and mapped to the source, one edit
    per line of it, so every break stays where it is; a change spanning a break is refused."""
    chars = scalars.escaped_chars(source)
    old = slot.value
    if chars is None or len(chars) != len(old) or not chars:
        raise EditRefused(f"line {slot.line}: cannot map the quoted value to its source")
    lines, row, previous = [], 0, 0
    for _, start, end in chars:  # the source line of each character
        row += source.count("\n", previous, start)
        lines.append(row)
        previous = end
    merged: dict[int, list[int]] = {}  # line -> [i1, i2, j1, j2]
    matcher = difflib.SequenceMatcher(None, old, value, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        rows = {lines[i] for i in range(i1, i2)} or {lines[min(i1, len(old) - 1)]}
        if len(rows) > 1:
            raise EditRefused(f"line {slot.line}: the change would cross an escaped line break")
        span = merged.setdefault(rows.pop(), [i1, i2, j1, j2])
        span[1], span[3] = i2, j2
    edits = []
    for i1, i2, j1, j2 in merged.values():
        if i2 > i1:
            start, end = chars[i1][1], chars[i2 - 1][2]
        else:  # an insertion: after the character before it (before any break that follows)
            start = end = chars[i1 - 1][2] if i1 else chars[0][1]
        rendered = scalars.quoted_content(value[j1:j2], scalars.DOUBLE)
        edits.append(Edit(slot.start + start, slot.start + end, rendered))
    return edits


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def apply_edits(text: str, edits: list[Edit]) -> str:
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.end > after.start:
            raise EditRefused("overlapping edits; refusing to guess")
    pieces, pos = [], 0
    for edit in ordered:
        pieces += [text[pos : edit.start], edit.new]
        pos = edit.end
    pieces.append(text[pos:])
    return "".join(pieces)


def verify(
    before: Sequence[Found],
    new_text: str,
    changes: Sequence[ImageEdit],
    skipped: Skipped | None = None,
) -> None:
    """Re-scan ``new_text``: edited references read the new values, the others are unchanged.
    A text whose scan ``skipped`` a document before (a large stream's document over the
    limits) may skip it again: every reference of the other documents is still compared."""
    rescan = finder.scan(new_text)
    if rescan.skipped is not None and skipped is None:
        raise EditRefused(f"the edited text no longer parses: {rescan.skipped.reason}")
    after = {c.found: (c.found.kind, c.new_image, c.found.doc, c.tag, c.digest) for c in changes}
    expected = [after.get(f, (*_key(f), f.tag, f.digest)) for f in before]
    actual = [(*_key(f), f.tag, f.digest) for f in rescan.found]
    if actual != expected:
        wrong = next(
            (pair for pair in zip(expected, actual, strict=False) if pair[0] != pair[1]),
            (len(expected), len(actual)),
        )
        raise EditRefused(f"verification failed after editing, nothing written: {wrong}")


def _key(found: Found) -> tuple[str, str, int]:
    # Document order identifies a reference: edits never reorder, though inserts move lines.
    return (found.kind, found.image, found.doc)
