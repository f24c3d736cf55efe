"""Bumper's scan+edit against a plain ruamel.yaml round-trip, over ../shared/corpus/yaml.

For every corpus file with a reference (files over MAX_BYTES are left out to bound the run;
the count is printed), both sides set a new tag on the file's first reference:

* bumper: ``editor.set_image`` (screen, scan, span edit, re-scan verification);
* baseline: ruamel.yaml ``YAML()`` round-trip with ``preserve_quotes``: load → set the value
  at the same place → dump.

Prints files/s for each, the speed ratio, and the share of files where the round-trip
changed bytes outside the tag (its output differs from the byte-exact edit).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bumper import edittree
from bumper.core import finder
from bumper.core.edits import ImageEdit
from bumper.core.yaml import editor

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "yaml"
MAX_BYTES = 64 * 1024
NEW_TAG = "9.9.9-bench"


def corpus(max_bytes: int = MAX_BYTES) -> list[tuple[str, str, finder.Found]]:
    """(name, text, first reference) for each corpus file that has one, in manifest order."""
    rows = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    cases = []
    for row in rows:
        name = row.split("\t")[0]
        data = (CORPUS / name).read_bytes()
        if len(data) > max_bytes:
            continue
        text = data.decode("utf-8")
        found = [f for f in finder.scan(text).found if _roundtrip_path(f) is not None]
        if found:
            cases.append((name, text, found[0]))
    return cases


def _roundtrip_path(found: finder.Found) -> tuple[int, tuple[Any, ...]] | None:
    """Where the baseline sets the value: the tag field, or the whole reference string."""
    slot = found.tag_slot or found.ref_slot
    if slot is None or found.ref_offset or found.kind == "marker":
        return None
    return slot.doc, slot.path


def bumper_edit(text: str, found: finder.Found) -> str:
    """Screen, scan, edit the one reference the baseline edits, verify by re-scanning."""
    assert edittree.screen_term(found.image) in text
    scanned = finder.scan(text).found
    (target,) = [f for f in scanned if f.spans == found.spans]
    tag, digest = editor.targets(target, NEW_TAG, None)
    edits = editor.plan(text, target, tag, digest)
    new_text = editor.apply_edits(text, edits)
    editor.verify(scanned, new_text, [ImageEdit(target).planned(tag, digest, edits)])
    return new_text


def roundtrip_edit(text: str, found: finder.Found) -> str:
    doc, path = _roundtrip_path(found) or (0, ())
    yaml = YAML()
    yaml.preserve_quotes = True
    documents = list(yaml.load_all(text))
    target = documents[doc]
    for key in path[:-1]:
        target = target[key]
    slot = found.tag_slot or found.ref_slot
    assert slot is not None
    if found.tag_slot is not None:
        target[path[-1]] = NEW_TAG
        if found.digest_slot is not None and found.digest:
            target[found.digest_slot.path[-1]] = ""  # the stale-digest rule, as bumper does
    else:
        name = slot.value.partition("@")[0]
        if found.tag:
            name = name[: -len(found.tag) - 1]
        target[path[-1]] = f"{name}:{NEW_TAG}"
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def timed(func: Any, cases: list[tuple[str, str, finder.Found]]) -> tuple[float, list[str | None]]:
    outputs: list[str | None] = []
    start = time.perf_counter()
    for _, text, found in cases:
        try:
            outputs.append(func(text, found))
        except Exception:  # the baseline may choke on a file; that counts as damage
            outputs.append(None)
    return time.perf_counter() - start, outputs


def main() -> int:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        print(f"skipped: {CORPUS} is absent")
        return 0
    cases = corpus()
    size = sum(len(text) for _, text, _ in cases) / 1e6
    bumper_s, bumper_out = timed(bumper_edit, cases)
    base_s, base_out = timed(roundtrip_edit, cases)
    damaged = sum(1 for ours, theirs in zip(bumper_out, base_out, strict=True) if ours != theirs)
    failed = sum(1 for out in base_out if out is None)
    exact = sum(
        1
        for (_, text, found), out in zip(cases, bumper_out, strict=True)
        if out is not None and _only_inside_spans(text, out, found)
    )
    n = len(cases)
    print(f"corpus files with a reference (≤ {MAX_BYTES // 1024} KiB): {n}, {size:.1f} MB")
    print(f"{'method':<22}{'seconds':>10}{'files/s':>10}{'changed outside tag':>22}")
    print(f"{'bumper scan+edit':<22}{bumper_s:>10.2f}{n / bumper_s:>10.1f}{n - exact:>15} files")
    print(
        f"{'ruamel round-trip':<22}{base_s:>10.2f}{n / base_s:>10.1f}"
        f"{damaged:>15} files ({100 * damaged / n:.0f} %, {failed} raised)"
    )
    print(f"ratio: bumper is {base_s / bumper_s:.1f}x the round-trip's speed")
    whole = corpus(max_bytes=1 << 40)
    whole_s, whole_out = timed(bumper_edit, whole)
    whole_mb = sum(len(text) for _, text, _ in whole) / 1e6
    exact_all = sum(
        1
        for (_, text, found), out in zip(whole, whole_out, strict=True)
        if out is not None and _only_inside_spans(text, out, found)
    )
    print(
        f"bumper on every corpus file with a reference: {len(whole)} files, {whole_mb:.1f} MB, "
        f"{len(whole) / whole_s:.1f} files/s, {exact_all}/{len(whole)} changed only inside spans"
    )
    return 0


def _only_inside_spans(text: str, out: str, found: finder.Found) -> bool:
    """Bumper's own output differs from the input only inside the reference's spans."""
    start, end = min(s for s, _ in found.spans), max(e for _, e in found.spans)
    tail = len(text) - end
    return out[:start] == text[:start] and out[len(out) - tail :] == text[end:]


if __name__ == "__main__":
    sys.exit(main())
