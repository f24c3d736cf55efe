"""Push mode (step 8 of ARCHITECTURE.md): the worker applies a ``deploy: push`` target to its
cluster itself, verifies the rollout, and rolls back if it fails.

The rollout itself is ``bumper.reconcile`` (the same engine as the pull agent, with the same
records: the ``<name>-status`` and ``<name>-inventory`` ConfigMaps, the bad-image records,
Events). This module is push mode's side of the engine's seams and its reporting:

- ``CheckoutCommits``: commits come from a checkout of the branch; the tip's parent is the
  fallback when no commit was healthy yet (the commit a bump was made on);
- bad images also go to the worker store's hash, which the bump's policy screen reads, with
  the digest the worker saw pushed when the manifest names only a tag;
- the engine refuses a commit that could not be applied until the branch moves (a job has no
  next pass to retry in), and undoes what it partly applied.

``after_bump`` runs after every bump run of a push target, whatever that run changed: it
reconciles the branch tip with the cluster, keyed on the status ConfigMap, so a crashed or
retried job only repeats what is missing: the tip already live and healthy is ``unchanged``
(its render is re-applied, which heals drift); the ``failedCommit`` is ``refused`` (the
cluster stays on the last healthy commit until the branch moves); otherwise the tip is
applied and its rollout verified: ``healthy``, ``rolled-back`` or ``failed``.

Outcomes go to the decision log and, when a merged PR brought the change, to a PR comment.
A render error, a dry-run refusal or a failed rollback fail the job (``PermanentError``)
after being recorded; an API server that stays unreachable is a ``TransientError`` (retry).
What runs after a deploy (observed digests, ``Deployment.running``) is health evidence for
promotion pipelines under the deployer's name (``record_health``, ``worker.promotionstore``).
Must not: edit files, decide tags, import rq, or touch Redis except through ``Store`` and
``PromotionStore``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path
from typing import Any

from bumper import gitrepo
from bumper.agent import apply, kube, manifests, render
from bumper.agent.manifests import Obj
from bumper.core import changes, config, policy, refs
from bumper.errors import BumperError, TransientError
from bumper.reconcile import ports
from bumper.reconcile.engine import Engine, EngineSettings, ReconcileResult
from bumper.scm.base import ScmProvider
from worker import effect
from worker.context import WorkerContext
from worker.promotionstore import PromotionStore
from worker.records import BumpOutcome, Deployment, PushRequest
from worker.store import StoredCandidate
from worker.targets import ResolvedTarget

log = logging.getLogger("bumper.worker")

API_RETRY_SECONDS = 60.0  # the kube client rides out API restarts this long, then TransientError
PR_MEMORY_SECONDS = 30 * 86_400
BAD_CONFIGMAP = "bumper-bad-images"  # the agent's default name, in the state namespace
_CLIENTS: dict[tuple[str, str | None], kube.Client] = {}
DEFAULT_TOOLS = effect.Tools()  # helm and kustomize from PATH


# -- entry point (called by bump.bump_target) ------------------------------------------------


def after_bump(ctx: WorkerContext, request: PushRequest) -> Deployment:
    """Reconcile the target's cluster with its branch tip; log and comment on the outcome."""
    key = request.named.key
    deployer = deployer_for(ctx, request.named)
    name = deployer.name
    deployer.digests = _known_digests(request.outcome, request.seen)
    timeout, wait = ctx.settings.job_timeout_seconds, ctx.settings.lock_wait_seconds
    with ctx.store.deploy_lock(name, timeout=timeout, wait=wait):
        with ctx.cache.checkout(
            request.url, request.named.repo.branch, request.credentials
        ) as checkout:
            done = deployer.reconcile(checkout, key, request.started)
    log.info("push deploy %s %s: %s", key, done.state, done.message)
    record_health(ctx, name, done)
    if done.state in ("healthy", "rolled-back", "failed"):
        event = next((c.event for c in request.seen if done.ref.partition("@")[0] == c.tag), {})
        ctx.log(_decision(done), rule=request.named.rule, event=event, target=key)
        _comment(ctx, key, request.forge, request.outcome, done)
    _remember_pr(ctx, key, request.outcome)
    return done


