"""Push mode (step 8 of ARCHITECTURE.md): the worker applies a ``deploy: push`` target to its
cluster itself, verifies the rollout, and rolls back if it fails.

It reuses the pull agent's modules and record formats, so both strategies behave and report
alike: ``render`` (plain | kustomize | helm), ``apply.Applier`` (server-side dry-run of the
whole change set, then server-side apply with the field manager ``bumper-push``, and prune of
its own inventory), ``rollout`` (health), ``badimages`` (the bad-image record the bump's
policy screen reads), ``status`` (the ``<name>-status`` ConfigMap) and ``inventory``.

``after_bump`` runs after every bump run of a push target, whatever that run changed: it
reconciles the branch tip with the cluster, keyed on the status ConfigMap in the cluster, so
a crashed or retried job only repeats what is missing:

- the tip is live and ``Healthy`` → nothing to do (one GET);
- the tip is the ``failedCommit`` → the cluster stays rolled back until the branch moves;
- otherwise: status ``Progressing`` → render the tip → sync → wait for the workloads it
  changed (every workload of the render when a job re-runs the same tip, since its re-apply
  changes nothing) → ``Healthy``. On failure: the images it introduced into the unhealthy
  workloads are recorded as bad (with the pushed digest when the worker knows it), the
  previous commit's render (``lastHealthyCommit``, else the tip's parent) is applied and
  waited for, and the status says ``RolledBack``.

Outcomes go to the decision log and, when a merged PR brought the change, to a PR comment.
A render error, a dry-run refusal or a failed rollback fail the job (``PermanentError``)
after being recorded; an API server that stays unreachable is a ``TransientError`` (retry).
Must not: edit files, decide tags, or import rq.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from redis import Redis

from bumper import gitrepo
from bumper.agent import apply, badimages, inventory, kube, manifests, render
from bumper.agent import status as report
from bumper.agent.manifests import Key, Obj
from bumper.core import config, policy, refs
from bumper.errors import PermanentError, TransientError
from bumper.reconcile import waiting as rollout
from bumper.scm.base import ScmProvider

if TYPE_CHECKING:
    from worker.bump import BumpOutcome, WorkerContext
    from worker.store import StoredCandidate

log = logging.getLogger("bumper.worker")

State = Literal["healthy", "unchanged", "refused", "rolled-back", "failed"]
API_RETRY_SECONDS = 60.0  # the kube client rides out API restarts this long, then TransientError
PR_MEMORY_SECONDS = 30 * 86_400
BAD_CONFIGMAP = "bumper-bad-images"  # the agent's default name, in the state namespace
_CLIENTS: dict[tuple[str, str | None], kube.Client] = {}


@dataclass
class Deployment:
    """What one push deploy did. ``seconds``: from the bump job's start until the rollout was
    verified (or found failed); ``rollback_seconds``: from then until the previous render was
    live and healthy again."""

    target: str
    commit: str
    state: State
    message: str
    ref: str = ""  # the rule's image as the tip's render has it (tag[@digest])
    previous: str | None = None
    applied: int = 0
    seconds: float = 0.0
    rollback_seconds: float | None = None
    bad: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "commit": self.commit,
            "previous": self.previous,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "rollback_seconds": (
                None if self.rollback_seconds is None else round(self.rollback_seconds, 2)
            ),
            "bad": self.bad,
        }

    def raise_if_failed(self) -> None:
        if self.state == "failed":
            raise PermanentError(f"push deploy of {self.target}: {self.message}", reason="deploy")


# -- entry point (called by bump.bump_target) ------------------------------------------------


def after_bump(
    ctx: WorkerContext,
    key: str,
    rule: config.Image,
    target: config.Target,
    repo: config.Repo,
    outcome: BumpOutcome,
    seen: list[StoredCandidate],
    *,
    remote: tuple[str, gitrepo.Credentials | None],
    forge: ScmProvider | None,
    started: float,
) -> Deployment:
    """Reconcile the target's cluster with its branch tip; log and comment on the outcome."""
    cluster = target.push_cluster()
    name = cluster.name or default_name(key)
    client = client_for(cluster, ctx.config_dir)
    deployer = Deployer(client, cluster, name, rule, redis=ctx.store.redis)
    deployer.digests = _known_digests(outcome, seen)
    lock = ctx.store.redis.lock(
        f"bumper:lock:deploy:{name}",
        timeout=ctx.settings.job_timeout_seconds,
        blocking_timeout=ctx.settings.lock_wait_seconds,
    )
    if not lock.acquire():
        raise TransientError(f"deployer {name!r} is busy", delay=5, reason="busy")
    try:
        url, creds = remote
        with ctx.cache.checkout(url, repo.branch, creds) as checkout:
            done = deployer.reconcile(checkout, key, started)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired under a very slow rollout; nothing to undo
            pass
    log.info("push deploy %s %s: %s", key, done.state, done.message)
    if done.state in ("healthy", "rolled-back", "failed"):
        event = next((c.event for c in seen if done.ref.partition("@")[0] == c.tag), {})
        ctx.log(_decision(done), rule=rule, event=event, target=key)
        _comment(ctx, key, forge, outcome, done)
    _remember_pr(ctx, key, outcome)
    return done


