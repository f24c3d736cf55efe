"""Every file of ../shared/corpus/yaml: set a new tag on every reference (images and Helm chart
versions: a chart reference's version is its tag), then separately a new digest, and check that

* only characters inside the spans the finder reported change (compared outside the spans
  reported before and after the edit);
* a re-scan finds the new value at the same place (same line, kind and image);
* the file re-parses to the same data apart from the edited values;
* nothing raises, except a refusal with one of the documented reasons (the reference's
  shape cannot hold the value, e.g. a kustomize entry without a ``digest`` key).
"""

from __future__ import annotations

import collections
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bumper.core import finder
from bumper.core.edits import ImageEdit
from bumper.core.finder import Found
from bumper.core.finder_charts import ChartFound
from bumper.core.yaml import charteditor, editor
from bumper.errors import EditRefused
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "yaml"
# Files the editor may skip, each with the reason. Empty: every corpus file is valid YAML.
EXCLUDED: dict[str, str] = {}
# Refusals are answers, not failures, when the file has nowhere to put the value.
INSERTABLE_KEYS = {"newTag", "digest"}  # kustomize images entries may gain them
ALLOWED_REFUSALS = (
    "no digest field",
    "no tag field",
    "a digest needs a tag",
    "templated, never edited",  # a placeholder (${VAR}, {{ }}, <image>): never edited
    "not a valid reference, never edited",  # a container's image that does not parse
    "edited only with a digest",  # found by its digest-pinned shape alone (Found.pinned)
)


def corpus_files() -> list[Any]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{manifest} is absent"))]
    lines = manifest.read_text(encoding="utf-8").splitlines()[1:]
    return [pytest.param(line.split("\t")[0], id=line.split("\t")[0]) for line in lines if line]


def load(text: str) -> list[Any]:
    return list(yaml.load_all(text.removeprefix("\ufeff"), Loader=yaml.CSafeLoader))


# Besides the value: quotes, the space after "tag:", or a whole key a kustomize entry lacked.
ADDED_AROUND_VALUE = re.compile(r"""[ "']{0,3}|\r?\n|[\s"',]*(?:newTag|digest): [\s"']*""")


def spans_of(found: tuple[Found, ...]) -> list[tuple[int, int]]:
    return sorted(span for f in found for span in f.spans)


def assert_changes_inside_spans(
    text: str, found: tuple[Found, ...], new_text: str, rescan: tuple[Found, ...]
) -> None:
    """``new_text`` is ``text`` with only the reported spans replaced.

    The text between two old spans must reappear between the matching new spans; a quote or a
    space may be added next to a value (a plain value that had to be quoted, "tag:" filled),
    and at an insertion point the new key.
    """
    old_spans, new_spans = spans_of(found), spans_of(rescan)
    assert len(old_spans) == len(new_spans)
    old_bounds = [0, *[p for span in old_spans for p in span], len(text)]
    new_bounds = [0, *[p for span in new_spans for p in span], len(new_text)]
    for index in range(0, len(old_bounds), 2):
        kept = text[old_bounds[index] : old_bounds[index + 1]]
        region = new_text[new_bounds[index] : new_bounds[index + 1]]
        head = region.find(kept)
        assert head != -1, f"text outside the spans changed near offset {old_bounds[index]}"
        extra = region[:head] + region[head + len(kept) :]
        assert ADDED_AROUND_VALUE.fullmatch(extra), (kept[-40:], region[-40:])


def new_values(found: tuple[Found, ...], mode: str) -> dict[int, tuple[str | None, str | None]]:
    values = {}
    for index, item in enumerate(found):
        if mode == "tag":
            values[index] = editor.targets(item, f"bumper-t{index}.1", None)
        else:
            values[index] = editor.targets(item, None, f"sha256:{index + 1:064x}")
    return values


def diff_leaves(old: Any, new: Any, path: tuple[Any, ...], out: list[tuple[Any, ...]]) -> None:
    """Collect the paths where ``old`` and ``new`` differ; the shapes must be identical."""
    if isinstance(old, dict) and isinstance(new, dict):
        added = list(new)[len(old) :]
        assert list(new)[: len(old)] == list(old), f"keys changed at {path}"
        assert set(added) <= INSERTABLE_KEYS, f"keys added at {path}: {added}"
        out.extend((*path, key) for key in added)
        for key in old:
            diff_leaves(old[key], new[key], (*path, key), out)
    elif isinstance(old, list) and isinstance(new, list):
        assert len(old) == len(new), f"list length changed at {path}"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            diff_leaves(a, b, (*path, index), out)
    elif old != new and not (isinstance(old, float) and math.isnan(old) and math.isnan(new)):
        out.append(path)


