"""Promotion state as commit statuses: each later environment's status of a digest (waiting,
blocked, promoted) on the commits that carry the digest, under the context
``bumper/promotion/<environment>``.

Where: on the commit that brought the digest into the environment before (what is under test
there) and, once there is one, on the environment's own promotion commit or PR head. So the
dev commit shows "staging: waiting for healthy_for 10m in dev since ...", and the PR into prod
shows whether it waits for its approval.

Only a change is written: the last status written per digest, environment and commit lives in
Redis (``worker.promotionstore``), so a scheduled tick costs no forge call. GitLab takes only a
change of state (its statuses are jobs: running → running is refused), so there a new
description with the same state is not written. A repo with
``forge: git`` has no statuses; a forge that fails is asked again at the next evaluation.
Must not: decide anything (``bumper.core.promotion`` does).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from bumper.core import config, promotion
from bumper.scm.base import CheckState
from worker.context import WorkerContext
from worker.promotionstore import PromotionStore

log = logging.getLogger("bumper.worker")

CONTEXT = "bumper/promotion"
MAX_DESCRIPTION = 140  # GitHub refuses longer (GitLab takes 255): the smaller for both
STATES = {
    "waiting": CheckState.PENDING,
    "blocked": CheckState.FAILURE,
    "promoted": CheckState.SUCCESS,
}
# the age of the last report changes at every tick; the status says only that it is stale
_REPORT_AGE = re.compile(r"\(last ready report \S+ ago\)")


def context(environment: str) -> str:
    return f"{CONTEXT}/{environment}"


def describe(status: dict[str, Any], tag: str, digest: str) -> tuple[CheckState, str] | None:
    """The commit status for one stored status line; None for ``pending`` (not reached yet:
    nothing to say on a commit)."""
    state = STATES.get(str(status.get("state")))
    if state is None:
        return None
    detail = _REPORT_AGE.sub("(no fresh ready report)", str(status.get("detail") or ""))
    if state == CheckState.SUCCESS:
        text = f"promoted {tag}@{digest[:19]}" if tag else f"promoted {digest[:19]}"
    elif state == CheckState.FAILURE:
        text = f"blocked: {detail}"
    else:
        since = status.get("since")
        when = f" since {_utc(since)}" if isinstance(since, int | float) else ""
        return state, fit(f"waiting for {detail}", when)
    return state, fit(text)


def fit(text: str, tail: str = "") -> str:
    """``text`` + ``tail`` within the forge's limit, ``text`` shortened (``tail``: the since,
    which says the most)."""
    room = MAX_DESCRIPTION - len(tail)
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return text + tail


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def publish(
    ctx: WorkerContext, pipeline: config.Pipeline, view: promotion.Digest, statuses: list[Any]
) -> int:
    """Write every later environment's changed status on the commits that carry the digest;
    the number of statuses written."""
    if ctx.forges is None:
        return 0
    pstore = PromotionStore(ctx.store.redis)
    commits = pstore.commits(pipeline.name, view.digest)
    if not commits:
        return 0  # found running, not brought by Bumper: no commit of ours carries it
    names = [e.name for e in pipeline.environments]
    written = 0
    for index, status in enumerate(statuses):
        if index == 0 or index >= len(names):
            continue  # the first environment follows the tag policy: no promotion into it
        described = describe(status, view.tag, view.digest)
        if described is None:
            continue
        before = [commits[n] for n in names[:index] if commits.get(n)]
        carriers = [*(before[-1] if before else []), *commits.get(names[index], [])]
        for carrier in carriers:
            written += _write(ctx, pipeline.name, view.digest, names[index], carrier, described)
    return written


def _write(
    ctx: WorkerContext,
    pipeline: str,
    digest: str,
    environment: str,
    carrier: dict[str, str],
    described: tuple[CheckState, str],
) -> int:
    repo = ctx.config.repo(carrier["repo"])
    if repo is None or repo.forge == "git" or ctx.forges is None:
        return 0
    pstore = PromotionStore(ctx.store.redis)
    state, description = described
    sha = carrier["sha"]
    before = pstore.written_status(pipeline, digest, environment, sha)
    if before == [state.value, description]:
        return 0
    if repo.forge == "gitlab" and isinstance(before, list) and before[:1] == [state.value]:
        # GitLab refuses a status into the state it is in ("Cannot transition status via :run
        # from :running", 400): a new description waits for the next change of state
        return 0
    try:
        forge = ctx.forges.for_repo(repo)
        forge.set_status(sha, state, context=context(environment), description=description)
    except Exception as error:  # a status is decoration: written again at the next evaluation
        log.warning("promotion status not set on %s: %s", sha[:12], type(error).__name__)
        return 0
    pstore.note_written_status(pipeline, digest, environment, sha, [state.value, description])
    return 1
