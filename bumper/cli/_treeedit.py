"""Shared by ``set-image`` and ``set-chart``: report a tree edit's skipped files, then write
it (or print its diff) and list the changes, with the commands' common exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

from bumper import edittree
from bumper.cli import _paths

Planned = tuple[Path, str, edittree.TreeEdit]  # (root, label prefix, the planned edit)


def report_skipped(prefix: str, result: edittree.TreeEdit) -> None:
    """One stderr line per file that was skipped or could not be read."""
    reported = {rel for rel, _ in result.skipped}
    for rel, reason in result.skipped:
        print(f"bumper: skipped {_paths.label(prefix, rel)}: {reason}", file=sys.stderr)
    for rel, reason in result.unreadable:
        if rel not in reported:  # the reason names the file already
            print(f"bumper: skipped {_paths.label(prefix, reason)}", file=sys.stderr)


def finish(edits: list[Planned], wanted: str, dry_run: bool) -> int:
    """Write the edits (or print their diff); 0 done, 1 nothing found, 3 nothing found in the
    files read while some could not be read. ``wanted`` names what was looked for."""
    if sum(result.matched for _, _, result in edits) == 0:
        if any(result.unreadable for _, _, result in edits):
            print(f"bumper: no reference to {wanted} in the files read", file=sys.stderr)
            return 3
        print(f"bumper: no reference to {wanted} found", file=sys.stderr)
        return 1
    for root, prefix, result in edits:
        for file_edit in result.edited:
            if dry_run:
                sys.stdout.write(file_edit.diff(_paths.label(prefix, file_edit.path)))
            else:
                edittree.write_text(root / file_edit.path, file_edit.after)
        for staged in result.staged:  # large files, edited group by group
            if dry_run:
                staged.write_diff(_paths.label(prefix, staged.path), sys.stdout)
            else:
                edittree.commit_staged(root, staged)
    if not dry_run:
        for _, prefix, result in edits:
            for change in result.change_list:
                where = _paths.label(prefix, change.path)
                print(f"{where}:{change.line}\t{change.kind}\t{change.old} -> {change.new}")
    return 0