def default_name(key: str) -> str:
    """``api/1`` → ``bumper-push-api-1``: a DNS label, with a hash when it had to be cut."""
    slug = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")
    name = f"bumper-push-{slug}"
    if len(name) > 42:
        digest = hashlib.sha256(key.encode()).hexdigest()[:6]
        name = f"{name[:35].rstrip('-')}-{digest}"
    return name


def client_for(cluster: config.Cluster, base: Path) -> kube.Client:
    """One API client per kubeconfig + context (in-cluster when no kubeconfig is given)."""
    path = None
    if cluster.kubeconfig is not None:
        path = Path(cluster.kubeconfig)
        path = path if path.is_absolute() else (base / path).resolve()
    cache_key = (str(path or "in-cluster"), cluster.context)
    client = _CLIENTS.get(cache_key)
    if client is None:
        conn = kube.from_kubeconfig(path, cluster.context) if path else kube.in_cluster()
        client = kube.Client(conn, retry_for=API_RETRY_SECONDS)
        _CLIENTS[cache_key] = client
    return client


# -- the deployer ----------------------------------------------------------------------------


class Deployer:
    """Applies one target's render to one cluster with the agent's applier and records."""

    def __init__(
        self,
        client: kube.Client,
        cluster: config.Cluster,
        name: str,
        rule: config.Image,
        *,
        redis: Redis | None = None,
    ) -> None:
        self.cluster = cluster
        self.redis = redis
        self.name = name
        self.rule = rule
        self.names = {rule.image, refs.familiar(rule.image)}
        self.digests: dict[str, str] = {}  # tag → digest pushed for it, when the worker knows
        state_ns = cluster.state_namespace or cluster.namespace
        self.applier = apply.Applier(
            client,
            agent=name,
            manager=cluster.field_manager,
            conflicts="force",
            default_namespace=cluster.namespace,
        )
        self.records = inventory.Records(client, state_ns, manager=cluster.field_manager)
        self.events = report.Events(client, component=name, namespace=state_ns)
        self.spec = render.RenderSpec(
            mode=cluster.render,
            paths=tuple(cluster.paths),
            helm_release=cluster.helm_release,
            helm_namespace=cluster.namespace,
            helm_values=tuple(cluster.helm_values),
        )
        self.where = f"{cluster.context or 'cluster'}/{cluster.namespace}"

    @property
    def status_name(self) -> str:
        return f"{self.name}-status"

    @property
    def inventory_name(self) -> str:
        return f"{self.name}-inventory"

    def reconcile(self, checkout: gitrepo.Checkout, key: str, started: float) -> Deployment:
        tip = checkout.head()
        status = report.Status.from_data(self.records.read(self.status_name))
        if status.commit == tip and status.health == "Healthy":
            return Deployment(key, tip, "unchanged", f"{tip[:12]} is live and healthy")
        if tip == status.failed_commit:
            stay = f"staying on {status.commit[:12]}" if status.commit else "nothing applied"
            message = f"{tip[:12]} failed before; {stay} until the branch moves"
            return Deployment(key, tip, "refused", message)
        retry = status.commit == tip  # a re-run: the re-apply changes nothing, so check all
        live_before = status.commit
        previous = status.last_healthy_commit or _parent(checkout, tip)
        status.revision = status.commit = tip
        self._save(status, "Progressing", f"applying {tip[:12]}")
        done = Deployment(key, tip, "healthy", "", previous=previous)
        try:
            desired = render.render(checkout.root, self.spec)
        except render.RenderError as error:
            status.commit = live_before
            return self._failed(status, done, f"render: {error}", started)
        done.ref = self._ref_in(desired)
        try:
            out = self._sync(desired)
        except apply.ApplyError as error:
            # A dry-run refusal applied nothing; a later failure may have applied part of it.
            # Re-applying the previous render is right (and a no-op) in both cases.
            reason = f"apply: {error}"
            if previous and self._roll_back_to(checkout, previous, done, started):
                status.commit = previous
            else:
                status.commit = live_before
            return self._failed(status, done, reason, started)
        done.applied = len(out.applied)
        keys = rollout.workloads(out.desired if retry else out.applied, out.resources)
        timeout = self.cluster.health_timeout
        failed = rollout.failures(rollout.wait_healthy(self.applier, keys, out.resources, timeout))
        done.seconds = time.monotonic() - started
        if not failed:
            status.failed_commit, status.last_error = "", ""
            status.last_healthy_commit = tip
            done.message = (
                f"applied {done.applied} objects of {tip[:12]} to {self.where}; "
                f"rollout healthy after {done.seconds:.1f}s"
            )
            self._save(status, "Healthy", done.message)
            return done
        return self._after_failed_rollout(checkout, status, out, failed, done, started)

    # -- failure paths ------------------------------------------------------------------------

    def _after_failed_rollout(
        self,
        checkout: gitrepo.Checkout,
        status: report.Status,
        out: apply.SyncResult,
        failed: dict[Key, Any],
        done: Deployment,
        started: float,
    ) -> Deployment:
        reason = rollout.describe(failed)
        tip, previous = done.commit, done.previous
        before = self._render_at(checkout, previous) if previous else None
        healthy = {p.key: p.obj for p in self.applier.plan(before or [])}
        done.bad = [self._with_digest(i) for i in badimages.suspects(failed, out.desired, healthy)]
        self._mark_bad(done.bad, tip, reason)
        status.failed_commit, status.last_error = tip, reason
        log.error("push deploy of %s failed its rollout: %s", tip[:12], reason)
        if previous is None or before is None:
            done.state = "failed"
            done.message = (
                f"{tip[:12]} failed its rollout ({reason}) and there is no previous commit"
            )
            self._save(status, "Degraded", done.message)
            return done
        if not self._roll_back_to(checkout, previous, done, started, rendered=before):
            done.state = "failed"
            done.message = (
                f"{tip[:12]} failed its rollout ({reason}); the rollback is unhealthy too"
            )
            self._save(status, "Degraded", done.message)
            return done
        done.state = "rolled-back"
        done.message = (
            f"{tip[:12]} failed its rollout on {self.where}: {reason}; rolled back to "
            f"{previous[:12]} in {done.rollback_seconds or 0:.1f}s; marked bad: "
            f"{', '.join(done.bad) or 'none'}"
        )
        status.commit = previous
        self._save(status, "RolledBack", done.message)
        self.events.emit("RolledBack", done.message, warning=True)
        return done

    def _roll_back_to(
        self,
        checkout: gitrepo.Checkout,
        previous: str,
        done: Deployment,
        started: float,
        *,
        rendered: list[Obj] | None = None,
    ) -> bool:
        """Apply ``previous``'s render and wait for it; whether it is live and healthy."""
        failed_at = time.monotonic()
        if not done.seconds:
            done.seconds = failed_at - started
        objs = rendered if rendered is not None else self._render_at(checkout, previous)
        if objs is None:
            return False
        try:
            out = self._sync(objs)
        except apply.ApplyError as error:
            log.error("rollback to %s refused: %s", previous[:12], error)
            return False
        keys = rollout.workloads(out.desired, out.resources)
        timeout = self.cluster.health_timeout
        verdicts = rollout.wait_healthy(self.applier, keys, out.resources, timeout)
        done.rollback_seconds = time.monotonic() - failed_at
        return not rollout.failures(verdicts)

    def _failed(
        self, status: report.Status, done: Deployment, reason: str, started: float
    ) -> Deployment:
        done.state = "failed"
        done.seconds = done.seconds or time.monotonic() - started
        done.message = f"{done.commit[:12]} not deployed to {self.where}: {reason}"
        status.failed_commit, status.last_error = done.commit, reason
        self._save(status, "Error", done.message)
        self.events.emit("SyncFailed", done.message, warning=True)
        return done

    # -- helpers ------------------------------------------------------------------------------

    def _sync(self, desired: list[Obj]) -> apply.SyncResult:
        owned = inventory.load_entries(self.records.read(self.inventory_name))
        out = self.applier.sync(desired, owned, prune=self.cluster.prune)
        if sorted(out.inventory) != sorted(owned):
            self.records.write(self.inventory_name, inventory.dump_entries(out.inventory))
        if out.prune_refused:
            log.warning("push deploy %s: %s", self.name, out.prune_refused)
        return out

    def _render_at(self, checkout: gitrepo.Checkout, sha: str) -> list[Obj] | None:
        """The render of another commit, or None when it is gone or does not render."""
        try:
            checkout.reset(sha)
            return render.render(checkout.root, self.spec)
        except (gitrepo.GitError, render.RenderError) as error:
            log.error("cannot render %s: %s", sha[:12], error)
            return None

    def _save(self, status: report.Status, health: str, message: str) -> None:
        status.health, status.message = health, message
        status.last_sync_time = report.now_rfc3339()
        self.records.write(self.status_name, status.to_data())

    def _ref_in(self, desired: list[Obj]) -> str:
        for obj in desired:
            for image in manifests.images(obj):
                ref = manifests.ImageRef.split(image)
                if ref.repository in self.names:
                    return "@".join(p for p in (ref.tag, ref.digest) if p)
        return ""

    def _with_digest(self, image: str) -> str:
        """``repo:tag`` → ``repo:tag@digest`` when it is the rule's image and the push named a
        digest: the exact build is marked bad, so a fixed rebuild of the same tag may pass."""
        ref = manifests.ImageRef.split(image)
        digest = self.digests.get(ref.tag or "")
        if ref.digest is None and digest and ref.repository in self.names:
            return f"{image}@{digest}"
        return image

    def _mark_bad(self, images: list[str], commit: str, reason: str) -> None:
        at = report.now_rfc3339()
        records = [
            badimages.record_for(i, commit=commit, reason=reason, at=at, agent=self.name)
            for i in images
        ]
        # The agent's two places: the ConfigMap beside the status, and the Redis hash that the
        # bump's policy screen (``Store.bad_image``) reads.
        badimages.store(records, state=self.records, configmap=BAD_CONFIGMAP)
        if records and self.redis is not None:
            fields = {badimages.field_of(r): json.dumps(r) for r in records}
            self.redis.hset(badimages.REDIS_KEY, mapping=fields)  # type: ignore[arg-type]


