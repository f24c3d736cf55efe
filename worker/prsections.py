"""The sections of a bump PR's body beyond the table of changes (``bumper.core.prbody``):
the evidence (CI run, digest, signature, promotion soak) and the source range.

``gather(ctx, named, outcome)`` is the one place a PR's extra sections are collected; each
piece that cannot be known is said to be unknown, and nothing here fails a bump (a registry or
forge error becomes a line of text). Called after the bump branch is pushed, for PR modes only.
"""

from __future__ import annotations

import logging
from typing import Any

from bumper.core import evidence, prbody
from bumper.core import sourcerange as source_text
from bumper.errors import BumperError
from worker import registries, sourcerange, verification
from worker.context import WorkerContext
from worker.records import BumpOutcome
from worker.targets import ResolvedTarget

log = logging.getLogger("bumper.worker")


def gather(
    ctx: WorkerContext, named: ResolvedTarget, outcome: BumpOutcome, *, promotion: str | None = None
) -> list[prbody.Section]:
    """Evidence, then the source range (and release notes) of ``outcome``'s result.
    ``promotion``: a promotion's soak text (None: not a promotion)."""
    result = outcome.result
    if result is None:
        return []
    event = outcome.keep.event if outcome.keep is not None else None
    old = sourcerange.Image(result.old_tag, result.old_digest)
    new = sourcerange.Image(result.tag, result.digest, event)
    found = sourcerange.find(ctx, named.rule, old, new)
    found_evidence = evidence.Evidence(
        digest=result.digest or _event_digest(event),
        promotion=promotion,
        signature=_signature(ctx, named, result.tag, result.digest or _event_digest(event)),
        **_ci(ctx, found.new),
    )
    return [evidence.section(found_evidence), *source_text.sections(found)]


def _event_digest(event: dict[str, Any] | None) -> str | None:
    digest = (event or {}).get("digest")
    return str(digest) if digest else None


def _ci(ctx: WorkerContext, revision: str | None) -> dict[str, Any]:
    if revision is None:
        return {"ci_unknown": "the new image's source revision is unknown"}
    recorded = ctx.store.ci_result(revision)
    if recorded is None:
        return {"ci_unknown": f"no CI result is recorded for revision {revision[:12]}"}
    run = evidence.CiRun(
        status=recorded.get("status", "unknown"),
        revision=revision,
        source=recorded.get("source", ""),
        repository=recorded.get("repository", ""),
        pipeline=recorded.get("pipeline", ""),
        url=recorded.get("url") or None,
    )
    return {"ci": run}


def _signature(
    ctx: WorkerContext, named: ResolvedTarget, tag: str, digest: str | None
) -> str | None:
    """The signature verdict, when the rule verifies signatures (None: it does not)."""
    rule = named.rule
    verify = ctx.config.verify_for(rule)
    if verify is None:
        return None
    host, _ = registries.split(rule.image)
    client = registries.client_for(ctx, host)
    if client is None:
        return f"unknown ({host} has no registries: entry)"
    try:
        decision = verification.judge(client, rule, verify, ctx.config_dir, tag, digest)
    except BumperError as error:
        log.warning("signature of %s:%s unreadable for the PR: %s", rule.image, tag, error)
        return f"unknown (the signatures could not be read: {error.reason})"
    verdict = "verified" if decision.accepted else f"refused ({decision.rule})"
    return f"{verdict}: {decision.why}"
