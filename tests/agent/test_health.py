"""Rollout status rules for each workload kind."""

from __future__ import annotations

from typing import Any

import pytest

from bumper.agent import health


def obj(kind: str, spec: dict[str, Any], status: dict[str, Any], generation: int = 1) -> Any:
    return {"kind": kind, "metadata": {"generation": generation}, "spec": spec, "status": status}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"observedGeneration": 0}, "progressing"),
        ({"observedGeneration": 1, "updatedReplicas": 1, "replicas": 2}, "progressing"),
        ({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2}, "progressing"),
        (
            {"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2},
            "healthy",
        ),
        (
            {
                "observedGeneration": 1,
                "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            },
            "failed",
        ),
    ],
)
def test_deployment(status: dict[str, Any], state: str) -> None:
    assert health.evaluate(obj("Deployment", {"replicas": 2}, status)).state == state


def test_statefulset_and_daemonset() -> None:
    sts = {"observedGeneration": 1, "updatedReplicas": 3, "readyReplicas": 2}
    assert health.evaluate(obj("StatefulSet", {"replicas": 3}, sts)).state == "progressing"
    sts["readyReplicas"] = 3
    assert health.evaluate(obj("StatefulSet", {"replicas": 3}, sts)).state == "healthy"
    ds = {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2}
    assert (
        health.evaluate(obj("DaemonSet", {}, {**ds, "numberAvailable": 1})).state == "progressing"
    )
    assert health.evaluate(obj("DaemonSet", {}, {**ds, "numberAvailable": 2})).state == "healthy"


def test_job_conditions() -> None:
    done = {"conditions": [{"type": "Complete", "status": "True"}]}
    failed = {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimit"}]}
    assert health.evaluate(obj("Job", {}, done)).state == "healthy"
    verdict = health.evaluate(obj("Job", {}, failed))
    assert verdict.state == "failed" and "BackoffLimit" in verdict.message
    assert health.evaluate(obj("Job", {}, {})).state == "progressing"


def test_kinds_without_rollout_are_healthy() -> None:
    assert health.evaluate({"kind": "ConfigMap"}).state == "healthy"
