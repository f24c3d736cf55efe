"""The promotion engine: read the evidence and records of each pipeline, ask
``bumper.core.promotion`` where each digest stands, and promote through the bump path.

``evaluate`` runs in the ``evaluate_promotions`` job (``worker.jobs``): queued by the web
process when an agent's report arrives, and on a scheduled tick, which notices soak timers that
ran out and CI results. A promotion is a candidate ``tag@digest`` (the digest observed running
in the previous environment) added to the next environment's rule's targets, bumped by the
ordinary bump job (``worker.bump``), which pins the digest. ``after_bump`` records the change
(commit or PR) and the commit that carries the digest; each evaluation writes the statuses that
changed on those commits (``worker.promotionstatus``) where the forge has statuses.

Every status change goes to the decision log (``bumper log``) under the environment's rule
(``<pipeline>.<environment>``).
Must not: import rq (``worker.jobs`` is the RQ shell).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from bumper.core import config, policy, promotion, refs
from bumper.errors import InvalidReference
from worker import promotionstatus, store
from worker.context import WorkerContext
from worker.promotionstore import PromotionStore
from worker.records import BumpOutcome
from worker.targets import ResolvedTarget, target_key

log = logging.getLogger("bumper.worker")

RequestBump = Callable[[str], str]


def environments(
    pipeline: config.Pipeline, reported: Collection[str]
) -> list[promotion.Environment]:
    """The pipeline's environments as ``bumper.core.promotion`` sees them; ``reported``: the
    agents (and push deployers) that ever sent a report."""
    made = []
    for env in pipeline.environments:
        gate = env.gate
        ci = None
        if gate is not None and gate.ci is not None:
            ci = gate.ci + (f"/{gate.workflow}" if gate.workflow else "")
        made.append(
            promotion.Environment(
                env.name,
                env.agent,
                promotion.Gate(
                    healthy_for=gate.healthy_for if gate else None,
                    ci=ci,
                    approval=bool(gate and gate.approval == "pr"),
                ),
                reported=env.agent in reported,
            )
        )
    return made


def _normal(repository: str) -> str | None:
    try:
        return refs.parse(repository).name
    except InvalidReference:
        return None


def digests(
    ctx: WorkerContext, pipeline: config.Pipeline, now: float
) -> list[tuple[promotion.Digest, dict[str, Any]]]:
    """Every digest known of ``pipeline``'s image, with its evidence, and its stored record."""
    pstore = PromotionStore(ctx.store.redis)
    records = pstore.digests(pipeline.name)
    seen: dict[str, dict[str, promotion.Evidence]] = {}
    tags: dict[str, str] = {}
    for env in pipeline.environments:
        if env.agent is None:
            continue
        for field, raw in pstore.evidence(env.agent).items():
            repository, _, digest = field.rpartition("@")
            if _normal(repository) != pipeline.image:
                continue
            unready = raw.get("unready")
            seen.setdefault(digest, {})[env.name] = promotion.Evidence(
                ready_since=raw.get("ready_since"),
                last_ready_at=raw.get("last_ready_at"),
                unready=str(unready) if unready else None,
            )
            if raw.get("tag"):
                tags.setdefault(digest, str(raw["tag"]))
    first = pipeline.environments[0].name
    for digest in seen:
        if first in seen[digest] and digest not in records:
            records[digest] = {"tag": tags.get(digest), "first_seen": now}
    evidences = {}
    for digest, record in records.items():
        tag = str(record.get("tag") or tags.get(digest) or "")
        evidences[digest] = _with_failures(ctx, pipeline, tag, digest, seen.get(digest, {}))
    # a digest that failed in the first environment was rolled back: it supersedes nothing
    newest = max(
        (d for d in records if first in seen.get(d, {}) and not _failed(evidences[d], first)),
        key=lambda d: records[d].get("first_seen") or 0,
        default=None,
    )
    brought = pstore.brought(pipeline.name)
    made = []
    for digest, record in records.items():
        tag = str(record.get("tag") or tags.get(digest) or "")
        evidence = evidences[digest]
        entered = {env: _entered(e) for env, e in (record.get("entered") or {}).items()}
        newer = newest if newest not in (None, digest) else None
        if newer is not None and records[newer].get("first_seen", 0) < record.get("first_seen", 0):
            newer = None
        view = promotion.Digest(
            digest,
            tag,
            evidence,
            entered,
            _ci(ctx, pipeline, tag),
            superseded_by=newer,
            tag_policy=bool(tag) and tag in brought,
        )
        made.append((view, record))
    return made


def _entered(raw: dict[str, Any]) -> promotion.Entered:
    merged = raw.get("merged_at")
    return promotion.Entered(
        float(raw.get("at") or 0),
        str(raw.get("change") or ""),
        merged_at=float(merged) if isinstance(merged, int | float) else None,
        closed=bool(raw.get("closed")),
    )


