"""``bumper scan PATH... [--json]``: list every image reference in YAML files.

Directories recurse into ``*.yaml`` and ``*.yml``. ``--json`` prints one JSON array of
``{"file", "line", "kind", "image", "tag", "digest"}`` (``line`` 1-based, where the reference
or its tag is written; ``image`` normalised; ``tag``/``digest`` null when absent). Skipped
files are reported on stderr. Exit 0, or 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bumper import edittree
from bumper.cli import _paths

EXAMPLES = """\
bumper scan examples/quickstart/config-repo
bumper scan --json apps/
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("scan", help="list image references in YAML files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for arg in args.paths:
        root, selection, prefix = _paths.split(arg)
        located, skipped = edittree.scan_tree(root, [selection])
        for item in located:
            found = item.found
            rows.append(
                {
                    "file": _paths.label(prefix, item.path),
                    "line": found.line,
                    "kind": found.kind,
                    "image": found.image,
                    "tag": found.tag,
                    "digest": found.digest,
                }
            )
        for rel, reason in skipped:
            print(f"bumper: skipped {_paths.label(prefix, rel)}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            ref = row["image"] + (f":{row['tag']}" if row["tag"] else "")
            ref += f"@{row['digest']}" if row["digest"] else ""
            print(f"{row['file']}:{row['line']}\t{row['kind']}\t{ref}")
    return 0
