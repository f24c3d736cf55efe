"""Push mode's health during a soak: the worker re-observes a push environment's live workloads
while a promotion waits on that environment's health, as a pull agent keeps reporting.

A push deploy observes what runs once, right after the rollout (``pushdeploy.record_health``).
Without more, a ``healthy_for`` soak after a push environment could pass on that one old
observation (as long as ``max_report_age`` allowed) or never pass at all, and pods that fail
mid-soak would go unnoticed. So each promotion tick (``worker.jobs.evaluate_promotions``)
calls ``recheck``: for every push environment that a digest's next environment is waiting on
(its soak, or a fresh ready report) or blocked on (unhealthy there), it reads the deployer's
records in the cluster (the ``<name>-status`` commit and the ``<name>-inventory`` workloads),
GETs each workload and LISTs its pods (``bumper.agent.running``), and records what runs under
the deployer's name, stamped with the worker's clock, like an agent's report. A digest not
ready carries the workload's rollout status as its reason (``bumper.agent.health``), which
blocks the promotion with it. An unreadable cluster records nothing: the last observation
ages, and past ``max_report_age`` it no longer counts (a report never received never counts).

Must not: apply, delete or wait; import rq.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from bumper.agent import health, inventory, kube, running
from bumper.agent import status as agentstatus
from bumper.agent.manifests import Key
from bumper.core import config
from bumper.errors import BumperError
from worker import pushdeploy
from worker.context import WorkerContext
from worker.promotionstore import PromotionStore
from worker.targets import target_key

log = logging.getLogger("bumper.worker")

# A status of the next environment that reads this one's health (core/promotion.py's wording).
_READS_HEALTH = ("healthy_for ", "a ready report from ")


def recheck(ctx: WorkerContext, now: float | None = None) -> int:
    """Re-observe each push environment a promotion is waiting on; the number observed."""
    pstore = PromotionStore(ctx.store.redis)
    observed = 0
    for pipeline in ctx.config.pipelines:
        records = pstore.digests(pipeline.name)
        for index, env in enumerate(pipeline.environments[:-1]):
            after = pipeline.environments[index + 1].name
            if env.agent is None or not _reads_health(records.values(), env.name, after):
                continue
            for cluster, name in _push_deployers(ctx, pipeline, index):
                if name != env.agent:
                    continue
                client = _client(ctx, cluster, name)
                entries = observe(client, cluster, name) if client is not None else []
                if entries:
                    stamp = time.time() if now is None else now
                    pstore.record_running(name, entries, stamp)
                observed += 1
    return observed


def _client(ctx: WorkerContext, cluster: config.Cluster, name: str) -> kube.Client | None:
    """The cluster's client; None (the tick goes on) when there is none to make, e.g. its
    kubeconfig is unreadable: this environment goes unobserved, as an unreachable one does."""
    try:
        return pushdeploy.client_for(cluster, ctx.config_dir)
    except BumperError as error:
        log.warning("push re-check %s: not observed: %s", name, error)
        return None


def _reads_health(records: Any, env: str, after: str) -> bool:
    """Some digest's status in ``after`` waits on ``env``'s health, or is blocked by it."""
    for record in records:
        for status in record.get("statuses") or []:
            if status.get("environment") != after:
                continue
            detail = str(status.get("detail") or "")
            waits = status.get("state") == "waiting" and detail.startswith(_READS_HEALTH)
            if waits or detail.startswith(f"unhealthy in {env}: "):
                return True
    return False


def _push_deployers(
    ctx: WorkerContext, pipeline: config.Pipeline, index: int
) -> list[tuple[config.Cluster, str]]:
    """The push targets of the environment's rule: their cluster and deployer name."""
    rule = ctx.config.image(pipeline.rule_name(index))
    if rule is None:
        return []
    found = []
    for t_index, target in enumerate(rule.targets):
        if target.deploy == "push":
            cluster = target.push_cluster()
            found.append(
                (cluster, cluster.name or pushdeploy.default_name(target_key(rule, t_index)))
            )
    return found


def observe(client: kube.Client, cluster: config.Cluster, name: str) -> list[dict[str, Any]]:
    """What the deployer's live workloads run, as a report's ``running`` entries, with the
    rollout status as ``reason`` of a digest not ready; nothing when it cannot be read."""
    records = inventory.Records(
        client, cluster.state_namespace or cluster.namespace, manager=cluster.field_manager
    )
    try:
        commit = agentstatus.Status.from_data(records.read(f"{name}-status")).commit
        owned = inventory.load_entries(records.read(f"{name}-inventory"))
        workloads = _workloads(client, owned)
    except BumperError as error:
        log.warning("push re-check %s: not observed: %s", name, error)
        return []
    if not commit:
        return []
    entries = running.observe(client, workloads.items(), commit)
    for entry in entries:
        if entry["ready"]:
            continue
        key = Key("", str(entry["kind"]), str(entry["namespace"]), str(entry["name"]))
        now = health.evaluate(next((o for k, o in workloads.items() if _same(k, key)), {}))
        if now.state != "healthy":
            entry["reason"] = f"{entry['kind']}/{entry['name']}: {now.message or now.state}"
    return entries


def _workloads(client: kube.Client, owned: list[inventory.Entry]) -> dict[Key, Mapping[str, Any]]:
    found: dict[Key, Mapping[str, Any]] = {}
    for entry in owned:
        if entry.kind not in running.KINDS:
            continue
        res = client.resource(entry.api_version, entry.kind)
        obj = client.get(res, entry.name, entry.namespace or None)
        if obj is not None:
            found[entry.key] = obj
    return found


def _same(a: Key, b: Key) -> bool:
    return (a.kind, a.namespace, a.name) == (b.kind, b.namespace, b.name)
