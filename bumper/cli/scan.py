"""``bumper scan PATH... [--json]``: list every image reference in YAML files.

Directories recurse into ``*.yaml`` and ``*.yml``. ``--json`` prints one JSON array of
``{"file", "line", "artifact", "kind", "confidence", "image", "tag", "digest", "templated",
"uses", "invalid", "note"}`` for images and, for Helm chart versions (``"artifact":
"chart"``), ``chart``, ``repository`` and ``version`` in place of ``image``, ``tag`` and
``digest`` (docs/editing.md describes each key). Skipped files and warnings (a duplicate key)
are reported on stderr, one line each; one bad file never stops the others.

Exit 0 when references were listed, 1 when no file holds one, 2 on an error (bad
arguments, a missing path: nothing scanned), 3 when some files could not be read (over a
limit, not UTF-8, not a regular file, out of memory): the others were scanned and listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bumper import edittree
from bumper.cli import _paths
from bumper.core import finder_charts
from bumper.core.edits import ImageEdit

EXIT_FOUND, EXIT_NOTHING, EXIT_UNREADABLE = 0, 1, 3

EXAMPLES = """\
bumper scan examples/quickstart/config-repo
bumper scan --json examples/quickstart/config-repo/apps
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list image and chart references in YAML files",
        description="List every image and Helm chart reference in YAML files. Exit 0 found, "
        "1 none found, 2 error, 3 some files could not be read (the others were scanned).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print each reference as soon as its group of documents is scanned: a 50 MB manifest's
    hundreds of thousands of references are never all held at once."""
    listed = unreadable = 0
    out = _JsonArray() if args.json else None
    for arg in args.paths:
        root, selection, prefix = _paths.split(arg)
        skipped: list[tuple[str, str]] = []  # a few lines: reported after the path's rows
        warnings: list[tuple[str, str]] = []
        for part in edittree.scan_tree_stream(root, [selection]):
            for item in part.references:
                row = _row(_paths.label(prefix, item.path), item)
                if out is not None:
                    out.write(row)
                else:
                    print(_text_line(row))
                listed += 1
            skipped += part.skipped
            warnings += part.warnings
            unreadable += len(part.unreadable)
        for rel, reason in sorted(skipped):
            print(f"bumper: skipped {_paths.label(prefix, rel)}: {reason}", file=sys.stderr)
        for rel, warning in warnings:
            print(f"bumper: warning: {_paths.label(prefix, rel)}: {warning}", file=sys.stderr)
    if out is not None:
        out.close()
    if unreadable:
        return EXIT_UNREADABLE
    return EXIT_FOUND if listed else EXIT_NOTHING


class _JsonArray:
    """Rows printed one by one as the JSON array ``json.dumps(rows, indent=2)`` would be."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        item = json.dumps(row, indent=2).replace("\n", "\n  ")
        sys.stdout.write(("[\n  " if self.count == 0 else ",\n  ") + item)
        self.count += 1

    def close(self) -> None:
        sys.stdout.write("\n]\n" if self.count else "[]\n")


def _row(file: str, item: ImageEdit) -> dict[str, Any]:
    found = item.found
    if isinstance(found, finder_charts.ChartFound):
        return _chart_row(file, found)
    return {
        "file": file,
        "line": found.line,
        "artifact": "image",
        "kind": found.kind,
        "confidence": found.confidence,
        "image": found.image,
        "tag": found.tag,
        "digest": found.digest,
        "templated": found.templated,
        "uses": found.uses,
        "invalid": found.invalid,
        "note": found.note or None,
    }


def _chart_row(file: str, found: finder_charts.ChartFound) -> dict[str, Any]:
    return {
        "file": file,
        "line": found.line,
        "artifact": "chart",
        "kind": found.kind,
        "confidence": found.confidence,
        "chart": found.chart,
        "repository": found.repository,
        "version": found.version,
        "templated": found.templated,
        "uses": found.uses,
        "note": found.note or None,
    }


def _text_line(row: dict[str, Any]) -> str:
    if row["artifact"] == "chart":
        where = f"{row['repository']}/" if row["repository"] else ""
        ref = f"chart {where}{row['chart']}" + (f" {row['version']}" if row["version"] else "")
    else:
        ref = row["image"] + (f":{row['tag']}" if row["tag"] else "")
        ref += f"@{row['digest']}" if row["digest"] else ""
    extras = []
    if row["confidence"] != "known":
        extras.append(f"[{row['confidence']}]")
    if row["templated"]:
        extras.append("[templated: never edited]")
    if row["invalid"]:
        extras.append("[invalid: never edited]")
    if row["uses"] > 1:
        extras.append(f"[anchor: {row['uses']} uses follow]")
    if row["note"]:
        extras.append(f"({row['note']})")
    tail = "\t" + " ".join(extras) if extras else ""
    return f"{row['file']}:{row['line']}\t{row['kind']}\t{ref}{tail}"
