"""bench/summary.py: the figures file tools read after ``make bench``."""

from __future__ import annotations

import json
from pathlib import Path

from bench import summary


def test_reset_marks_every_known_figure_not_measured(tmp_path: Path) -> None:
    out = tmp_path / "out" / "summary.json"
    summary.record("ingest_ratio", 0.9, met=True, path=out)  # a stale figure of an older run
    summary.reset(out)
    data = json.loads(out.read_text())
    assert set(summary.TARGETS) <= set(data)
    for key in ("webhook_to_pr_p50_ratio", "ingest_ratio", "push_to_healthy_p50_s"):
        assert data[key]["value"] is None and data[key]["met"] is False
        assert data[key]["note"] == summary.NOT_MEASURED and data[key]["target"]


def test_record_merges_one_figure_and_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    summary.reset(out)
    summary.record("webhook_to_pr_p50_ratio", 1.1, met=True, path=out)
    summary.record("agent_initial_sync_ratio", None, met=True, note="skipped", path=out)
    data = json.loads(out.read_text())
    assert data["webhook_to_pr_p50_ratio"] == {
        "value": 1.1,
        "target": summary.TARGETS["webhook_to_pr_p50_ratio"],
        "met": True,
    }
    assert data["agent_initial_sync_ratio"]["met"] is False  # no value is never met
    assert data["ingest_ratio"]["value"] is None


def test_the_scaling_figures_are_known_keys() -> None:
    # bench/scale.py (issue 19 item 4): reset marks them not measured like the others
    assert {
        "ingest_scale_2_ratio",
        "ingest_scale_4_ratio",
        "bump_scale_2_ratio",
        "bump_scale_4_ratio",
        "burst_commit_p50_s",
        "burst_commit_p99_s",
    } <= set(summary.TARGETS)
