"""Rollout status of workloads, read from live objects (pure: no API calls here).

Rules, in the spirit of ``kubectl rollout status`` and kstatus:

- every kind: ``status.observedGeneration`` must have caught up with ``metadata.generation``;
- Deployment: updated == desired replicas, no old replicas left, available ≥ updated;
  a ``Progressing`` condition with reason ``ProgressDeadlineExceeded`` is a failure;
- StatefulSet: updated and ready replicas == desired (``OnDelete`` only needs ready ones);
- DaemonSet: updated and available == desired number scheduled;
- Job: a ``Complete`` condition is healthy, a ``Failed`` one is a failure.

Anything else has no rollout and counts as healthy once it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

State = Literal["healthy", "progressing", "failed"]


@dataclass(frozen=True)
class Health:
    state: State
    message: str = ""


HEALTHY = Health("healthy")


def evaluate(obj: Mapping[str, Any]) -> Health:
    kind = obj.get("kind")
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    checker = _CHECKS.get(str(kind))
    if checker is None:
        return HEALTHY
    if kind != "Job":
        observed, generation = status.get("observedGeneration", 0), meta.get("generation", 0)
        if observed < generation:
            return Health("progressing", f"generation {generation} not observed yet")
    return checker(spec, status)


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health("failed", f"progress deadline exceeded: {progressing.get('message', '')}")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return Health("progressing", f"{updated} of {want} replicas updated")
    if status.get("replicas", 0) > updated:
        return Health("progressing", f"{status.get('replicas', 0) - updated} old replicas left")
    available = status.get("availableReplicas", 0)
    if available < updated:
        return Health("progressing", f"{available} of {updated} updated replicas available")
    return HEALTHY


def _statefulset(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    want = spec.get("replicas", 1)
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate":
        updated = status.get("updatedReplicas", 0)
        if updated < want:
            return Health("progressing", f"{updated} of {want} replicas updated")
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return Health("progressing", f"{ready} of {want} replicas ready")
    return HEALTHY


def _daemonset(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    if updated < want:
        return Health("progressing", f"{updated} of {want} pods updated")
    available = status.get("numberAvailable", 0)
    if available < want:
        return Health("progressing", f"{available} of {want} pods available")
    return HEALTHY


def _job(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    outcomes: tuple[tuple[str, State], ...] = (("Failed", "failed"), ("Complete", "healthy"))
    for kind, state in outcomes:
        condition = _condition(status, kind)
        if condition and condition.get("status") == "True":
            return Health(state, str(condition.get("message") or condition.get("reason") or ""))
    return Health("progressing", f"{status.get('succeeded', 0)} pods succeeded")


_CHECKS = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Job": _job,
}