def _failed(evidence: dict[str, promotion.Evidence], environment: str) -> bool:
    return environment in evidence and evidence[environment].failed is not None


def _with_failures(
    ctx: WorkerContext,
    pipeline: config.Pipeline,
    tag: str,
    digest: str,
    seen: dict[str, promotion.Evidence],
) -> dict[str, promotion.Evidence]:
    """Every environment's evidence of the digest, with the failure its agent reported."""
    evidence = dict(seen)
    for env in pipeline.environments:
        failed = _failure(ctx, pipeline, env, tag, digest)
        if failed is not None:
            before = evidence.get(env.name, promotion.Evidence())
            evidence[env.name] = dataclasses.replace(before, failed=failed)
    return evidence


def _failure(
    ctx: WorkerContext, pipeline: config.Pipeline, env: config.Environment, tag: str, digest: str
) -> str | None:
    """The reason an unhealthy report of ``env``'s agent gave for the digest, if any."""
    if env.agent is None:
        return None
    names = list(dict.fromkeys([pipeline.image, refs.familiar(pipeline.image)]))
    record = ctx.store.bad_image(names, tag, digest)
    if record is None or record.get("agent") not in (env.agent, None):
        return None
    return str(record.get("reason") or "failed health")


def _ci(ctx: WorkerContext, pipeline: config.Pipeline, tag: str) -> promotion.CiStatus | None:
    gates = [e.gate.ci_gate() for e in pipeline.environments[1:] if e.gate is not None]
    gate = next((g for g in gates if g is not None), None)
    if gate is None or not tag:
        return None  # no CI gate: no lookup per digest
    revision = PromotionStore(ctx.store.redis).revision(pipeline.name, tag)
    if revision is None:
        return None
    result = ctx.store.ci_result(revision)
    if result is None or not gate.matches_record(result):
        return None
    status = result.get("status")
    return status if status in ("success", "failure", "cancelled") else "unknown"  # type: ignore[return-value]


def gated_by_ci(cfg: config.BumperConfig) -> bool:
    """True when some pipeline's later environment waits for CI results (``ci:``)."""
    return any(
        env.gate is not None and env.gate.ci is not None
        for pipeline in cfg.pipelines
        for env in pipeline.environments[1:]
    )


def evaluate(ctx: WorkerContext, request_bump: RequestBump, now: float | None = None) -> int:
    """Decide every pipeline's digests; promote the ones whose gate passed. The number of
    promotions queued."""
    now = time.time() if now is None else now
    queued = 0
    pstore = PromotionStore(ctx.store.redis)
    reported = pstore.reported()
    for pipeline in ctx.config.pipelines:
        envs = environments(pipeline, reported)
        _approvals(ctx, pipeline, now)
        changed: dict[str, dict[str, Any]] = {}
        evaluated: list[promotionstatus.Evaluated] = []
        for view, record in digests(ctx, pipeline, now):
            plan = promotion.decide(envs, view, now, pipeline.max_report_age or 300)
            if plan.promote is not None:
                _promote(ctx, pipeline, view, plan.promote, request_bump)
                queued += 1
                entered = {**view.entered, plan.promote: promotion.Entered(now, "queued")}
                view = dataclasses.replace(view, entered=entered)
                plan = promotion.decide(envs, view, now, pipeline.max_report_age or 300)
            statuses = [
                {
                    "environment": s.environment,
                    "state": s.state,
                    "detail": s.detail,
                    "since": s.since,
                    "until": s.until,
                }
                for s in plan.statuses
            ]
            if statuses != record.get("statuses"):
                _log_changes(ctx, pipeline, view, record.get("statuses") or [], statuses)
            evaluated.append((view, statuses))
            changed[view.digest] = {  # the fields computed here: not ``entered`` (bump jobs)
                "first_seen": record.get("first_seen"),
                "tag": view.tag,
                "statuses": statuses,
                "evaluated_at": now,
            }
        promotionstatus.publish(ctx, pipeline, evaluated)
        pstore.save_digests(pipeline.name, changed)
    return queued


def _approvals(ctx: WorkerContext, pipeline: config.Pipeline, now: float) -> None:
    """Ask the forge about each promotion PR still waiting for a human (``approval: pr``) and
    record its merge or its closing: one PR read per waiting PR and evaluation."""
    gated = {e.name for e in pipeline.environments if e.gate and e.gate.approval == "pr"}
    pstore = PromotionStore(ctx.store.redis)
    for digest, record in pstore.digests(pipeline.name).items():
        for env, entered in (record.get("entered") or {}).items():
            if env not in gated or entered.get("merged_at") or entered.get("closed"):
                continue
            state = _pr_state(ctx, entered)
            if state == "merged":
                pstore.update_entered(pipeline.name, digest, env, now, merged_at=now)
            elif state == "closed":
                pstore.update_entered(pipeline.name, digest, env, now, closed=True)


