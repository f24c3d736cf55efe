"""A bump PR's "Effect in the cluster" section: the affected kustomize overlay, helm release or
manifest file rendered before and after the change, with the agent's renderer
(``bumper.agent.render``: its parse limits, its refusal of remote sources and links leaving
the repository, its network-less tool environment), within one time budget.

Which render a changed file affects (``unit_of``), walking up from the file's directory to the
repository root, the nearest directory that holds

- a ``kustomization.yaml`` (or ``.yml``, ``Kustomization``): that kustomization is built;
- a ``Chart.yaml``: that chart is templated (release name: the chart directory's name), with the
  changed file as a values file on top of the chart's ``values.yaml`` when the file is one
  (not ``values.yaml``, ``Chart.yaml``, nor under ``templates/`` or ``charts/``);

and with neither, the file itself is rendered as plain manifests. At most ``MAX_UNITS`` renders
per PR; the section names the rest.

The section (a ``bumper.core.prbody.Section``) holds, per render, a table of the workloads and
containers whose image changes (old → new), then a collapsed (``<details>``) unified diff of
the rendered objects that change, all diffs together within ``DIFF_CHARS`` characters (a note
says what was cut). A render that fails (a remote base, a helm dependency to fetch, a missing
tool, the time budget) puts "not rendered: <reason>" in the section instead; nothing here ever
fails the bump.
Must not: write to the checkout, fetch anything, or compose the rest of the PR body
(``bumper.core.changes`` does).
"""

from __future__ import annotations

import logging
import re
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bumper import gitrepo
from bumper.agent import remote, render, untar
from bumper.agent.manifests import Obj
from bumper.core import changes, prbody
from bumper.errors import RenderError
from bumper.settings import WorkerSettings
from worker import renderdiff

log = logging.getLogger("bumper.worker")

TITLE = "Effect in the cluster"
MAX_UNITS = 4
DIFF_CHARS = 20_000
MAX_ROWS = 50
_NOT_VALUES = frozenset({"Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json"})
_YAML = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Tools:
    """The renderers the worker runs, and the time all renders of one PR may take."""

    helm_bin: str = "helm"
    kustomize_bin: str | None = None
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> Tools:
        return cls(settings.helm_bin, settings.kustomize_bin, settings.render_timeout_seconds)


@dataclass(frozen=True)
class Unit:
    """One render a change affects: a kustomization, a chart (with a values file) or a file."""

    mode: render.Mode
    path: str  # relative to the repository root
    values: str | None = None

    def describe(self) -> str:
        where = "the repository root" if self.path == "." else _code(self.path)
        if self.mode == "kustomize":
            return f"kustomize build of {where}"
        if self.mode == "helm":
            values = f" with {_code(self.values)}" if self.values else ""
            return f"helm release of the chart {where}{values}"
        return f"manifests of {where}"

    def spec(self, tools: Tools, timeout: float) -> render.RenderSpec:
        name = PurePosixPath(self.path).name
        release = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:53] or "release"
        return render.RenderSpec(
            mode=self.mode,
            paths=(self.path,),
            helm_release=release,
            helm_values=(self.values,) if self.values else (),
            helm_bin=tools.helm_bin,
            kustomize_bin=tools.kustomize_bin,
            timeout=timeout,
        )

    def inputs(self) -> tuple[str, ...]:
        return (self.path, self.values) if self.values else (self.path,)


def unit_of(root: Path, file: str) -> Unit:
    """The render ``file`` (relative to ``root``) belongs to: see the module docstring."""
    rel = PurePosixPath(file)
    if rel.is_absolute() or ".." in rel.parts:
        return Unit("plain", file)  # the renderer refuses it, with its reason
    for parent in rel.parents:
        where = root / parent
        if any((where / name).is_file() for name in remote.KUSTOMIZATION_NAMES):
            return Unit("kustomize", parent.as_posix())
        if (where / "Chart.yaml").is_file():
            return Unit("helm", parent.as_posix(), _values_file(parent, rel))
    return Unit("plain", rel.as_posix())


def _values_file(chart: PurePosixPath, file: PurePosixPath) -> str | None:
    inside = file.relative_to(chart)
    if inside.parts[0] in ("templates", "charts") or inside.name in _NOT_VALUES:
        return None
    return file.as_posix() if file.suffix in _YAML else None


def affected(root: Path, files: Sequence[str]) -> list[Unit]:
    """The renders ``files`` affect, each once, in the order of the files."""
    return list(dict.fromkeys(unit_of(root, file) for file in files))


# -- the section -----------------------------------------------------------------------------


def effect_section(
    checkout: gitrepo.Checkout, files: Sequence[str], tools: Tools
) -> prbody.Section:
    """The section for the checkout's HEAD (the bump commit) against its parent. Never raises:
    whatever goes wrong is the section's text."""
    try:
        with tempfile.TemporaryDirectory(prefix="effect-", dir=checkout.root.parent) as scratch:
            before, after = Path(scratch) / "before", Path(scratch) / "after"
            export(checkout, "HEAD^", before)
            export(checkout, "HEAD", after)
            return compare(before, after, files, tools)
    except Exception as error:  # a review aid must never fail the bump
        log.warning("effect in the cluster not rendered: %s", error, exc_info=True)
        reason = _reason(error, (checkout.root.parent,))
        return prbody.Section(f"Not rendered: {reason}.\n", TITLE)


