"""The agent loop: a ``bumper.reconcile`` pass every ``interval`` seconds, or when triggered.

``Agent.sync_once`` is one pass and never raises: the engine records expected failures (status
ConfigMap, Events), and this loop adds the agent's metrics and, with a reporter, what runs
(``running``: observed digests, re-read after a new commit, while a workload is not ready, and
at least every ``RUNNING_EVERY`` seconds, so a quiet pass stays O(kinds) requests). The
agent's side of the engine's seams lives here: ``GitCommits`` (fetch, the signature policy,
export, render) and ``ForgeAnnouncer`` (commit statuses and the revert PR through
``forge``); bad images and the health after each pass go to the web process through
``reporter`` when one is configured.
``Agent.run`` repeats the pass, or runs it at once when a verified push webhook calls
``Agent.trigger``; ``Agent.close`` sends what is still pending.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bumper.agent import apply, forge, inventory, kube, render, signing
from bumper.agent import source as git
from bumper.agent import status as report
from bumper.agent.config import AgentConfig
from bumper.agent.manifests import Obj
from bumper.agent.reporter import Reporter
from bumper.errors import BumperError, SignatureError, TransientError
from bumper.reconcile import ports
from bumper.reconcile.engine import Engine, EngineSettings

log = logging.getLogger("bumper.agent")
RUNNING_EVERY = 30.0
MAX_RUNNING_LINES = 20  # log lines when what runs changes (the report carries them all)


class GitCommits:
    """Commits from the agent's git source: the fetched tip, admitted by the signature policy
    (``signing``), and exported renders.

    ``applied`` gives the commits the engine applied before, from its status (the live one
    first, then the last healthy one): the policy's base, and the only other commits the
    engine renders (to roll back to), trusted because they were admitted when applied.
    """

    def __init__(
        self,
        source: git.GitSource,
        spec: render.RenderSpec,
        workdir: Path,
        policy: signing.Policy,
        applied: Callable[[], tuple[str, str]],
    ) -> None:
        self.source = source
        self.spec = spec
        self.workdir = workdir
        self.policy = policy
        self.applied = applied
        self._admitted: set[str] = set()

    def tip(self) -> str:
        sha = self.source.fetch()
        if sha not in self._admitted:
            self.policy.admit(sha, self.applied()[0])
            self._admitted.add(sha)
        return sha

    def render(self, sha: str) -> list[Obj]:
        if sha not in self._admitted and sha not in self.applied():
            raise SignatureError(f"commit {sha[:12]} was not admitted by the signature policy")
        try:
            left_out: list[tuple[str, str]] = []
            root = self.source.export(sha, self.workdir, left_out)
            return render.render(root, self.spec, left_out)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def fallback(self, sha: str) -> str | None:
        return None  # only a commit the agent saw healthy is trusted to roll back to


class StateRecord:
    """One ConfigMap of the agent's state namespace as a ``signing.Store``."""

    def __init__(self, records: inventory.Records, name: str) -> None:
        self.records = records
        self.name = name

    def read(self) -> Mapping[str, str] | None:
        return self.records.read(self.name)

    def write(self, data: Mapping[str, str]) -> None:
        self.records.write(self.name, data)


class ForgeAnnouncer:
    """Commit statuses (``bumper-agent``) and, after a rollback, a revert PR/MR."""

    def __init__(self, client: forge.Forge, source: git.GitSource) -> None:
        self.forge = client
        self.source = source

    def progressing(self, sha: str) -> None:
        self.forge.commit_status(sha, "pending", "applied; waiting for the rollout")

    def healthy(self, sha: str) -> None:
        self.forge.commit_status(sha, "success", "applied and healthy")

    def failed(self, sha: str, text: str) -> None:
        self.forge.commit_status(sha, "failure", text)

    def rolled_back(self, bad: str, good: str, reason: str) -> str | None:
        branch = f"bumper/revert-{bad[:12]}"
        message = f"Revert to {good[:12]}: {bad[:12]} failed health"
        try:
            self.source.push_revert(bad, good, branch, message, self.forge.token)
        except BumperError as error:
            log.warning("revert branch not pushed: %s", error)
            return None
        return self.forge.open_revert(bad, good, branch, reason)


