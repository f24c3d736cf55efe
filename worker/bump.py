"""The bump flow: route an event to the targets it should bump (steps 1–3), and bump one
target (steps 4–7 of ARCHITECTURE.md's data flow; step 8, push mode, is ``pushdeploy.py``).

``route`` runs in the event job: it screens the tag with the rule's policy (no current value
yet), applies the CI gate (hold / release / drop), verifies the candidate's signature when
the rule asks (``verification``), records candidates and returns the target
keys that need a bump job. ``bump_target`` runs in the bump job: a target a reviewer held is
left alone (``holds``); under the repo lock it checks out the config repo, picks the best
candidate against what the files hold now (never a downgrade unless allowed, never past a
reviewer's pin), edits, and delivers the change as a commit or a PR.

Every verdict goes to the decision log through ``WorkerContext.log`` (``worker.context``).
Must not: import rq (``jobs.py`` is the only RQ shell) or a forge SDK (``bumper.scm`` is).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from bumper import gitrepo, secrets
from bumper.core import changes, config, events, policy, refs
from bumper.core.edits import ImageEdit
from bumper.scm.base import ScmProvider
from worker import (
    edits,
    holds,
    promotion,
    prsections,
    pullrequests,
    pushdeploy,
    remotes,
    signing,
    store,
    targets,
    verification,
)
from worker.context import WorkerContext
from worker.records import BumpOutcome, PushRequest, Verdict
from worker.targets import ResolvedTarget, target_key

log = logging.getLogger("bumper.worker")


# -- routing (event job) ----------------------------------------------------------------


def route(ctx: WorkerContext, event: events.Event) -> list[str]:
    """Target keys whose bump job must run because of ``event``."""
    if isinstance(event, events.BuildFinished):
        return route_build(ctx, event)
    if isinstance(event, events.PullRequestComment):
        return []  # a command, not a candidate: ``worker.commands`` runs it
    return route_image(ctx, event)


def revision_of(event: events.ImageEvent) -> str | None:
    """The source commit an image was built from: ``extra.revision`` or the OCI label."""
    extra = event.extra or {}
    labels = extra.get("labels") if isinstance(extra.get("labels"), dict) else {}
    value = extra.get("revision") or (labels or {}).get("org.opencontainers.image.revision")
    return str(value) if value else None


def route_image(
    ctx: WorkerContext,
    event: events.ImageEvent,
    *,
    only: str | None = None,
    gate_passed: bool = False,
) -> list[str]:
    data = events.to_dict(event)
    rules = [
        r
        for r in ctx.config.images_for(event.image)
        if (only is None or r.name == only) and _artifact_fits(r, event) and _follows_tags(ctx, r)
    ]
    if event.type != "image.pushed" or event.tag is None:
        for rule in rules:
            why = "deletes are not bumped" if event.type != "image.pushed" else "no tag"
            ctx.log(_note(data, "rejected", "event", why), rule=rule, event=data)
        return []
    keys: list[str] = []
    for rule in rules:
        screen = policy.evaluate(
            policy.from_config(rule.policy),
            policy.Candidate(event.tag, event.digest, event.received_at),
        )
        if not screen.accepted:
            ctx.log(screen, rule=rule, event=data)
            continue
        if not gate_passed and not _gate_open(ctx, rule, event, data):
            continue
        refused = verification.refusal(ctx, rule, event.tag, event.digest)
        if refused is not None:
            ctx.log(refused, rule=rule, event=data)
            continue
        promotion.note_pushed(ctx, rule, event.tag, revision_of(event))
        candidate = store.StoredCandidate(event.tag, event.digest, data)
        for index in range(len(rule.targets)):
            ctx.store.add_candidate(target_key(rule, index), candidate)
            keys.append(target_key(rule, index))
    return keys


def _follows_tags(ctx: WorkerContext, rule: config.Image) -> bool:
    """A pipeline's later environments take promotions only (``worker.promotion``), never a
    pushed tag: nobody tested that tag."""
    stage = ctx.config.stage(rule.name)
    return stage is None or stage.index == 0


def _artifact_fits(rule: config.Image, event: events.ImageEvent) -> bool:
    """A chart event bumps chart rules only; an image event bumps either (a sender that does
    not say the artifact's type, on a repository a chart rule watches, pushed a version)."""
    return event.artifact != "chart" or rule.chart is not None


def _note(data: dict[str, Any], result: policy.Result, name: str, why: str) -> policy.Decision:
    tag = data.get("tag") or data.get("digest") or ""
    return policy.Decision(candidate=str(tag), rule=name, result=result, why=why)


def _gate_matches(gate: config.Gate, build: dict[str, str]) -> bool:
    """``build`` is a recorded CI result (``config.Gate.matches_record``)."""
    return gate.matches_record(build)


def _gate_open(
    ctx: WorkerContext, rule: config.Image, event: events.ImageEvent, data: dict[str, Any]
) -> bool:
    """Whether the push may go on: a known CI failure of its revision drops it (any rule);
    a ``gate: ci`` rule goes on only once CI succeeded, and holds the push until then."""
    revision = revision_of(event)
    result = ctx.store.ci_result(revision) if revision else None
    if rule.gate is None:
        if result is not None and result["status"] != "success":
            why = f"CI {result['status']} for {revision} ({result.get('repository') or 'CI'})"
            ctx.log(_note(data, "rejected", "ci-failed", why), rule=rule, event=data)
            return False
        return True
    if result is not None and _gate_matches(rule.gate, result):
        if result["status"] == "success":
            return True
        why = f"CI {result['status']} for {revision}"
        ctx.log(_note(data, "rejected", "ci-gate", why), rule=rule, event=data)
        return False
    delivery = event.delivery_id or f"{event.tag}@{event.received_at}"
    ctx.store.hold(rule.name, delivery, data, revision or "", rule.gate.hold_seconds)
    waiting = f"revision {revision}" if revision else f"a build whose sha is in tag {event.tag!r}"
    why = f"held until {rule.gate.ci} CI succeeds for {waiting} (up to {rule.gate.hold_seconds}s)"
    ctx.log(_note(data, "held", "ci-gate", why), rule=rule, event=data)
    return False


def _held_for(entry: dict[str, Any], sha: str) -> bool:
    revision = str(entry.get("revision") or "")
    if revision:
        return len(min(revision, sha, key=len)) >= 7 and (
            sha.startswith(revision) or revision.startswith(sha)
        )
    return len(sha) >= 7 and sha[:7] in str(entry["event"].get("tag") or "")


def route_build(ctx: WorkerContext, build: events.BuildFinished) -> list[str]:
    """Record the CI result, release or drop held pushes, and fire CI triggers."""
    info = {
        "source": build.source,
        "repository": build.repository or "",
        "pipeline": build.pipeline or "",
        "ref": build.ref or "",
        "url": build.url or "",  # the run, for the PR body's evidence
    }
    name = build.extra.get("ref_name")
    if not build.ref and isinstance(name, str) and name:
        info["ref_name"] = name  # the sender did not say branch or tag: the rules' globs do
    if build.status == "unknown" and build.extra.get("ambiguous"):
        _record_ambiguous(ctx, build, info)
        return []
    final = build.status in ("success", "failure", "cancelled")
    if not build.commit or not final:
        return []
    ctx.store.record_ci(build.commit, build.status, info, ctx.settings.ci_result_ttl_seconds)
    keys: list[str] = []
    for rule in ctx.config.images:
        if rule.gate is None or not _gate_matches(rule.gate, info):
            continue
        for delivery_id, entry in list(ctx.store.held(rule.name)):
            released = _held_for(entry, build.commit) and ctx.store.release(rule.name, delivery_id)
            if not released:
                continue
            held = events.from_dict(entry["event"])
            assert isinstance(held, events.ImageEvent)
            if build.status == "success":
                keys += route_image(ctx, held, only=rule.name, gate_passed=True)
            else:
                why = f"CI {build.status} for {build.commit[:12]} ({build.url or 'no link'})"
                dropped = _note(entry["event"], "rejected", "ci-gate", why)
                ctx.log(dropped, rule=rule, event=entry["event"])
    if build.status == "success":
        keys += _fire_triggers(ctx, build)
    return keys


def _record_ambiguous(
    ctx: WorkerContext, build: events.BuildFinished, info: dict[str, str]
) -> None:
    """A build result the sender did not make clear (``extra.ambiguous``): neither a success
    nor a failure, but an ``ambiguous`` decision for every rule it concerns (the rules of its
    image, gated rules and triggered images of its CI project), saying how to fix the URL."""
    image = build.extra.get("image")
    triggered = {t.image for t in ctx.config.ci if t.matches(build)}
    data = events.to_dict(build)
    why = str(build.extra["ambiguous"])
    noted = _note({"tag": build.commit or build.pipeline or ""}, "ambiguous", "event", why)
    for rule in ctx.config.images:
        gated = rule.gate is not None and _gate_matches(rule.gate, info)
        if gated or rule.image == image or rule.name in triggered:
            ctx.log(noted, rule=rule, event=data)
    log.warning("ambiguous %s build result: %s", build.source, why)


def _fire_triggers(ctx: WorkerContext, build: events.BuildFinished) -> list[str]:
    keys: list[str] = []
    for trigger in ctx.config.ci:
        rule = ctx.config.image(trigger.image)
        if rule is None or not trigger.matches(build):
            continue
        tag = trigger.render_tag(build)
        made = events.ImageEvent(
            type="image.pushed",
            image=rule.image,
            tag=tag,
            source=build.source,
            delivery_id=build.delivery_id,
            received_at=build.received_at,
            extra={"revision": build.commit, "trigger": trigger.name, "url": build.url},
        )
        keys += route_image(ctx, made, only=rule.name, gate_passed=True)
    return keys


# -- bumping one target (bump job) ------------------------------------------------------


class BurstArriving(Exception):
    """More pushes for the target arrived while a ``give_way`` run prepared its change: the
    run stops before it commits, so the caller can let the burst finish and bump it whole."""


def bump_target(
    ctx: WorkerContext, key: str, *, job_id: str | None = None, give_way: bool = False
) -> BumpOutcome | None:
    """Bump one target with every candidate recorded for it; None if there were none.
    ``job_id``: the RQ job doing it, which owns the repo lock (see ``Store.repo_lock``).
    ``give_way``: raise ``BurstArriving`` instead of committing when candidates arrived since
    the run read them (nothing is pushed, consumed or logged then)."""
    started = time.monotonic()
    named = targets.resolve(ctx.config, key)
    rule, target, repo = named.rule, named.target, named.repo
    seen = ctx.store.candidates(key)
    if not seen or holds.held(ctx, rule, key, seen):
        return None  # a held target's candidates wait for ``/bumper release``
    forge = None
    url, creds = remotes.clone_url(repo, ctx.config_dir), remotes.credentials(repo, ctx.config_dir)
    if ctx.forges is not None and (target.mode != "commit" or repo.forge != "git"):
        forge = ctx.forges.for_repo(repo)
        if target.mode != "commit":
            pullrequests.require_prs(forge, repo, target)
        url, creds = ctx.forges.remote(repo)
    timeout = ctx.settings.job_timeout_seconds
    with ctx.store.repo_lock(
        repo.name, timeout=timeout, wait=ctx.settings.lock_wait_seconds, owner=job_id
    ):
        with ctx.cache.checkout(
            url,
            repo.branch,
            creds,
            identity=signing.identity(repo),
            signing=_signing(ctx, repo),
        ) as checkout:
            outcome = _bump_in(ctx, checkout, named, seen, forge, give_way=give_way)
    for candidate, decision in outcome.verdicts:
        if decision.accepted:
            decision = dataclasses.replace(decision, why=f"{decision.why}; {_delivered(outcome)}")
        ctx.log(decision, rule=rule, event=candidate.event, target=key)
    if target.deploy == "push":  # step 8, before consume: a crash re-run deploys again
        request = PushRequest(
            named=named,
            outcome=outcome,
            seen=seen,
            url=url,
            credentials=creds,
            forge=forge,
            started=started,
        )
        outcome.deployment = pushdeploy.after_bump(ctx, request)
    # The open PR's candidate stays, and so do the ones a pin holds back (until the release).
    waiting = [outcome.keep, *outcome.waiting]
    ctx.store.consume(key, [c for c in seen if c not in waiting])
    ctx.store.record_target(key, **dashboard_record(outcome, job_id))
    promotion.after_bump(ctx, named, outcome)
    if outcome.deployment is not None:
        outcome.deployment.raise_if_failed()
    return outcome


def _delivered(outcome: BumpOutcome) -> str:
    """Where the accepted change went, for the decision log."""
    result = outcome.result
    if result is None:
        return "nothing to change"
    sha = (outcome.sha or "")[:12]
    if outcome.pr:
        return f"PR {outcome.pr.get('url')} ({outcome.pr.get('state', 'open')}) at {sha}"
    where = f"{result.repo}@{result.branch}"
    return f"committed {sha} to {where}" if outcome.pushed else f"already on {where} ({sha})"


def _bump_in(
    ctx: WorkerContext,
    checkout: gitrepo.Checkout,
    named: ResolvedTarget,
    seen: list[store.StoredCandidate],
    forge: ScmProvider | None,
    *,
    give_way: bool = False,
) -> BumpOutcome:
    key, rule, target, repo = named.key, named.rule, named.target, named.repo
    outcome = BumpOutcome(key)
    compiled = policy.from_config(rule.policy)
    via_pr = target.mode != "commit" and forge is not None
    branch = changes.branch_name(repo.name, key, rule.image) if via_pr else repo.branch

    def edit(work: gitrepo.Checkout) -> str | None:
        outcome.result, outcome.keep = None, None
        found = edits.find(work, target.paths, rule)
        outcome.observed = _observed(work, found.references)
        current = _current(found.references)
        usable, refused = _screen_bad(ctx, rule, seen)
        usable, past_pin = holds.screen_pin(ctx.store, compiled, key, usable)
        refused += past_pin
        outcome.waiting = [candidate for candidate, _ in past_pin]
        offered = [
            policy.Candidate(c.tag, c.digest, float(c.event.get("received_at") or 0))
            for c in usable
        ]
        selection = policy.select(compiled, offered, current)
        judged = list(zip(usable, selection.decisions, strict=True))
        outcome.verdicts = refused + judged
        best = selection.best
        if best is None or selection.winner is None or not found.references:
            if not found.references:
                why = _none_found(target)
                outcome.verdicts = [
                    (c, dataclasses.replace(d, result="rejected", rule="no-reference", why=why))
                    for c, d in judged
                ]
            return None
        tag, _, digest = (best.pin or best.candidate).partition("@")
        chosen = usable[selection.winner]
        keep_form = compiled.pin_digest is None
        # Keeping each reference's form, a pinned sibling of an unpinned first reference
        # takes the chosen candidate's digest too.
        carried = digest or (chosen.digest if keep_form else None)
        made = edits.apply(work, found, tag, carried or None, rule, keep_form=keep_form)
        if not made:
            return None
        outcome.keep = chosen if via_pr else None
        outcome.result = changes.BumpResult(
            name=rule.name,
            image=rule.image,
            tag=tag,
            digest=digest or None,
            repo=repo.name,
            branch=branch,
            mode=target.mode,
            target=key,
            changes=made.changes,
            unlisted=made.unlisted,
            old_tag=current.tag if current else None,
            old_digest=current.digest if current else None,
            paths=tuple(target.paths),
            decision=f"{best.result}: {best.rule}",
            why=best.why,
            source=str(chosen.event.get("source") or ""),
            delivery_id=str(chosen.event.get("delivery_id") or ""),
            event_url=_url(chosen.event),
        )
        if give_way and _more_arrived(ctx, key, seen):
            raise BurstArriving(key)
        return changes.commit_message(outcome.result, rule.commit_message, rule.commit_style)

    if via_pr:
        assert forge is not None and ctx.forges is not None
        published = checkout.publish(base=repo.branch, branch=branch, edit=edit)
        extra = prsections.gather(ctx, named, outcome) if published is not None else []
        outcome.pr = ctx.forges.deliver(
            forge, checkout, named, branch, outcome, published, sections=extra
        )
    else:
        published = checkout.publish(base=repo.branch, edit=edit)
    if published is not None:
        outcome.sha, outcome.pushed = published.sha, published.pushed
    return outcome


def _more_arrived(ctx: WorkerContext, key: str, seen: list[store.StoredCandidate]) -> bool:
    """Whether a candidate not in ``seen`` (a new tag, or a tag pushed again) is waiting."""
    known = {c.raw for c in seen}
    return any(c.raw not in known for c in ctx.store.candidates(key))


def _screen_bad(
    ctx: WorkerContext, rule: config.Image, seen: list[store.StoredCandidate]
) -> tuple[list[store.StoredCandidate], list[Verdict]]:
    """Candidates minus the images the pull agent marked bad (failed health, rolled back)."""
    names = list(dict.fromkeys([rule.image, refs.familiar(rule.image)]))
    usable: list[store.StoredCandidate] = []
    refused: list[Verdict] = []
    for candidate in seen:
        record = ctx.store.bad_image(names, candidate.tag, candidate.digest)
        if record is None:
            usable.append(candidate)
            continue
        why = f"marked bad by the agent: {record.get('reason') or 'failed health'}"
        if record.get("commit"):
            why += f" (commit {str(record['commit'])[:12]})"
        name = str(policy.Candidate(candidate.tag, candidate.digest))
        decision = policy.Decision(candidate=name, rule="bad-image", result="rejected", why=why)
        refused.append((candidate, decision))
    return usable, refused


def _none_found(target: config.Target) -> str:
    return f"no reference to the image under {', '.join(target.paths)}"


def _url(event: dict[str, Any]) -> str | None:
    extra = event.get("extra") or {}
    url = extra.get("url") if isinstance(extra, dict) else None
    return str(url) if url else None


def _observed(work: gitrepo.Checkout, found: Sequence[ImageEdit]) -> dict[str, Any]:
    """The checkout's HEAD and each file's reference, as scanned (before any edit)."""
    files: dict[str, str] = {}
    for edit in found:
        ref = edit.found.tag or ""
        if edit.found.digest:
            ref += f"@{edit.found.digest}"
        files.setdefault(edit.path, ref)
    return {"head": work.head(), "files": files, "at": time.time()}


def dashboard_record(outcome: BumpOutcome, job_id: str | None) -> dict[str, dict[str, Any]]:
    """What the dashboard shows of a bump run (``Store.record_target``): the scan, the last
    change made (commit or PR, its state) and push mode's deploy."""
    record: dict[str, dict[str, Any]] = {}
    if outcome.observed:
        record["observed"] = outcome.observed
    pr = outcome.pr or {}
    result = outcome.result
    if result is not None or pr:
        record["bump"] = {
            "ref": result.ref if result is not None else None,
            "sha": outcome.sha,
            "pr": pr.get("url"),
            "state": _bump_state(outcome, str(pr.get("state") or "")),
            "detail": pr.get("state"),
            "job": job_id,
            "at": time.time(),
        }
    if outcome.deployment is not None:
        record["deploy"] = {**outcome.deployment.summary(), "at": time.time()}
    return record


def _bump_state(outcome: BumpOutcome, pr_state: str) -> str:
    """open, merged or superseded (a failed bump is recorded by ``worker.jobs``)."""
    if pr_state == "closed as obsolete":
        return "superseded"
    if pr_state == "merged" or (not pr_state and outcome.pushed):
        return "merged"
    return "open" if pr_state else "unchanged"


def _current(found: Sequence[ImageEdit]) -> policy.Current | None:
    """What the target holds now: its first reference in path order (all are rewritten)."""
    if not found:
        return None
    return policy.Current(found[0].found.tag, found[0].found.digest)


def _signing(ctx: WorkerContext, repo: config.Repo) -> gitrepo.CommitSigner | None:
    if repo.signing is None:
        return None
    key = secrets.resolve(repo.signing.key, base=ctx.config_dir)
    return signing.signing(repo, key, ctx.cache.root)
