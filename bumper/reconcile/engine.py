"""One reconcile pass: make the cluster run the branch tip's render, or stay on a healthy one.

``Engine.reconcile`` never raises for expected failures (``BumperError``): it records them in
the status ConfigMap and as Events, and returns them in ``ReconcileResult.error``. Which
commit it applies: the tip, except when the tip is the ``failedCommit`` (it failed health
before): then the last healthy commit, drift included, until the branch moves. A new commit
whose changed workloads fail health is rolled back to the last healthy commit (or the
caller's fallback) and the images it introduced into them are recorded as bad.

State lives in the cluster (``<name>-status`` and ``<name>-inventory``) and is read once per
``Engine``: the agent keeps one engine for its lifetime, push mode builds one per job.
Must not: know where commits come from or who hears about the result (see ``ports``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from bumper.agent import apply, badimages, health, inventory, kube, manifests, phases, running
from bumper.agent import status as report
from bumper.agent.manifests import Key, Obj
from bumper.errors import ApplyError, BumperError, TransientError
from bumper.reconcile import ports, waiting

log = logging.getLogger("bumper.reconcile")
RENDER_CACHE = 3

Result = Literal["healthy", "unchanged", "stayed", "rolled-back", "degraded", "error"]
Restore = Literal["", "healthy", "unhealthy", "refused"]


@dataclass(frozen=True)
class EngineSettings:
    """How one engine behaves. ``refuse_failed``: a tip that could not be applied is not
    tried again until the branch moves, and what it partly applied is undone (push mode: a
    job has no next pass to retry in); the agent retries it every pass instead, since a
    conflict or an admission refusal may clear."""

    name: str  # label value on applied objects, prefix of the state ConfigMaps
    health_timeout: float
    rollback: bool = True
    prune: bool = True
    max_shrink: float = 0.5
    force_prune: bool = False
    bad_images_configmap: str = "bumper-bad-images"
    refuse_failed: bool = False
    poll: float = waiting.POLL_SECONDS


@dataclass
class ReconcileResult:
    """What one pass did, for the caller's own reporting (push mode's log and PR comment)."""

    tip: str = ""
    target: str = ""  # the commit the pass applied: the tip, or the healthy one it stays on
    result: Result = "healthy"
    reason: str = ""  # why the tip failed: its unhealthy workloads, or the error
    tip_failed: bool = False  # a new commit's workloads did not become healthy
    previous: str | None = None  # what a failed tip was rolled back to (or would have been)
    restore: Restore = ""  # how the rollback went ("" when none was tried)
    applied: int = 0  # objects the tip's apply changed
    bad: list[str] = field(default_factory=list)
    rendered: list[Obj] = field(default_factory=list)  # the tip's render, when it rendered
    error: BumperError | None = None
    seconds: float | None = None  # from ``started`` until the tip's verdict
    rollback_seconds: float | None = None


class Engine:
    def __init__(
        self,
        client: kube.Client,
        applier: apply.Applier,
        settings: EngineSettings,
        commits: ports.Commits,
        *,
        state_namespace: str,
        manager: str,
        announce: ports.Announcer | None = None,
        bad_images: ports.BadImageSink = ports.no_sink,
        blame: Callable[[str], str] = str,
    ) -> None:
        self.client = client
        self.applier = applier
        self.settings = settings
        self.commits = commits
        self.announce: ports.Announcer = announce or ports.Quiet()
        self.bad_images = bad_images
        self.blame = blame  # how a suspect image is named in its record (push: + the digest)
        self.records = inventory.Records(client, state_namespace, manager=manager)
        self.events = report.Events(client, component=settings.name, namespace=state_namespace)
        self.metrics = report.Metrics()
        self.status = report.Status()
        self.owned: list[inventory.Entry] = []
        self._loaded = False
        self._renders: dict[str, list[Obj]] = {}
        self._started = 0.0
        self.clock = phases.Clock()

    @property
    def status_name(self) -> str:
        return f"{self.settings.name}-status"

    @property
    def inventory_name(self) -> str:
        return f"{self.settings.name}-inventory"

    # -- the pass ---------------------------------------------------------------------------

    def reconcile(self, started: float | None = None) -> ReconcileResult:
        """One pass; ``started`` (monotonic) is where ``seconds`` counts from (default: now)."""
        self._started = time.monotonic() if started is None else started
        self.clock = phases.Clock()
        out = ReconcileResult()
        try:
            self._load()
            self._pass(out)
        except BumperError as error:
            self.fail(error, out)
        self.save(final=True)
        spent = self.clock.every_phase()
        for phase, seconds in spent.items():
            self.metrics.set("bumper_agent_sync_phase_seconds", seconds, phase=phase)
        if "apply" in self.clock.seconds:  # a pass that applied nothing: not worth a line
            line = ", ".join(f"{phase} {s:.3f}" for phase, s in spent.items() if s)
            log.info("sync of %s, seconds by phase: %s", out.tip[:12], line)
        return out

    def fail(self, error: BumperError, out: ReconcileResult | None = None) -> None:
        """Record a pass that ended in ``error``: status ``Error``, an Event, the announcer."""
        out = out or ReconcileResult(tip=self.status.revision)
        message = str(error)
        log.error("sync failed (%s): %s", error.reason, message)
        out.result, out.error, out.reason = "error", error, f"{error.reason}: {message}"
        transient = isinstance(error, TransientError)
        self.status.last_error = message
        self.status.health = "Error"
        self.status.message = "will retry" if transient else f"{error.reason}: nothing applied"
        if not transient and self.settings.refuse_failed and out.tip and out.target == out.tip:
            try:
                self._refuse(out, error)
            except BumperError as undo:
                log.error("could not undo the partial apply of %s: %s", out.tip[:12], undo)
        self.events.emit("SyncFailed", message, warning=True)
        if self.status.revision and not transient:
            self.announce.failed(self.status.revision, f"{error.reason}: {message}")

    def _load(self) -> None:
        if self._loaded:
            return
        self.status = report.Status.from_data(self.records.read(self.status_name))
        self.owned = inventory.load_entries(self.records.read(self.inventory_name))
        self._loaded = True

    def _pass(self, out: ReconcileResult) -> None:
        with self.clock.timed("fetch"):
            tip = out.tip = self.commits.tip()
        was_live = self.status.commit == tip and self.status.health == "Healthy"
        # A pass that ended while waiting (a crash, a killed job) left "Progressing": the
        # re-apply changes nothing, so every workload of that commit is waited for again.
        unfinished = self.status.health == "Progressing"
        self.status.revision = tip
        target = out.target = self._target(tip)
        if not target:
            self._stay_put(out)
            return
        desired = self._render(target)
        if target == tip:
            out.rendered = desired
            self.status.skipped = _skipped(desired)
        synced = self._sync(desired, target)
        unfinished = unfinished and self.status.commit == target
        self.status.commit = target
        if target == tip:
            self.status.last_error = synced.prune_refused or ""
            out.applied = len(synced.applied)
        new_commit = target != self.status.last_healthy_commit
        changed = waiting.workloads(synced.applied, synced.resources)
        awaited = waiting.workloads(synced.desired, synced.resources) if unfinished else changed
        if changed and new_commit:
            self._progressing(target)
        failed = {}
        if awaited:
            with self.clock.timed("health"):
                failed = waiting.failures(self._wait(awaited, synced))
        if target == tip:
            out.seconds = time.monotonic() - self._started
        if failed and new_commit:
            self._roll_back(target, synced, failed, out)
            return
        self._judge(
            out, synced, failed, skip=set(awaited), new_commit=new_commit, was_live=was_live
        )

    def _target(self, tip: str) -> str:
        """The tip, or the healthy commit to stay on while the tip is the failed one ("")."""
        if tip != self.status.failed_commit:
            return tip
        if self.status.last_healthy_commit:
            return self.status.last_healthy_commit
        return "" if self.settings.refuse_failed else tip

    def _stay_put(self, out: ReconcileResult) -> None:
        """The tip failed and there is no healthy commit: apply nothing (``refuse_failed``)."""
        stay = f"staying on {self.status.commit[:12]}" if self.status.commit else "nothing applied"
        self.status.message = f"{out.tip[:12]} failed before; {stay} until the branch moves"
        out.result, out.target = "stayed", self.status.commit

    def _progressing(self, target: str) -> None:
        self.status.health = "Progressing"
        self.status.message = f"rolling out {target[:12]}"
        self.save()  # visible while the rollout is awaited (it may take minutes)
        self.announce.progressing(target)

    def _judge(
        self,
        out: ReconcileResult,
        synced: apply.SyncResult,
        failed: dict[Key, health.Health],
        *,
        skip: Collection[Key],
        new_commit: bool,
        was_live: bool,
    ) -> None:
        """Nothing to roll back: say how the applied commit stands."""
        current = {**self._health_now(synced, skip), **failed}
        target, tip = out.target, out.tip
        if current:
            out.result, out.reason = "degraded", waiting.describe(current)
            self.status.health, self.status.message = "Degraded", out.reason
        elif target != tip:
            out.result = "stayed"
            self.status.health = "RolledBack"
            self.status.message = (
                f"{tip[:12]} failed health; staying on {target[:12]} until the branch moves"
            )
        else:
            out.result = "unchanged" if was_live else "healthy"
            self.status.health, self.status.message = "Healthy", f"synced {target[:12]}"
            if new_commit:
                self.status.failed_commit = ""
                self.announce.healthy(target)
            self.status.last_healthy_commit = target

    def running(self) -> list[dict[str, Any]]:
        """What the live commit's workloads run, observed from their pods (the report's
        ``running`` entries, ``bumper.agent.running``): one bounded LIST per workload. Empty
        before a commit was applied, or when its render is no longer cached."""
        commit = self.status.commit
        objs = self._renders.get(commit) if commit else None
        if objs is None:
            return []
        planned = self.applier.plan(objs)
        return running.observe(self.client, ((p.key, p.obj) for p in planned), commit)

    # -- apply and record -------------------------------------------------------------------

    def _render(self, sha: str) -> list[Obj]:
        """The render of ``sha``, cached: the same list lets the applier reuse its plan."""
        if sha not in self._renders:
            with self.clock.timed("render"):
                self._renders[sha] = self.commits.render(sha)
            self._report_skipped(sha, self._renders[sha])
            while len(self._renders) > RENDER_CACHE:
                self._renders.pop(next(iter(self._renders)))
        return self._renders[sha]

    def _report_skipped(self, sha: str, objs: list[Obj]) -> None:
        """A log line and an Event per file the render left out (once per render)."""
        if not isinstance(objs, manifests.Rendered):
            return
        for path, why in objs.skipped:
            log.warning("%s: %s skipped: %s", sha[:12], path, why)
            self.events.emit("FileSkipped", f"{sha[:12]}: {path}: {why}", warning=True)

    def _sync(self, desired: list[Obj], sha: str) -> apply.SyncResult:
        synced = self.applier.sync(
            desired,
            self.owned,
            max_shrink=self.settings.max_shrink,
            force_prune=self.settings.force_prune,
            prune=self.settings.prune,
            clock=self.clock,
        )
        with self.clock.timed("record"):
            self._record(synced, sha)
        return synced

    def _record(self, synced: apply.SyncResult, sha: str) -> None:
        """Inventory, counts, metrics, and an Event per healed drift or refused prune."""
        if sorted(synced.inventory) != sorted(self.owned):
            self.records.write(self.inventory_name, inventory.dump_entries(synced.inventory))
            self.owned = list(synced.inventory)
        self.status.applied = len(synced.applied)
        self.status.pruned = len(synced.pruned)
        self.status.drifted = len(synced.drifted)
        self.status.managed = len(synced.inventory)
        self.metrics.inc("bumper_agent_applied_objects_total", len(synced.applied))
        self.metrics.inc("bumper_agent_pruned_objects_total", len(synced.pruned))
        self.metrics.inc("bumper_agent_drift_total", len(synced.drifted))
        for key in synced.drifted:
            log.warning("drift healed: %s differed from %s", key, sha[:12])
            self.events.emit(
                "DriftHealed",
                f"{key} differed from Git ({sha[:12]}) and was re-applied",
                regarding=key,
                api_version=synced.desired[key]["apiVersion"],
                warning=True,
            )
        for key in synced.pruned:
            log.info("pruned %s", key)
        if synced.applied:
            log.info("applied %d objects from %s", len(synced.applied), sha[:12])
        if synced.prune_refused:
            log.warning("%s", synced.prune_refused)
            self.events.emit("PruneRefused", synced.prune_refused, warning=True)

    def save(self, *, final: bool = False) -> None:
        """Write the status ConfigMap; a failed write is logged, never raised. A status that
        was never read (the API server was unreachable) is not overwritten with blanks."""
        if not self._loaded:
            return
        if final:
            self.status.last_sync_time = report.now_rfc3339()
        try:
            self.records.write(self.status_name, self.status.to_data())
        except BumperError as error:
            log.warning("status not saved: %s", error)

    # -- health -----------------------------------------------------------------------------

    def _wait(self, keys: list[Key], synced: apply.SyncResult) -> dict[Key, health.Health]:
        """Poll ``keys`` until all are healthy, one fails, or its own deadline passes."""
        return waiting.wait_healthy(
            self.applier,
            keys,
            synced.resources,
            self.settings.health_timeout,
            poll=self.settings.poll,
            timeouts=manifests.health_timeouts(synced.desired),
        )

    def _health_now(
        self, synced: apply.SyncResult, skip: Collection[Key]
    ) -> dict[Key, health.Health]:
        """Health of the other workloads from what the sync already read: no extra request."""
        unhealthy = {}
        for key in synced.desired:
            if key in skip or key.kind not in manifests.WORKLOAD_KINDS or key not in synced.live:
                continue
            verdict = health.evaluate(synced.live[key])
            if verdict.state != "healthy":
                unhealthy[key] = verdict
        return unhealthy

    # -- rollback ---------------------------------------------------------------------------

    def _roll_back(
        self,
        bad: str,
        synced: apply.SyncResult,
        failed: dict[Key, health.Health],
        out: ReconcileResult,
    ) -> None:
        reason = out.reason = waiting.describe(failed)
        out.tip_failed = True
        log.error("commit %s failed health: %s", bad[:12], reason)
        good = out.previous = self._fallback(bad) if self.settings.rollback else None
        before = self._render_or_none(good) if good else None
        healthy = {p.key: p.obj for p in self.applier.plan(before or [])}
        suspects = badimages.suspects(failed, synced.desired, healthy)
        out.bad = [self.blame(image) for image in suspects]
        self._record_bad(out.bad, bad, reason)
        self.status.failed_commit, self.status.last_error = bad, reason
        self.announce.failed(bad, f"rolled back: {reason}")
        out.result = "degraded"
        if good is None or before is None:
            self._unhealthy(f"{bad[:12]} is unhealthy and there is no healthy commit to use")
            self.events.emit("Unhealthy", f"{bad[:12]}: {reason}", warning=True)
            return
        out.restore = self._restore(good, before, out)
        if out.restore != "healthy":
            why = "was refused" if out.restore == "refused" else "is unhealthy too"
            self._unhealthy(f"{bad[:12]} failed health ({reason}); the rollback {why}")
            self.events.emit("Unhealthy", f"{bad[:12]}: {reason}", warning=True)
            return
        out.result = "rolled-back"
        self.status.health = "RolledBack"
        self.status.last_healthy_commit = good
        self.status.message = f"rolled back from {bad[:12]} to {good[:12]}; bad: {out.bad}"
        self.metrics.inc("bumper_agent_rollbacks_total")
        self.events.emit("RolledBack", f"{bad[:12]} → {good[:12]}: {reason}", warning=True)
        url = self.announce.rolled_back(bad, good, reason)
        if url:
            self.status.message += f"; revert: {url}"

    def _fallback(self, bad: str) -> str | None:
        return self.status.last_healthy_commit or self.commits.fallback(bad)

    def _unhealthy(self, message: str) -> None:
        self.status.health, self.status.message = "Degraded", message

    def _render_or_none(self, sha: str) -> list[Obj] | None:
        """Another commit's render, or None when it no longer renders (it cannot be used)."""
        try:
            return self._render(sha)
        except TransientError:
            raise
        except BumperError as error:
            log.error("cannot render %s: %s", sha[:12], error)
            return None

    def _restore(self, good: str, objs: list[Obj], out: ReconcileResult) -> Restore:
        """Apply ``good``'s render and wait for all its workloads; ``status.commit`` follows."""
        began = time.monotonic()
        if out.seconds is None:
            out.seconds = began - self._started
        try:
            synced = self._sync(objs, good)
        except ApplyError as error:
            log.error("rollback to %s refused: %s", good[:12], error)
            return "refused"
        self.status.commit = good
        keys = waiting.workloads(synced.desired, synced.resources)
        verdicts = self._wait(keys, synced) if keys else {}
        out.rollback_seconds = time.monotonic() - began
        return "unhealthy" if waiting.failures(verdicts) else "healthy"

    def _refuse(self, out: ReconcileResult, error: BumperError) -> None:
        """``refuse_failed``: mark the tip failed; undo a partial apply with the healthy render."""
        self.status.failed_commit = out.tip
        good = out.previous = self._fallback(out.tip)
        if not isinstance(error, ApplyError) or good is None:
            return
        before = self._render_or_none(good)
        if before is not None:
            out.restore = self._restore(good, before, out)
        if out.restore in ("healthy", "unhealthy"):
            self.status.message = f"{error.reason}: {out.tip[:12]} not applied; back on {good[:12]}"

    def _record_bad(self, images: list[str], commit: str, reason: str) -> None:
        at = report.now_rfc3339()
        records = [
            badimages.record_for(i, commit=commit, reason=reason, at=at, agent=self.settings.name)
            for i in images
        ]
        if not records:
            return
        configmap = self.settings.bad_images_configmap
        badimages.store(records, state=self.records, configmap=configmap)
        self.bad_images(records)


def _skipped(objs: list[Obj]) -> str:
    """The status line of the files a render left out ("" when none)."""
    return objs.skipped_summary() if isinstance(objs, manifests.Rendered) else ""
