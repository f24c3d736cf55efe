"""The agent loop: fetch → verify → render → apply/prune → health → rollback → report.

``Agent.sync_once`` is one pass and never raises for expected failures: it records them in
the status ConfigMap, as Events and metrics, and (when configured) as a commit status.
``Agent.run`` repeats it every ``interval`` seconds, or at once when a verified push webhook
calls ``Agent.trigger``. A commit that failed health and was rolled back stays refused (the
last healthy render is what the agent keeps applying, drift included) until the branch moves.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence

from bumper.agent import (
    apply,
    badimages,
    forge,
    health,
    inventory,
    kube,
    manifests,
    render,
    rollout,
)
from bumper.agent import source as git
from bumper.agent import status as report
from bumper.agent.config import AgentConfig
from bumper.agent.manifests import Key, Obj
from bumper.errors import BumperError, TransientError

log = logging.getLogger("bumper.agent")
RENDER_CACHE = 3
HEALTH_POLL = 1.0


class Agent:
    def __init__(
        self,
        cfg: AgentConfig,
        client: kube.Client,
        source: git.GitSource,
        *,
        state_namespace: str,
        forge_client: forge.Forge | None = None,
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.source = source
        self.forge = forge_client
        self.scope_ns = cfg.namespace if cfg.scope == "namespace" else None
        self.applier = apply.Applier(
            client,
            agent=cfg.name,
            manager=cfg.field_manager,
            conflicts=cfg.conflicts,
            default_namespace=cfg.namespace,
            scope_namespace=self.scope_ns,
            workers=cfg.workers,
        )
        self.records = inventory.Records(client, state_namespace, manager=cfg.field_manager)
        self.events = report.Events(client, component=cfg.name, namespace=state_namespace)
        self.metrics = report.Metrics()
        self.spec = render.RenderSpec(
            mode=cfg.render,
            paths=tuple(cfg.paths),
            helm_release=cfg.helm_release,
            helm_namespace=cfg.namespace,
            helm_values=tuple(cfg.helm_values),
            helm_bin=cfg.helm_bin,
            kustomize_bin=cfg.kustomize_bin,
        )
        self.status = report.Status()
        self.owned: list[inventory.Entry] = []
        self._loaded = False
        self._renders: dict[str, list[Obj]] = {}
        self._verified: set[str] = set()
        self._wake = threading.Event()
        self._busy = threading.Lock()
        self.started = False
        self.last_pass = 0.0

    @property
    def status_name(self) -> str:
        return f"{self.cfg.name}-status"

    @property
    def inventory_name(self) -> str:
        return f"{self.cfg.name}-inventory"

    def trigger(self) -> None:
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.started = True
        while not stop.is_set():
            status = self.sync_once()
            # After an error, try again sooner than a full interval (but not in a hot loop).
            pause = min(self.cfg.interval, 10.0) if status.health == "Error" else self.cfg.interval
            self._wake.wait(timeout=pause)
            self._wake.clear()

    def sync_once(self) -> report.Status:
        with self._busy:
            started = time.monotonic()
            try:
                self._load_state()
                self._pass()
                result = "ok" if self.status.health in ("Healthy", "Progressing") else "degraded"
            except BumperError as error:
                result = "error"
                self._failed(error)
            except Exception as error:  # noqa: BLE001 - the loop must outlive any one pass
                log.exception("sync failed unexpectedly")
                result = "error"
                self._failed(TransientError(f"unexpected {type(error).__name__}: {error}"))
            finally:
                self.status.last_sync_time = report.now_rfc3339()
                self._save_status()
                self._observe(started)
            self.metrics.inc("bumper_agent_syncs_total", result=result)
            self.last_pass = time.time()  # last: /readyz flips only once the pass is reported
            return self.status

    def _load_state(self) -> None:
        if self._loaded:
            return
        self.status = report.Status.from_data(self.records.read(self.status_name))
        self.owned = inventory.load_entries(self.records.read(self.inventory_name))
        self._loaded = True

    def _pass(self) -> None:
        tip = self.source.fetch()
        self.status.revision = tip
        target = tip
        if tip == self.status.failed_commit and self.status.last_healthy_commit:
            target = self.status.last_healthy_commit  # stay rolled back until Git moves
        self._verify(target)
        outcome = self._apply(target)
        self.status.commit = target
        if target == tip:
            self.status.last_error = outcome.prune_refused or ""
        new_commit = target != self.status.last_healthy_commit
        changed = [k for k in outcome.applied if k.kind in manifests.WORKLOAD_KINDS]
        if changed and new_commit:
            self.status.health = "Progressing"
            self.status.message = f"rolling out {target[:12]}"
            self._save_status()  # visible while the rollout is awaited (it may take minutes)
            self._commit_status(target, "pending", "applied; waiting for the rollout")
        timeouts = manifests.health_timeouts(outcome.desired)
        verdicts = self._wait_healthy(changed, outcome.resources, timeouts) if changed else {}
        failed = {k: h for k, h in verdicts.items() if h.state != "healthy"}
        if failed and new_commit:
            self._roll_back(target, outcome, failed)
            return
        current = {**self._health_now(outcome, skip=set(changed)), **failed}
        if current:
            self.status.health = "Degraded"
            self.status.message = _describe(current)
        elif target != tip:
            self.status.health = "RolledBack"
            self.status.message = (
                f"{tip[:12]} failed health; staying on {target[:12]} until the branch moves"
            )
        else:
            self.status.health = "Healthy"
            self.status.message = f"synced {target[:12]}"
            if new_commit:
                self.status.failed_commit = ""
                self._commit_status(target, "success", "applied and healthy")
            self.status.last_healthy_commit = target

    def _verify(self, sha: str) -> None:
        if sha not in self._verified:
            self.source.verify(sha)
            self._verified.add(sha)

    def _render(self, sha: str) -> list[Obj]:
        if sha not in self._renders:
            workdir = self.cfg.cache_dir / "checkout"
            try:
                root = self.source.export(sha, workdir)
                self._renders[sha] = render.render(root, self.spec)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            while len(self._renders) > RENDER_CACHE:
                self._renders.pop(next(iter(self._renders)))
        return self._renders[sha]

    def _apply(self, sha: str) -> apply.SyncResult:
        desired = self._render(sha)
        outcome = self.applier.sync(
            desired,
            self.owned,
            max_shrink=self.cfg.max_shrink,
            force_prune=self.cfg.force_prune,
            prune=self.cfg.prune,
        )
        self._record(outcome, sha)
        return outcome

    def _record(self, outcome: apply.SyncResult, sha: str) -> None:
        if sorted(outcome.inventory) != sorted(self.owned):
            self.records.write(self.inventory_name, inventory.dump_entries(outcome.inventory))
            self.owned = list(outcome.inventory)
        self.status.applied = len(outcome.applied)
        self.status.pruned = len(outcome.pruned)
        self.status.drifted = len(outcome.drifted)
        self.status.managed = len(outcome.inventory)
        self.metrics.inc("bumper_agent_applied_objects_total", len(outcome.applied))
        self.metrics.inc("bumper_agent_pruned_objects_total", len(outcome.pruned))
        self.metrics.inc("bumper_agent_drift_total", len(outcome.drifted))
        for key in outcome.drifted:
            log.warning("drift healed: %s differed from %s", key, sha[:12])
            self.events.emit(
                "DriftHealed",
                f"{key} differed from Git ({sha[:12]}) and was re-applied",
                regarding=key,
                api_version=outcome.desired[key]["apiVersion"],
                warning=True,
            )
        for key in outcome.pruned:
            log.info("pruned %s", key)
        if outcome.applied:
            log.info("applied %d objects from %s", len(outcome.applied), sha[:12])
        if outcome.prune_refused:
            log.warning("%s", outcome.prune_refused)
            self.events.emit("PruneRefused", outcome.prune_refused, warning=True)

    # -- health -----------------------------------------------------------------------------

    def _wait_healthy(
        self,
        keys: Sequence[Key],
        known: dict[Key, kube.Resource],
        timeouts: dict[Key, float] | None = None,
    ) -> dict[Key, health.Health]:
        """Poll the workloads (one LIST per kind) until all are healthy, one fails, or timeout."""
        return rollout.wait_healthy(
            self.applier,
            keys,
            known,
            self.cfg.health_timeout,
            poll=HEALTH_POLL,
            timeouts=timeouts,
        )

    def _health_now(self, outcome: apply.SyncResult, skip: set[Key]) -> dict[Key, health.Health]:
        """Health of the other workloads from what the sync already read: no extra request."""
        unhealthy = {}
        for key in outcome.desired:
            if key in skip:
                continue
            if key.kind in manifests.WORKLOAD_KINDS and key in outcome.live:
                verdict = health.evaluate(outcome.live[key])
                if verdict.state != "healthy":
                    unhealthy[key] = verdict
        return unhealthy

    # -- rollback ---------------------------------------------------------------------------

    def _roll_back(
        self, bad: str, outcome: apply.SyncResult, failed: dict[Key, health.Health]
    ) -> None:
        reason = _describe(failed)
        good = self.status.last_healthy_commit
        log.error("commit %s failed health: %s", bad[:12], reason)
        healthy_objs: dict[Key, Obj] = {}
        if good and self.cfg.rollback:
            healthy_objs = {p.key: p.obj for p in self.applier.plan(self._render(good))}
        suspects = badimages.suspects(failed, outcome.desired, healthy_objs)
        at = report.now_rfc3339()
        badimages.store(
            [
                badimages.record_for(i, commit=bad, reason=reason, at=at, agent=self.cfg.name)
                for i in suspects
            ],
            state=self.records,
            configmap=self.cfg.bad_images_configmap,
            redis_url=self.cfg.redis_url,
        )
        self.status.failed_commit = bad
        self.status.last_error = reason
        self._commit_status(bad, "failure", f"rolled back: {reason}")
        if not (good and self.cfg.rollback):
            self.status.health = "Degraded"
            self.status.message = f"{bad[:12]} is unhealthy and there is no healthy commit to use"
            self.events.emit("Unhealthy", f"{bad[:12]}: {reason}", warning=True)
            return
        self._apply(good)
        self.status.commit = good
        self.status.health = "RolledBack"
        self.status.message = f"rolled back from {bad[:12]} to {good[:12]}; bad: {suspects}"
        self.metrics.inc("bumper_agent_rollbacks_total")
        self.events.emit("RolledBack", f"{bad[:12]} → {good[:12]}: {reason}", warning=True)
        if self.forge is not None:
            self._open_revert(bad, good, reason)

    def _open_revert(self, bad: str, good: str, reason: str) -> None:
        assert self.forge is not None
        branch = f"bumper/revert-{bad[:12]}"
        try:
            self.source.push_revert(
                bad,
                good,
                branch,
                f"Revert to {good[:12]}: {bad[:12]} failed health",
                self.forge.token,
            )
        except BumperError as error:
            log.warning("revert branch not pushed: %s", error)
            return
        url = self.forge.open_revert(bad, good, branch, reason)
        if url:
            self.status.message += f"; revert: {url}"

    # -- reporting --------------------------------------------------------------------------

    def _failed(self, error: BumperError) -> None:
        message = str(error)
        log.error("sync failed (%s): %s", error.reason, message)
        self.status.last_error = message
        self.status.health = "Error"
        transient = isinstance(error, TransientError)
        self.status.message = "will retry" if transient else f"{error.reason}: nothing applied"
        self.events.emit("SyncFailed", message, warning=True)
        revision = self.status.revision
        if revision and not isinstance(error, TransientError):
            self._commit_status(revision, "failure", f"{error.reason}: {message}")

    def _commit_status(self, sha: str, state: forge.State, text: str) -> None:
        if self.forge is not None:
            self.forge.commit_status(sha, state, text)

    def _save_status(self) -> None:
        try:
            self.records.write(self.status_name, self.status.to_data())
        except BumperError as error:
            log.warning("status not saved: %s", error)

    def _observe(self, started: float) -> None:
        self.metrics.set("bumper_agent_sync_duration_seconds", time.monotonic() - started)
        self.metrics.set("bumper_agent_last_sync_timestamp_seconds", time.time())
        self.metrics.set("bumper_agent_managed_objects", len(self.owned))
        self.metrics.set("bumper_agent_healthy", 1.0 if self.status.health == "Healthy" else 0.0)
        self.metrics.set("bumper_agent_commit_info", 1.0, commit=self.status.commit)
        with self.client._lock:
            count = self.client.requests
        self.metrics.counters[("bumper_agent_api_requests_total", ())] = float(count)


def _describe(verdicts: dict[Key, health.Health]) -> str:
    return rollout.describe(verdicts)


def state_namespace(cfg: AgentConfig) -> str:
    if cfg.state_namespace:
        return cfg.state_namespace
    pod_ns = kube.IN_CLUSTER_DIR / "namespace"
    if pod_ns.is_file():
        return pod_ns.read_text().strip()
    return cfg.namespace