def record_health(ctx: WorkerContext, name: str, done: Deployment) -> None:
    """Push mode's health evidence for promotion pipelines: what runs after the deploy, under
    the deployer's name (an environment names it in ``agent:``), stamped with the worker's
    clock, as the web stamps an agent's report. Nothing when nothing could be observed: an
    unreadable cluster is not evidence that the digests stopped running."""
    if done.running:
        PromotionStore(ctx.store.redis).record_running(name, done.running, time.time())


def deployer_for(ctx: WorkerContext, named: ResolvedTarget) -> Deployer:
    """The deployer of a push target, rendering with the worker's executables: the settings
    that govern a PR's rendered effect (``BUMPER_WORKER__HELM_BIN``, ``__KUSTOMIZE_BIN``)."""
    cluster = named.target.push_cluster()
    return Deployer(
        client_for(cluster, ctx.config_dir),
        cluster,
        cluster.name or default_name(named.key),
        named.rule,
        bad_images=ctx.store.mark_bad_images,
        tools=effect.Tools.from_settings(ctx.settings),
    )


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


# -- push mode's ports of the engine ---------------------------------------------------------


class CheckoutCommits:
    """Commits from a checkout of the target's branch; the tip's parent is the fallback."""

    def __init__(self, checkout: gitrepo.Checkout, spec: render.RenderSpec) -> None:
        self.checkout = checkout
        self.spec = spec
        self.head = checkout.head()  # the tip, before rendering another commit moves HEAD

    def tip(self) -> str:
        return self.head

    def render(self, sha: str) -> list[Obj]:
        if self.checkout.head() != sha:
            self.checkout.reset(sha)
        return render.render(self.checkout.root, self.spec)

    def fallback(self, sha: str) -> str | None:
        done = self.checkout.git.run(
            ["rev-parse", "--verify", "--quiet", f"{sha}^"], self.checkout.root, check=False
        )
        return done.stdout.strip() or None


