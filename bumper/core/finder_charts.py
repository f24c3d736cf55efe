"""Find Helm chart version references: the second artifact kind beside images.

Location kinds (docs/editing.md, "Chart versions"):

* ``argocd-app-chart``: an Argo CD ``Application`` (or ``ApplicationSet`` template) whose
  ``spec.source`` or ``spec.sources[]`` names a ``chart``: its ``targetRevision``;
* ``flux-helmrelease-chart``: a Flux ``HelmRelease``'s ``spec.chart.spec.version`` (the
  repository from a ``HelmRepository`` of the same file when its ``sourceRef`` names one), and
  the older ``helm.fluxcd.io`` ``spec.chart.{repository,name,version}``;
* ``flux-ocirepository``: a Flux ``OCIRepository``'s ``spec.ref.tag`` (``ref.semver`` is a
  range, reported and never edited);
* ``chart-dependency``: ``Chart.yaml`` ``dependencies[].version``;
* ``helmfile-release``: helmfile ``releases[].version`` (``chart: repo/name`` resolved through
  the file's ``repositories``).

Each is a :class:`ChartFound`, a :class:`Found` whose ``image`` is the chart's key
(``bumper.core.charts.key``) and whose ``tag_slot`` holds the version, so the one byte-exact
editor writes it. A version range is reported with a note and never edited (``range``).
Must not: read files or follow a repository a file names. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

from bumper.core import charts, placeholders
from bumper.core.finder_values import fields_of, scalar_value
from bumper.core.walk import DocumentWalk, Found, PathKey

Path = tuple[PathKey, ...]
RANGE_NOTE = "a version range (Flux or Helm resolves it): never edited"
ARGO_GROUP = "argoproj.io/"
FLUX_HELM = ("helm.toolkit.fluxcd.io/",)
FLUX_V1_HELM = ("helm.fluxcd.io/", "flux.weave.works/")
FLUX_SOURCE = "source.toolkit.fluxcd.io/"


@dataclasses.dataclass(frozen=True, slots=True)
class ChartFound(Found):
    """A chart version reference: ``chart`` in ``repository`` (None: the file does not say)
    at version ``tag``. ``range``: the version is a range, never edited."""

    artifact: ClassVar[str] = "chart"
    chart: str = ""
    repository: str | None = None
    range: bool = False

    @property
    def version(self) -> str | None:
        return self.tag


def find(contexts: list[DocumentWalk]) -> list[Found]:
    """Every chart version reference in the documents of one file."""
    sources = _flux_sources(contexts)
    repos = _helmfile_repositories(contexts)
    found: list[Found] = []
    for ctx in contexts:
        for kind, node, path, chart, repository in _locations(ctx, sources, repos):
            item = _found(ctx, kind, node, path, chart, repository)
            if item is not None:
                found.append(item)
    return found


Location = tuple[str, Any, Path, str, str | None]


def _locations(
    ctx: DocumentWalk, sources: dict[str, tuple[str, str]], repos: dict[str, str]
) -> Iterator[Location]:
    root = ctx.root
    if root is None or root.id != "mapping":
        return
    fields = fields_of(root)
    api, kind = ctx.api_version, ctx.kind
    if api.startswith(ARGO_GROUP) and kind in ("Application", "ApplicationSet"):
        yield from _argocd(fields, kind)
    elif api.startswith(FLUX_HELM) and kind == "HelmRelease":
        yield from _helmrelease(fields, sources)
    elif api.startswith(FLUX_V1_HELM) and kind == "HelmRelease":
        yield from _helmrelease_v1(fields)
    elif api.startswith(FLUX_SOURCE) and kind == "OCIRepository":
        yield from _ocirepository(fields)
    elif not kind and api in ("v1", "v2") and "dependencies" in fields:
        yield from _chart_dependencies(fields)
    elif not kind and "releases" in fields:
        yield from _helmfile(fields, repos)


def _mapping(node: Any) -> dict[str, Any] | None:
    return fields_of(node) if node is not None and node.id == "mapping" else None


def _items(node: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if node is None or node.id != "sequence":
        return
    for index, item in enumerate(node.value):
        if item.id == "mapping":
            yield index, fields_of(item)


def _argocd(fields: dict[str, Any], kind: str) -> Iterator[Location]:
    spec = _mapping(fields.get("spec"))
    base: Path = ("spec",)
    if kind == "ApplicationSet":  # the Application template it stamps out
        template = _mapping(spec.get("template")) if spec else None
        spec, base = (
            (_mapping(template.get("spec")) if template else None),
            base + ("template", "spec"),
        )
    if spec is None:
        return
    source = _mapping(spec.get("source"))
    if source is not None:
        yield from _argocd_source(source, (*base, "source"))
    for index, item in _items(spec.get("sources")):
        yield from _argocd_source(item, (*base, "sources", index))


def _argocd_source(source: dict[str, Any], path: Path) -> Iterator[Location]:
    chart, url = scalar_value(source.get("chart")), scalar_value(source.get("repoURL"))
    if not chart or "targetRevision" not in source:
        return
    repository = charts.normalize_repository(url) if url else None
    yield "argocd-app-chart", source["targetRevision"], (*path, "targetRevision"), chart, repository


def _helmrelease(fields: dict[str, Any], sources: dict[str, tuple[str, str]]) -> Iterator[Location]:
    spec = _mapping(fields.get("spec"))
    chart = _mapping(spec.get("chart")) if spec else None
    inner = _mapping(chart.get("spec")) if chart else None
    if inner is None or "version" not in inner:
        return
    name = scalar_value(inner.get("chart"))
    ref = _mapping(inner.get("sourceRef")) or {}
    source_kind = scalar_value(ref.get("kind")) or "HelmRepository"
    if not name or source_kind != "HelmRepository":
        return  # a chart from a GitRepository or Bucket is a path: its version is not used
    url = sources.get(scalar_value(ref.get("name")), ("", ""))[1]
    path = ("spec", "chart", "spec", "version")
    yield "flux-helmrelease-chart", inner["version"], path, name, url or None


def _helmrelease_v1(fields: dict[str, Any]) -> Iterator[Location]:
    spec = _mapping(fields.get("spec"))
    chart = _mapping(spec.get("chart")) if spec else None
    if chart is None or "version" not in chart or not scalar_value(chart.get("name")):
        return
    url = scalar_value(chart.get("repository"))
    repository = charts.normalize_repository(url) if url else None
    name = scalar_value(chart.get("name"))
    yield "flux-helmrelease-chart", chart["version"], ("spec", "chart", "version"), name, repository


def _ocirepository(fields: dict[str, Any]) -> Iterator[Location]:
    spec = _mapping(fields.get("spec"))
    ref = _mapping(spec.get("ref")) if spec else None
    url = scalar_value(spec.get("url")) if spec else ""
    if ref is None or not url.startswith(charts.OCI):
        return
    repository, name = charts.split_oci(url)
    for field in ("tag", "semver"):
        if field in ref:
            yield "flux-ocirepository", ref[field], ("spec", "ref", field), name, repository


def _chart_dependencies(fields: dict[str, Any]) -> Iterator[Location]:
    if not scalar_value(fields.get("name")):
        return
    for index, item in _items(fields.get("dependencies")):
        name, url = scalar_value(item.get("name")), scalar_value(item.get("repository"))
        if not name or "version" not in item or url.startswith("file://"):
            continue
        known = "://" in url  # "@alias" and "alias:" name a repository added by hand
        repository = charts.normalize_repository(url) if known else None
        yield (
            "chart-dependency",
            item["version"],
            ("dependencies", index, "version"),
            name,
            repository,
        )


def _helmfile(fields: dict[str, Any], repos: dict[str, str]) -> Iterator[Location]:
    for index, item in _items(fields.get("releases")):
        chart = scalar_value(item.get("chart"))
        if "version" not in item or not chart or chart.startswith((".", "/")):
            continue
        repository: str | None
        if chart.startswith(charts.OCI):
            repository, name = charts.split_oci(chart)
        elif "/" in chart:
            alias, _, name = chart.partition("/")
            repository = repos.get(alias)
        else:
            continue  # a local directory
        yield "helmfile-release", item["version"], ("releases", index, "version"), name, repository


def _flux_sources(contexts: list[DocumentWalk]) -> dict[str, tuple[str, str]]:
    """The file's Flux ``HelmRepository`` objects: name → (kind, normalised URL)."""
    sources: dict[str, tuple[str, str]] = {}
    for ctx in contexts:
        if not ctx.api_version.startswith(FLUX_SOURCE) or ctx.kind != "HelmRepository":
            continue
        fields = fields_of(ctx.root)
        meta, spec = _mapping(fields.get("metadata")), _mapping(fields.get("spec"))
        name = scalar_value(meta.get("name")) if meta else ""
        url = scalar_value(spec.get("url")) if spec else ""
        if name and url and not placeholders.is_templated(url):
            oci = spec is not None and scalar_value(spec.get("type")) == "oci"
            sources[name] = (ctx.kind, charts.normalize_repository(url, oci=oci))
    return sources