@pytest.mark.parametrize("name", corpus_files())
@pytest.mark.parametrize("mode", ["tag", "digest"])
def test_corpus_file(name: str, mode: str) -> None:
    text = (CORPUS / name).read_bytes().decode("utf-8")
    scanned = finder.scan(text)
    if scanned.skipped is not None:
        assert name in EXCLUDED, f"skipped without a written reason: {scanned.skipped.reason}"
        return
    found = scanned.found
    targets = new_values(found, mode)
    edits, changed = [], []
    for index, item in enumerate(found):
        try:
            planned = editor.plan(text, item, *targets[index])
        except EditRefused as refusal:
            assert any(reason in str(refusal) for reason in ALLOWED_REFUSALS), refusal
            continue
        for edit in planned:
            assert any(start <= edit.start and edit.end <= end for start, end in item.spans)
        edits += planned
        changed.append(ImageEdit(item).planned(*targets[index], planned))
    new_text = editor.apply_edits(text, edits)
    editor.verify(found, new_text, changed)  # raises if anything reads back wrong

    rescan = finder.scan(new_text)
    assert rescan.skipped is None
    assert len(rescan.found) == len(found)
    inserted = any(e.start == e.end for e in edits)
    edited = {c.found for c in changed}
    for index, (before, after) in enumerate(zip(found, rescan.found, strict=True)):
        assert (after.doc, after.kind, after.image) == (before.doc, before.kind, before.image)
        if not inserted:  # an added key line moves the lines below it
            assert after.line == before.line
        if before in edited:
            assert (after.tag, after.digest) == targets[index]
        else:
            assert (after.tag, after.digest) == (before.tag, before.digest)
    assert_changes_inside_spans(text, found, new_text, rescan.found)

    old_docs, new_docs = load(text), load(new_text)
    assert len(old_docs) == len(new_docs)
    edited_paths = {(s.doc, s.path): s.value for f in rescan.found for s in f.slots}
    written = {s.value for f in rescan.found for s in f.slots}
    for doc, (old, new) in enumerate(zip(old_docs, new_docs, strict=True)):
        leaves: list[tuple[Any, ...]] = []
        diff_leaves(old, new, (), leaves)
        for leaf in leaves:
            value = _at(new, leaf)
            if (doc, leaf) in edited_paths:
                assert value == edited_paths[(doc, leaf)]
            elif value in written:
                continue  # the same scalar seen through an alias
            else:  # YAML inside a block string (helm.values, ConfigMap x.yaml, a pod
                # template held as text), JSON in a quoted string: re-scanned
                assert isinstance(value, str) and leaf, (doc, leaf)
                named = leaf[-1] == "values" or str(leaf[-1]).endswith((".yaml", ".yml"))
                assert named or "ontainers:" in value or '"image"' in value, (doc, leaf)
                assert any(w in value for w in written if w), (doc, leaf)


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def test_corpus_chart_versions_edit_byte_exactly() -> None:
    """Every Helm chart version in the corpus set through ``set_chart`` (what the worker and
    ``bumper set-chart`` call): only the version's characters change, everything else parses
    the same, and the chart forms the corpus holds are all met."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"{CORPUS} is absent")
    kinds: collections.Counter[str] = collections.Counter()
    for param in corpus_files():
        text = (CORPUS / param.values[0]).read_bytes().decode("utf-8")
        found = [f for f in finder.scan(text).found if isinstance(f, ChartFound)]
        kinds.update(f.kind for f in found)
        new_text = text
        editable = [f for f in found if charteditor.editable(f)]  # not templated, no range
        for chart, repository in dict.fromkeys((f.chart, f.repository) for f in editable):
            new_text = charteditor.set_chart(new_text, chart, "99.1.0", repository=repository).text
        rescan = [f for f in finder.scan(new_text).found if isinstance(f, ChartFound)]
        assert [(f.kind, f.line, f.image) for f in rescan] == [
            (f.kind, f.line, f.image) for f in found
        ]
        assert [f.tag for f in rescan if charteditor.editable(f)] == ["99.1.0"] * len(editable)
        assert_changes_inside_spans(text, tuple(found), new_text, tuple(rescan))
        for old, new in zip(load(text), load(new_text), strict=True):
            leaves: list[tuple[Any, ...]] = []
            diff_leaves(old, new, (), leaves)
            assert all(_at(new, leaf) == "99.1.0" for leaf in leaves)
    # Measured: 8 HelmRelease versions, 2 Argo CD chart sources (one templated, one a range).
    assert kinds["flux-helmrelease-chart"] >= 8
    assert kinds["argocd-app-chart"] >= 2


def test_corpus_is_present_and_large(shared_dir: Path) -> None:
    assert len(corpus_files()) >= 300
    assert CORPUS.is_relative_to(shared_dir)