def _parent(checkout: gitrepo.Checkout, sha: str) -> str | None:
    done = checkout.git.run(
        ["rev-parse", "--verify", "--quiet", f"{sha}^"], checkout.root, check=False
    )
    return done.stdout.strip() or None


def _known_digests(outcome: BumpOutcome, seen: list[StoredCandidate]) -> dict[str, str]:
    digests = {c.tag: c.digest for c in seen if c.digest}
    if outcome.result is not None and outcome.result.digest:
        digests[outcome.result.tag] = outcome.result.digest
    return digests


# -- reporting -------------------------------------------------------------------------------


def _decision(done: Deployment) -> policy.Decision:
    candidate = done.ref or done.commit[:12]
    if done.state == "healthy":
        return policy.Decision(candidate, "push-rollout", "accepted", done.message)
    rule = "rollout-failed" if done.state == "rolled-back" else "push-failed"
    return policy.Decision(candidate, rule, "rejected", done.message)


def _comment(
    ctx: WorkerContext, key: str, forge: ScmProvider | None, outcome: BumpOutcome, done: Deployment
) -> None:
    """Tell the PR that brought the change how its rollout went (once per commit and state)."""
    if forge is None or not forge.supports_pull_requests:
        return
    pr = outcome.pr or {}
    number = pr.get("number") if pr.get("state") == "merged" else None
    if number is None:
        remembered = ctx.store.redis.get(f"bumper:push:pr:{key}")
        if remembered is None:
            return
        number = json.loads(remembered)["number"]
        if forge.get_pr(int(number)).state != "merged":
            return
    mark = f"bumper:push:commented:{key}:{done.commit}:{done.state}"
    if not ctx.store.redis.set(mark, b"1", nx=True, ex=PR_MEMORY_SECONDS):
        return
    try:
        forge.comment(int(number), comment_text(done))
    except BaseException:
        ctx.store.redis.delete(mark)  # let the retry comment
        raise
    ctx.store.redis.delete(f"bumper:push:pr:{key}")


def _remember_pr(ctx: WorkerContext, key: str, outcome: BumpOutcome) -> None:
    """An open bump PR of a push target: its merge is deployed by a later run, which comments."""
    pr = outcome.pr or {}
    if pr.get("number") is not None and pr.get("state") in ("opened", "updated", "unchanged"):
        entry = json.dumps({"number": pr["number"], "url": pr.get("url")})
        ctx.store.redis.set(f"bumper:push:pr:{key}", entry, ex=PR_MEMORY_SECONDS)


def comment_text(done: Deployment) -> str:
    if done.state == "healthy":
        return f"Bumper deployed `{done.commit[:12]}` (push mode): {done.message}."
    if done.state == "rolled-back":
        return (
            f"Bumper deployed `{done.commit[:12]}` (push mode) and **rolled it back**: "
            f"{done.message}. These images will not be proposed again: "
            f"{', '.join(f'`{b}`' for b in done.bad) or 'none identified'}."
        )
    return f"Bumper could **not** deploy `{done.commit[:12]}` (push mode): {done.message}."