def _helmfile_repositories(contexts: list[DocumentWalk]) -> dict[str, str]:
    """helmfile ``repositories``: name → normalised URL (``oci: true`` marks OCI ones)."""
    repos: dict[str, str] = {}
    for ctx in contexts:
        if ctx.kind or ctx.root is None or ctx.root.id != "mapping":
            continue
        for _, item in _items(fields_of(ctx.root).get("repositories")):
            name, url = scalar_value(item.get("name")), scalar_value(item.get("url"))
            if name and url and not placeholders.is_templated(url):
                oci = scalar_value(item.get("oci")) == "true"
                repos[name] = charts.normalize_repository(url, oci=oci)
    return repos


def _found(
    ctx: DocumentWalk, kind: str, node: Any, path: Path, chart: str, repository: str | None
) -> ChartFound | None:
    slot = ctx.slot(node, path)
    if slot is None:
        return None
    version = "" if slot.is_null else slot.value
    templated = placeholders.is_templated(version) or placeholders.is_templated(chart)
    ranged = not templated and not charts.is_exact(version)
    return ChartFound(
        image=charts.key(repository, chart),
        tag=version or None,
        digest=None,
        kind=kind,
        line=slot.line,
        tag_slot=slot,
        templated=templated,
        note=RANGE_NOTE if ranged else "",
        chart=chart,
        repository=repository,
        range=ranged,
    )
