"""``bench/out/summary.json``: each bench's headline figures, for tools that should not parse
tables (issue 18 item 5). Git-ignored: figures are the run's, not the repository's.

Each bench calls ``record(key, value, met=...)`` for its figures; ``make bench`` first runs
``python -m bench.summary --reset``, which writes every known key as not measured
(``value: null, met: false`` and a note), so a figure no bench reached in the run stays
visibly missing instead of stale. Each entry is ``{"value": <number|null>, "target": "<text>",
"met": <bool>}``, plus ``"note"`` when there is something to say.

Must not: measure or print anything but its own ``--reset`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "summary.json"
NOT_MEASURED = "not measured in this run"

# key -> target, as text; the keys tools may rely on (more may be recorded)
TARGETS = {
    "webhook_to_pr_p50_ratio": "<= 1.2 x a hand-written script, same run (bench/e2e_latency.py)",
    "webhook_to_pr_p99_ratio": "<= 1.5 x a hand-written script, same run (bench/e2e_latency.py)",
    "webhook_to_pr_features_p50_ratio": (
        "report: webhook -> PR p50 with verify: on / the hand-written script's p50, same run "
        "(bench/e2e_latency.py)"
    ),
    "agent_initial_sync_ratio": (
        "<= 0.5 x kubectl apply --server-side, median of interleaved rounds, same run "
        "(bench/agent.py)"
    ),
    "ingest_ratio": ">= 0.7 x a bare Flask 202 under the same gunicorn (bench/ingest.py)",
    "ingest_floor_ratio": "report: the bare app plus one durable Redis enqueue / the bare app "
    "(bench/ingest.py: the floor for any receiver that queues before its 202)",
    "ingest_over_floor_ratio": "report: the receiver / that durable floor (bench/ingest.py: "
    "what Bumper's own work costs)",
    "promotion_report_to_commit_p50_s": "measured; no target (bench/promotion.py: agent report "
    "received -> promotion commit, issue 20)",
    "push_to_healthy_p50_s": "<= 3 s from registry webhook to rollout reported healthy (real node)",
    # issue 19 item 4 (bench/scale.py): reported for docs/scaling.md, no target
    "ingest_scale_2_ratio": "report: 202/s with 2 gunicorn workers / with 1, same run",
    "ingest_scale_4_ratio": "report: 202/s with 4 gunicorn workers / with 1, same run",
    "bump_scale_2_ratio": "report: deliveries bumped/s with 2 RQ workers / with 1, same run",
    "bump_scale_4_ratio": "report: deliveries bumped/s with 4 RQ workers / with 1, same run",
    "burst_bumps_per_s": "report: deliveries bumped/s in the burst (bench/scale.py)",
    "burst_commit_p50_s": "report: webhook -> commit p50 of the burst (bench/scale.py)",
    "burst_commit_p99_s": "report: webhook -> commit p99 of the burst (bench/scale.py)",
}


def load(path: Path = OUT) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".summary-")
    with os.fdopen(handle, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)  # a reader never sees half a file


def record(
    key: str,
    value: float | None,
    *,
    met: bool,
    target: str | None = None,
    note: str | None = None,
    path: Path = OUT,
) -> None:
    """Merge one figure into the summary (``target`` defaults to the known key's)."""
    entry: dict[str, Any] = {
        "value": value,
        "target": target or TARGETS.get(key, ""),
        "met": bool(met and value is not None),
    }
    if note:
        entry["note"] = note
    data = load(path)
    data[key] = entry
    _write(data, path)


def reset(path: Path = OUT) -> None:
    """Every known figure as not measured, before a run."""
    _write(
        {
            key: {"value": None, "target": target, "met": False, "note": NOT_MEASURED}
            for key, target in TARGETS.items()
        },
        path,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="mark every figure not measured")
    args = parser.parse_args()
    if args.reset:
        reset()
        print(f"{OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}: reset")
        return 0
    print(json.dumps(load(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