class Deployer:
    """Runs the reconcile engine for one target on one cluster, and words its outcome."""

    def __init__(
        self,
        client: kube.Client,
        cluster: config.Cluster,
        name: str,
        rule: config.Image,
        *,
        bad_images: ports.BadImageSink = ports.no_sink,
        tools: effect.Tools = DEFAULT_TOOLS,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.name = name
        self.bad_images = bad_images
        self.names = {rule.image, refs.familiar(rule.image)}
        self.digests: dict[str, str] = {}  # tag → digest pushed for it, when the worker knows
        self.state_namespace = cluster.state_namespace or cluster.namespace
        self.spec = render.RenderSpec(
            mode=cluster.render,
            paths=tuple(cluster.paths),
            helm_release=cluster.helm_release,
            helm_namespace=cluster.namespace,
            helm_values=tuple(cluster.helm_values),
            # the same executables as a PR's rendered effect (BUMPER_WORKER__HELM_BIN, ...)
            helm_bin=tools.helm_bin,
            kustomize_bin=tools.kustomize_bin,
        )
        self.settings = EngineSettings(
            name=name,
            health_timeout=cluster.health_timeout,
            prune=cluster.prune,
            bad_images_configmap=BAD_CONFIGMAP,
            refuse_failed=True,
        )
        self.where = f"{cluster.context or 'cluster'}/{cluster.namespace}"

    def engine(self, checkout: gitrepo.Checkout) -> Engine:
        applier = apply.Applier(
            self.client,
            agent=self.name,
            manager=self.cluster.field_manager,
            conflicts="force",
            default_namespace=self.cluster.namespace,
        )
        return Engine(
            self.client,
            applier,
            self.settings,
            CheckoutCommits(checkout, self.spec),
            state_namespace=self.state_namespace,
            manager=self.cluster.field_manager,
            bad_images=self.bad_images,
            blame=self._with_digest,
        )

    def reconcile(self, checkout: gitrepo.Checkout, key: str, started: float) -> Deployment:
        """One engine pass on the checkout's tip; ``TransientError`` when it must be retried."""
        engine = self.engine(checkout)
        result = engine.reconcile(started)
        if isinstance(result.error, TransientError):
            raise result.error
        done = self._deployment(key, result, started)
        done.running = _observed(engine)
        return done

    # -- wording --------------------------------------------------------------------------

    def _deployment(self, key: str, result: ReconcileResult, started: float) -> Deployment:
        tip = result.tip
        done = Deployment(
            key,
            tip,
            "failed",
            "",
            ref=self._ref_in(result.rendered),
            previous=result.previous,
            applied=result.applied,
            seconds=result.seconds if result.seconds is not None else time.monotonic() - started,
            rollback_seconds=result.rollback_seconds,
            bad=result.bad,
        )
        if result.result == "unchanged":
            done.state, done.message = "unchanged", f"{tip[:12]} is live and healthy"
        elif result.result == "stayed":
            stay = f"staying on {result.target[:12]}" if result.target else "nothing applied"
            done.state = "refused"
            done.message = f"{tip[:12]} failed before; {stay} until the branch moves"
        elif result.result == "healthy":
            done.state = "healthy"
            done.message = (
                f"applied {done.applied} objects of {tip[:12]} to {self.where}; "
                f"rollout healthy after {done.seconds:.1f}s"
            )
        elif result.result == "rolled-back":
            done.state = "rolled-back"
            done.message = (
                f"{tip[:12]} failed its rollout on {self.where}: {result.reason}; rolled back "
                f"to {(result.previous or '')[:12]} in {done.rollback_seconds or 0:.1f}s; "
                f"marked bad: {', '.join(done.bad) or 'none'}"
            )
        elif result.result == "error":
            done.message = f"{tip[:12]} not deployed to {self.where}: {result.reason}"
        else:
            done.message = _degraded(tip, result)
        return done

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


def _observed(engine: Engine) -> list[dict[str, Any]]:
    """What runs after the pass, as an agent would report it; nothing when it cannot be read
    (the deploy's outcome stands either way)."""
    try:
        return engine.running()
    except BumperError as error:
        log.warning("running: not observed: %s", error)
        return []


def _degraded(tip: str, result: ReconcileResult) -> str:
    if not result.tip_failed:
        return f"{tip[:12]} is applied but unhealthy: {result.reason}"
    if result.restore == "":
        return f"{tip[:12]} failed its rollout ({result.reason}) and there is no previous commit"
    if result.restore == "refused":
        return f"{tip[:12]} failed its rollout ({result.reason}); the rollback was refused"
    return f"{tip[:12]} failed its rollout ({result.reason}); the rollback is unhealthy too"


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
        remembered = ctx.store.push_pr(key)
        if remembered is None:
            return
        number = remembered["number"]
        if forge.get_pr(int(number)).state != "merged":
            return
    with ctx.store.once(
        f"push-commented:{key}:{done.commit}:{done.state}", PR_MEMORY_SECONDS
    ) as first:
        if not first:
            return
        forge.comment(int(number), comment_text(done))
    ctx.store.forget_push_pr(key)


def _remember_pr(ctx: WorkerContext, key: str, outcome: BumpOutcome) -> None:
    """An open bump PR of a push target: its merge is deployed by a later run, which comments."""
    pr = outcome.pr or {}
    if pr.get("number") is not None and pr.get("state") in ("opened", "updated", "unchanged"):
        entry = {"number": pr["number"], "url": pr.get("url")}
        ctx.store.remember_push_pr(key, entry, ttl=PR_MEMORY_SECONDS)


def comment_text(done: Deployment) -> str:
    # The message quotes the cluster (health reasons, API errors): one line, bounded.
    message = changes.inline(done.message, 2000)
    if done.state == "healthy":
        return f"Bumper deployed `{done.commit[:12]}` (push mode): {message}."
    if done.state == "rolled-back":
        bad = ", ".join(f"`{changes.inline(b, 300)}`" for b in done.bad)
        return (
            f"Bumper deployed `{done.commit[:12]}` (push mode) and **rolled it back**: "
            f"{message}. These images will not be proposed again: {bad or 'none identified'}."
        )
    return f"Bumper could **not** deploy `{done.commit[:12]}` (push mode): {message}."
