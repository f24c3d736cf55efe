"""``bumper set-chart PATH... --chart NAME --version V [--repository URL] [--dry-run]``.

Rewrites every version reference to the Helm chart NAME (an Argo CD Application's
``targetRevision``, a Flux HelmRelease's ``spec.chart.spec.version``, an OCIRepository's
``ref.tag``, ``Chart.yaml`` dependencies, helmfile releases: docs/editing.md, "Chart
versions") in place, changing only the version's characters. NAME is a chart name or a whole
OCI URL (``oci://ghcr.io/acme/charts/podinfo``); ``--repository`` narrows to references in
that repository (references whose file does not say their repository still match).
Exit codes as ``set-image``: 0 done (also when already current), 1 no reference found, 2 on
any error (nothing is written then), 3 no reference in the files read but some files could
not be read.
"""

from __future__ import annotations

import argparse

from bumper import edittree
from bumper.cli import _paths, _treeedit
from bumper.core import charts
from bumper.core.yaml import charteditor

EXAMPLES = """\
bumper set-chart examples/charts --chart podinfo --version 6.5.1 --dry-run
bumper set-chart clusters/prod --chart oci://ghcr.io/acme/charts/api --version 2.0.0
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("set-chart", help="set a Helm chart's version in YAML files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--chart", required=True, help="chart name, or oci://host/path/name")
    parser.add_argument("--version", required=True, help="the chart version to write")
    parser.add_argument("--repository", help="only references in this chart repository")
    parser.add_argument("--dry-run", action="store_true", help="print a diff, write nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    name, _ = charteditor.chart_identity(args.chart, args.repository)
    charts.validate_version(args.version)
    edits: list[_treeedit.Planned] = []
    for arg in args.paths:
        root, selection, prefix = _paths.split(arg)
        found = edittree.scan_chart(root, [selection], args.chart, args.repository)
        result = edittree.plan_chart_tree(found, args.version)
        edits.append((root, prefix, result))
        _treeedit.report_skipped(prefix, result)
    return _treeedit.finish(edits, f"chart {name}", args.dry_run)
