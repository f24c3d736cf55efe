"""``bumper set-image PATH... --image IMAGE [--tag TAG] [--digest DIGEST] [--dry-run]``.

Rewrites every reference to IMAGE (matched after normalisation) in place, changing only the
tag and digest characters. ``--dry-run`` prints a unified diff and writes nothing.
Exit 0 when done (also when already current), 1 when no reference to IMAGE was found,
2 on any error (nothing is written then), 3 when no reference was found in the files read
but some files could not be read (over a limit, not UTF-8, not a regular file). Files that
could not be read are named on stderr, one line each; the others are still edited.
"""

from __future__ import annotations

import argparse

from bumper import edittree
from bumper.cli import _paths, _treeedit
from bumper.core import refs
from bumper.errors import InvalidReference

EXAMPLES = """\
bumper set-image examples/quickstart/config-repo \\
  --image registry.example.com/quickstart/hello --tag 1.2.3 --dry-run
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("set-image", help="set an image's tag/digest in YAML files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--image", required=True, help="image name, e.g. ghcr.io/acme/api")
    parser.add_argument("--tag", help="new tag")
    parser.add_argument("--digest", help="new digest, algorithm:hex")
    parser.add_argument("--dry-run", action="store_true", help="print a diff, write nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.tag is None and args.digest is None:
        raise InvalidReference("give --tag, --digest or both")
    refs.parse_name(args.image)
    edits: list[_treeedit.Planned] = []
    try:
        for arg in args.paths:
            root, selection, prefix = _paths.split(arg)
            result = edittree.stage_tree(
                root, [selection], args.image, tag=args.tag, digest=args.digest, diff=args.dry_run
            )
            edits.append((root, prefix, result))
            _treeedit.report_skipped(prefix, result)
        return _treeedit.finish(edits, refs.normalize_name(args.image), args.dry_run)
    finally:  # a large file's staged edit not written (a refusal, a dry run) leaves nothing
        edittree.discard_staged(*(result for _, _, result in edits))