class Agent:
    def __init__(
        self,
        cfg: AgentConfig,
        client: kube.Client,
        source: git.GitSource,
        *,
        state_namespace: str,
        forge_client: forge.Forge | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.reporter = reporter
        scope_ns = cfg.namespace if cfg.scope == "namespace" else None
        applier = apply.Applier(
            client,
            agent=cfg.name,
            manager=cfg.field_manager,
            conflicts=cfg.conflicts,
            default_namespace=cfg.namespace,
            scope_namespace=scope_ns,
            workers=cfg.workers,
        )
        spec = render.RenderSpec(
            mode=cfg.render,
            paths=tuple(cfg.paths),
            helm_release=cfg.helm_release,
            helm_namespace=cfg.namespace,
            helm_values=tuple(cfg.helm_values),
            helm_bin=cfg.helm_bin,
            kustomize_bin=cfg.kustomize_bin,
            allowed_remotes=tuple(cfg.allowed_remotes),
        )
        records = inventory.Records(client, state_namespace, manager=cfg.field_manager)
        policy = signing.Policy(
            source,
            signing.Ledger(StateRecord(records, f"{cfg.name}-signatures")),
            allow_rewind=cfg.allow_rewind,
            max_commits=cfg.max_verified_commits,
        )
        commits = GitCommits(
            source, spec, cfg.cache_dir / "checkout", policy, applied=self._applied
        )
        self.engine = Engine(
            client,
            applier,
            EngineSettings(
                name=cfg.name,
                health_timeout=cfg.health_timeout,
                rollback=cfg.rollback,
                prune=cfg.prune,
                max_shrink=cfg.max_shrink,
                force_prune=cfg.force_prune,
                bad_images_configmap=cfg.bad_images_configmap,
            ),
            commits,
            state_namespace=state_namespace,
            manager=cfg.field_manager,
            announce=ForgeAnnouncer(forge_client, source) if forge_client else None,
            bad_images=reporter.bad_images if reporter else ports.no_sink,
        )
        self.metrics = self.engine.metrics
        self._wake = threading.Event()
        self._busy = threading.Lock()
        self.started = False
        self.last_pass = 0.0
        self._running: list[dict[str, Any]] = []
        self._running_at = 0.0
        self._running_commit = ""

    @property
    def status(self) -> report.Status:
        return self.engine.status

    @property
    def owned(self) -> list[inventory.Entry]:
        return self.engine.owned

    def _applied(self) -> tuple[str, str]:
        """The live commit and the last healthy one, as the engine's status records them."""
        return (self.engine.status.commit, self.engine.status.last_healthy_commit)

    def trigger(self) -> None:
        self._wake.set()

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
                done = self.engine.reconcile(started)
                if done.result == "error":
                    result = "error"
                elif self.status.health in ("Healthy", "Progressing"):
                    result = "ok"
                else:
                    result = "degraded"
            except Exception as error:  # noqa: BLE001 - the loop must outlive any one pass
                log.exception("sync failed unexpectedly")
                result = "error"
                self.engine.fail(TransientError(f"unexpected {type(error).__name__}: {error}"))
                self.engine.save(final=True)
            self._observe(started)
            self.metrics.inc("bumper_agent_syncs_total", result=result)
            if self.reporter is not None:
                self.reporter.status(self.status)
                self._report_running()
            self.last_pass = time.time()  # last: /readyz flips only once the pass is reported
            return self.status

    def _report_running(self) -> None:
        """Observe and queue ``running`` when it may have changed (see the module's doc)."""
        assert self.reporter is not None
        now = time.monotonic()
        stale = now - self._running_at >= RUNNING_EVERY
        moved = self._running_commit != self.status.commit
        settling = not all(e["ready"] for e in self._running)
        if not (stale or moved or settling):
            return
        try:
            entries = self.engine.running()
        except BumperError as error:
            log.warning("running: not observed: %s", error)
            return
        except Exception:  # noqa: BLE001 - the loop must outlive any one observation
            log.exception("running: not observed (unexpected error)")
            return
        self._running_at, self._running_commit = now, self.status.commit
        if entries != self._running:
            for entry in entries[:MAX_RUNNING_LINES]:
                log.info(
                    "running %(namespace)s/%(kind)s/%(name)s %(container)s: %(repository)s"
                    " %(digest)s ready=%(ready)s commit=%(commit)s",
                    entry,
                )
        self._running = entries
        self.reporter.running(entries)

    def close(self, timeout: float = 10.0) -> None:
        """Before exit: send the reports still pending, for at most ``timeout`` seconds."""
        if self.reporter is not None and not self.reporter.close(timeout):
            log.warning("exiting with reports unsent to %s", self.reporter.url)

    def _observe(self, started: float) -> None:
        self.metrics.set("bumper_agent_sync_duration_seconds", time.monotonic() - started)
        self.metrics.set("bumper_agent_last_sync_timestamp_seconds", time.time())
        self.metrics.set("bumper_agent_managed_objects", len(self.owned))
        self.metrics.set("bumper_agent_healthy", 1.0 if self.status.health == "Healthy" else 0.0)
        self.metrics.set("bumper_agent_commit_info", 1.0, commit=self.status.commit)
        with self.client._lock:
            count = self.client.requests
        self.metrics.counters[("bumper_agent_api_requests_total", ())] = float(count)


def state_namespace(cfg: AgentConfig) -> str:
    if cfg.state_namespace:
        return cfg.state_namespace
    pod_ns = kube.IN_CLUSTER_DIR / "namespace"
    if pod_ns.is_file():
        return pod_ns.read_text().strip()
    return cfg.namespace