def export(checkout: gitrepo.Checkout, rev: str, dest: Path) -> None:
    """The tree of ``rev`` in a fresh ``dest``, unpacked as the agent unpacks a commit (links
    leaving the tree left out)."""
    archive = dest.with_suffix(".tar")
    checkout.run("archive", "--format=tar", "-o", str(archive), rev)
    dest.mkdir()
    with tarfile.open(archive) as tar:
        untar.extract(tar, str(dest), None)
    archive.unlink()


def compare(before: Path, after: Path, files: Sequence[str], tools: Tools) -> prbody.Section:
    """The section for two trees and the files the change edited (relative paths)."""
    units = affected(after, files)
    deadline = time.monotonic() + tools.timeout
    budget = DIFF_CHARS
    blocks: list[str] = []
    for unit in units[:MAX_UNITS]:
        try:
            old, new = _render_pair(unit, before, after, tools, deadline)
        except RenderError as error:
            reason = _reason(error, (before, after))
            blocks.append(f"**{unit.describe()}**: not rendered: {reason}.\n")
            continue
        block, used = _block(unit, old, new, budget)
        blocks.append(block)
        budget -= used
    if len(units) > MAX_UNITS:
        blocks.append(f"{len(units) - MAX_UNITS} more renders not shown (at most {MAX_UNITS}).\n")
    if not blocks:
        blocks.append("No file changed.\n")
    return prbody.Section("\n".join(blocks), TITLE)


def _render_pair(
    unit: Unit, before: Path, after: Path, tools: Tools, deadline: float
) -> tuple[list[Obj], list[Obj]]:
    """The unit rendered in both trees; a unit new in ``after`` renders as nothing before."""
    found: list[list[Obj]] = []
    for side, root in (("before", before), ("after", after)):
        if not all((root / path).exists() for path in unit.inputs()):
            found.append([])
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise RenderError(f"out of time: all renders of a PR get {tools.timeout:g}s")
        try:
            found.append(list(render.render(root, unit.spec(tools, left))))
        except RenderError as error:
            raise RenderError(f"{side} the change: {error}") from error
    return found[0], found[1]


def _block(unit: Unit, old: list[Obj], new: list[Obj], budget: int) -> tuple[str, int]:
    """One render's summary table and collapsed diff, and the diff characters it used."""
    moved = renderdiff.image_changes(old, new)
    diff = renderdiff.diff(old, new, max(budget, 0))
    if not diff.changed:
        return f"**{unit.describe()}**: renders the same before and after.\n", 0
    count = f"{len(moved)} container{'s' if len(moved) != 1 else ''}"
    lines = [f"**{unit.describe()}**: {count} change image.", ""]
    if moved:
        lines += _table(moved)
    objects = f"{diff.changed} object{'s' if diff.changed != 1 else ''} changed"
    lines += ["", f"<details><summary>Rendered diff: {objects}</summary>", ""]
    if diff.text:
        fence = "`" * max(3, _longest_backticks(diff.text) + 1)
        lines += [f"{fence}diff", diff.text.rstrip("\n"), fence]
    if diff.truncated:
        lines += ["", f"_Diff cut at {DIFF_CHARS:,} characters: {diff.shown} of {objects} shown._"]
    lines += ["", "</details>", ""]
    return "\n".join(lines), len(diff.text)


def _table(moved: list[renderdiff.ImageChange]) -> list[str]:
    rows = ["| workload | container | image |", "| --- | --- | --- |"]
    for change in moved[:MAX_ROWS]:
        key = change.workload
        workload = f"{key.kind} {key.namespace + '/' if key.namespace else ''}{key.name}"
        container = _code(change.container) + (" (init)" if change.init else "")
        image = f"{_image(change.old)} → {_image(change.new)}"
        rows.append(f"| {_code(workload)} | {container} | {image} |")
    if len(moved) > MAX_ROWS:
        rows.append(f"| … and {len(moved) - MAX_ROWS} more | | |")
    return rows


def _image(ref: str | None) -> str:
    return _code(ref) if ref else "none"


def _code(text: str) -> str:
    """Repository text as an inline code span in a table cell: one line, bounded, no backtick
    or pipe to break out of it."""
    return "`" + changes.inline(text, 200).replace("`", "'").replace("|", "\\|") + "`"


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _reason(error: BaseException, roots: Sequence[Path]) -> str:
    """The error's one line, without the worker's own paths (scratch directories)."""
    text = str(error) or type(error).__name__
    for root in roots:
        for form in {str(root), str(root.resolve())}:
            text = text.replace(form + "/", "").replace(form, ".")
    return changes.inline(text, 500).rstrip(".")
