"""Waiting for rollouts: per-object deadlines from the health-timeout annotation."""

from __future__ import annotations

from typing import Any, cast

from bumper.agent import apply, kube, manifests
from bumper.agent.manifests import Key
from bumper.reconcile import waiting

DEPLOY = kube.Resource("apps", "v1", "Deployment", "deployments", True)
SLOW, QUICK = Key("apps", "Deployment", "ns", "slow"), Key("apps", "Deployment", "ns", "quick")


class Cluster:
    """Serves ``list_live`` like an Applier: ``slow`` never finishes, ``quick`` after 2 polls."""

    def __init__(self) -> None:
        self.polls = 0

    def list_live(self, resources: Any) -> dict[Key, dict[str, Any]]:
        self.polls += 1
        done = self.polls >= 2
        return {
            SLOW: deployment(False),
            QUICK: deployment(done),
        }


def deployment(ready: bool) -> dict[str, Any]:
    n = 1 if ready else 0
    return {
        "kind": "Deployment",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "updatedReplicas": 1,
            "replicas": 1,
            "availableReplicas": n,
        },
    }


def test_the_annotation_sets_a_shorter_deadline_for_one_object() -> None:
    clock = [0.0]

    def tick() -> float:
        clock[0] += 1.0
        return clock[0]

    cluster = Cluster()
    verdicts = waiting.wait_healthy(
        cast(apply.Applier, cluster),
        [SLOW, QUICK],
        {SLOW: DEPLOY, QUICK: DEPLOY},
        timeout=100,
        poll=0,
        clock=tick,
        timeouts={SLOW: 3},
    )
    assert verdicts[SLOW].state == "failed" and "after 3s" in verdicts[SLOW].message
    assert verdicts[QUICK].state == "healthy"
    assert cluster.polls < 10  # it did not wait for the global 100 s


def test_health_timeouts_read_from_annotations() -> None:
    objs = {
        SLOW: {"metadata": {"annotations": {manifests.TIMEOUT_ANNOTATION: "45"}}},
        QUICK: {"metadata": {"annotations": {manifests.TIMEOUT_ANNOTATION: "soon"}}},
    }
    assert manifests.health_timeouts(objs) == {SLOW: 45.0}


def test_polls_start_a_tenth_of_a_second_apart_and_back_off_to_the_interval() -> None:
    slept: list[float] = []
    cluster = Cluster()
    verdicts = waiting.wait_healthy(
        cast(apply.Applier, cluster),
        [QUICK],
        {QUICK: DEPLOY},
        timeout=100,
        poll=1.0,
        sleep=slept.append,
    )
    assert verdicts[QUICK].state == "healthy"
    assert slept == [waiting.FIRST_POLL]  # done at the 2nd poll: seen after 0.1 s, not 1 s
    series = [p for p, _ in zip(waiting.pauses(1.0), range(12), strict=False)]
    assert series[0] == waiting.FIRST_POLL and series[-1] == 1.0
    assert series == sorted(series) and max(series) == 1.0
    assert [p for p, _ in zip(waiting.pauses(0), range(3), strict=False)] == [0, 0, 0]
