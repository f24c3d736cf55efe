"""``python -m tests.chaos [scenario ...]`` (``make chaos``): run the chaos scenarios on real
processes, print the table, and end with the one summary line; exit 1 when an invariant broke.

The last line is exactly ``chaos: <N> scenarios, <A> accepted, <B> bumped, <L> lost,
<D> duplicates, <E> 5xx``. Logs of a failed scenario stay under its work directory, which is
printed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.chaos.harness import Result
from tests.chaos.scenarios import SCENARIOS

HEADER = ("scenario", "accepted", "expected", "bumped", "duplicates", "lost", "5xx", "503", "s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], metavar="SCENARIO")
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    root = Path(tempfile.mkdtemp(prefix="bumper-chaos-"))
    rows: list[tuple[Result, float]] = []
    for name in names:
        workdir = root / name
        workdir.mkdir()
        started = time.monotonic()
        print(f"chaos: {name} ...", flush=True)
        try:
            result = SCENARIOS[name](workdir)
        except Exception as error:  # noqa: BLE001 - a crashed scenario is a failed row
            traceback.print_exc()
            result = Result(name, problems=[f"scenario crashed: {type(error).__name__}"])
        rows.append((result, time.monotonic() - started))
        for problem in result.problems:
            print(f"chaos: {name}: {problem} (logs under {workdir})", flush=True)
    print_table(rows)
    failed = [r.scenario for r, _ in rows if not r.ok]
    if not failed:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"chaos: failed: {', '.join(failed)}; logs under {root}")
    total = [r for r, _ in rows]
    print(
        f"chaos: {len(total)} scenarios, {sum(r.accepted for r in total)} accepted, "
        f"{sum(r.bumped for r in total)} bumped, {sum(r.lost for r in total)} lost, "
        f"{sum(r.duplicates for r in total)} duplicates, {sum(r.errors_5xx for r in total)} 5xx"
    )
    return 1 if failed else 0


def print_table(rows: list[tuple[Result, float]]) -> None:
    lines = [HEADER] + [
        (
            r.scenario,
            str(r.accepted),
            str(r.expected),
            str(r.bumped),
            str(r.duplicates),
            str(r.lost),
            str(r.errors_5xx),
            str(r.refused_503),
            f"{seconds:.0f}",
        )
        for r, seconds in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    for line in lines:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |")


if __name__ == "__main__":
    sys.exit(main())
