"""Byte-exact edits of Helm chart versions: the chart counterpart of :mod:`editor`.

``set_chart(text, chart, version, repository=...)`` makes every version reference to
``chart`` (``bumper.core.finder_charts``) read ``version``. It is ``scan_chart`` (stage
*found*) then ``edit_chart_file`` (*planned*, then *applied*), on the records of
:mod:`bumper.core.edits`, planned, applied and verified by :mod:`editor`'s functions: one
editing mechanism for images and charts, so the quote style is kept, a plain value that
would read as a number is quoted, and after editing the text is scanned again (every edited
reference reads the new version in the same place, every other reference, image or chart,
is unchanged) or :class:`EditRefused` is raised.

``chart`` is a chart name (``podinfo``) or a whole OCI chart URL
(``oci://ghcr.io/acme/charts/podinfo``, which gives the repository). A reference matches
when its chart name is ``chart``'s and its repository is the one given, or is not written in
its file (a Flux ``sourceRef`` to a ``HelmRepository`` in another file). Templated versions
and version ranges are never edited. Pure: no I/O.
"""

from __future__ import annotations

from bumper.core import charts, finder
from bumper.core.edits import FileEdit, ImageEdit
from bumper.core.finder_charts import ChartFound
from bumper.core.walk import Found
from bumper.core.yaml import editor
from bumper.errors import InvalidReference


def chart_identity(chart: str, repository: str | None = None) -> tuple[str, str | None]:
    """(name, normalised repository or None) from ``--chart`` / ``--repository`` values."""
    if chart.startswith(charts.OCI):
        base, name = charts.split_oci(chart)
        if repository is not None and charts.normalize_repository(repository) != base:
            raise InvalidReference(f"{chart} is not in repository {repository}")
        return charts.validate_name(name), base
    repo = charts.normalize_repository(repository) if repository else None
    return charts.validate_name(chart), repo


def matches(found: Found, name: str, repository: str | None) -> bool:
    """Whether ``found`` is a version reference to chart ``name`` in ``repository``."""
    if not isinstance(found, ChartFound) or found.chart != name:
        return False
    return repository is None or found.repository is None or found.repository == repository


def editable(found: Found) -> bool:
    return isinstance(found, ChartFound) and not found.templated and not found.range


def scan_chart(text: str, chart: str, repository: str | None = None, path: str = "") -> FileEdit:
    """The editable references to ``chart`` in ``text`` (stage *found*)."""
    name, repo = chart_identity(chart, repository)
    scanned = finder.scan(text)
    mine = tuple(
        ImageEdit(f, path) for f in scanned.found if matches(f, name, repo) and editable(f)
    )
    return FileEdit(path, text, text, scanned.found, mine, scanned.skipped)


def edit_chart_file(file: FileEdit, version: str) -> FileEdit:
    """``file`` with every chart reference planned to ``version``, applied and read back."""
    charts.validate_version(version)
    text = file.before
    planned = [editor.plan_reference(text, ref, version, None) for ref in file.references]
    changed = [ref for ref in planned if ref.rewrites]
    if not changed:
        return file
    new_text = editor.apply_edits(text, [e for ref in changed for e in ref.edits])
    editor.verify(file.scanned, new_text, changed)
    applied = tuple(ref.applied() for ref in planned)
    return FileEdit(file.path, text, new_text, file.scanned, applied, file.skipped)


def set_chart(text: str, chart: str, version: str, *, repository: str | None = None) -> FileEdit:
    """Set ``version`` on every reference to ``chart`` in ``text``."""
    return edit_chart_file(scan_chart(text, chart, repository), version)