def _pr_state(ctx: WorkerContext, entered: dict[str, Any]) -> str | None:
    repo = ctx.config.repo(str(entered.get("repo") or ""))
    number = entered.get("pr")
    if repo is None or not isinstance(number, int) or ctx.forges is None:
        return None
    try:
        return ctx.forges.for_repo(repo).get_pr(number).state
    except Exception as error:  # the forge is down: ask again at the next evaluation
        log.warning("promotion PR #%s not read: %s", number, type(error).__name__)
        return None


def _promote(
    ctx: WorkerContext,
    pipeline: config.Pipeline,
    view: promotion.Digest,
    environment: str,
    request_bump: RequestBump,
) -> None:
    index = [e.name for e in pipeline.environments].index(environment)
    rule = ctx.config.image(pipeline.rule_name(index))
    assert rule is not None
    now = time.time()
    event = {
        "type": "image.pushed",
        "image": pipeline.image,
        "tag": view.tag,
        "digest": view.digest,
        "source": "promotion",
        "delivery_id": f"promote-{pipeline.name}-{environment}-{view.digest[-12:]}",
        "received_at": now,
        "extra": {"promotion": {"pipeline": pipeline.name, "environment": environment}},
    }
    PromotionStore(ctx.store.redis).enter(pipeline.name, view.digest, environment, "queued", now)
    candidate = store.StoredCandidate(view.tag, view.digest, event)
    for t_index in range(len(rule.targets)):
        key = target_key(rule, t_index)
        ctx.store.add_candidate(key, candidate)
        request_bump(key)
    why = f"promoting {view.tag}@{view.digest} from {pipeline.environments[index - 1].name}"
    log.info("promotion %s: %s", rule.name, why)


def _log_changes(
    ctx: WorkerContext,
    pipeline: config.Pipeline,
    view: promotion.Digest,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
) -> None:
    """One decision-log line per environment whose status changed (``bumper log``)."""
    old = {s.get("environment"): (s.get("state"), s.get("detail")) for s in before}
    results: dict[str, policy.Result] = {
        "promoted": "accepted",
        "blocked": "rejected",
        "waiting": "held",
        "pending": "held",
    }
    for index, status in enumerate(after):
        if old.get(status["environment"]) == (status["state"], status["detail"]):
            continue
        if status["state"] == "pending" or (index == 0 and status["state"] == "promoted"):
            continue  # not news: every digest starts so
        rule = ctx.config.image(pipeline.rule_name(index))
        if rule is None:
            continue
        decision = policy.Decision(
            candidate=f"{view.tag}@{view.digest}",
            rule="promotion",
            result=results[status["state"]],
            why=f"{status['state']} in {status['environment']}: {status['detail']}",
        )
        event = {"type": "image.pushed", "image": pipeline.image, "tag": view.tag}
        ctx.log(decision, rule=rule, event={**event, "digest": view.digest, "source": "promotion"})


def after_bump(ctx: WorkerContext, named: ResolvedTarget, outcome: BumpOutcome) -> None:
    """Record a promotion's change, and the commit that carries the digest (its statuses)."""
    stage = ctx.config.stage(named.rule.name)
    result = outcome.result
    if stage is None or result is None:
        return
    pstore = PromotionStore(ctx.store.redis)
    env = stage.environment.name
    digest = result.digest or _accepted_digest(outcome)
    if outcome.sha and digest:  # a PR's head, or the commit itself
        pstore.note_commit(stage.pipeline.name, digest, env, outcome.sha, named.repo.name)
    if stage.index == 0:
        if outcome.sha or outcome.pr:  # the tag policy brought it into the first environment
            pstore.note_brought(stage.pipeline.name, result.tag, time.time())
        return
    pr = outcome.pr or {}
    change = str(pr.get("url") or outcome.sha or "")
    more = {"pr": pr["number"], "repo": named.repo.name} if pr.get("number") else {}
    pstore.enter(stage.pipeline.name, digest or "", env, change, time.time(), **more)


def _accepted_digest(outcome: BumpOutcome) -> str | None:
    """The digest of the candidate written, when the rule writes the tag alone (its push
    event named the digest)."""
    for candidate, decision in outcome.verdicts:
        if decision.accepted and outcome.result and candidate.tag == outcome.result.tag:
            found = candidate.digest or candidate.event.get("digest")
            return str(found) if found else None
    return None


def note_pushed(ctx: WorkerContext, rule: config.Image, tag: str, revision: str | None) -> None:
    """Remember the source revision of a tag the first environment accepted (CI gates)."""
    stage = ctx.config.stage(rule.name)
    if stage is not None and stage.index == 0 and revision:
        PromotionStore(ctx.store.redis).note_revision(stage.pipeline.name, tag, revision)
