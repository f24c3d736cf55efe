"""Promotion state as commit statuses: each later environment's status of a digest (waiting,
blocked, promoted) on the commits that carry the digest, under the context
``bumper/promotion/<environment>``.

Where: on the commit that brought the digest into the environment before (what is under test
there) and, once there is one, on the environment's own promotion commit or PR head. So the
dev commit shows "staging: waiting for healthy_for 10m in dev since ...", and the PR into prod
shows whether it waits for its approval.

Only a change is written: the last status written per digest, environment and commit lives in
Redis (``worker.promotionstore``), so a scheduled tick costs no forge call, and two Redis reads
for all of a pipeline's digests. GitLab takes only a change of state (its statuses are jobs:
running → running is refused), so there a new description with the same state is not written.
A repo with ``forge: git`` has no statuses; a forge that fails is asked again at the next
evaluation.
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


Evaluated = tuple[promotion.Digest, list[Any]]  # a digest and its stored status lines
Place = tuple[str, str, str]  # digest, environment, commit sha: where a status goes


def publish(ctx: WorkerContext, pipeline: config.Pipeline, evaluated: list[Evaluated]) -> int:
    """Write every later environment's changed status on the commits that carry each digest;
    the number of statuses written. Two Redis reads whatever the number of digests: their
    commits, then the statuses last written on those."""
    if ctx.forges is None:
        return 0
    pstore = PromotionStore(ctx.store.redis)
    commits = pstore.commits_of(pipeline.name, [view.digest for view, _ in evaluated])
    wanted = [
        want
        for view, statuses in evaluated
        if view.digest in commits  # else found running, not brought: no commit of ours
        for want in _wanted(pipeline, view, statuses, commits[view.digest])
    ]
    last = pstore.written_statuses(pipeline.name, [place for place, _, _ in wanted])
    written = 0
    for place, repo, described in wanted:
        if _write(ctx, pipeline.name, place, repo, described, last.get(place)):
            last[place] = [described[0].value, described[1]]
            written += 1
    return written


def _wanted(
    pipeline: config.Pipeline,
    view: promotion.Digest,
    statuses: list[Any],
    commits: dict[str, list[dict[str, str]]],
) -> list[tuple[Place, str, tuple[CheckState, str]]]:
    """Each later environment's status of the digest, with the commits it goes on (the ones
    that brought the digest into the environment before, and the environment's own) and
    their config repos."""
    names = [e.name for e in pipeline.environments]
    made = []
    for index, status in enumerate(statuses):
        if index == 0 or index >= len(names):
            continue  # the first environment follows the tag policy: no promotion into it
        described = describe(status, view.tag, view.digest)
        if described is None:
            continue
        before = [commits[n] for n in names[:index] if commits.get(n)]
        carriers = [*(before[-1] if before else []), *commits.get(names[index], [])]
        for carrier in carriers:
            place = (view.digest, names[index], carrier["sha"])
            made.append((place, carrier["repo"], described))
    return made


def _write(
    ctx: WorkerContext,
    pipeline: str,
    place: Place,
    repo_name: str,
    described: tuple[CheckState, str],
    before: Any,
) -> bool:
    """Write the status on the commit unless ``before`` (the last written there) is it."""
    repo = ctx.config.repo(repo_name)
    if repo is None or repo.forge == "git" or ctx.forges is None:
        return False
    state, description = described
    digest, environment, sha = place
    if before == [state.value, description]:
        return False
    if repo.forge == "gitlab" and isinstance(before, list) and before[:1] == [state.value]:
        # GitLab refuses a status into the state it is in ("Cannot transition status via :run
        # from :running", 400): a new description waits for the next change of state
        return False
    try:
        forge = ctx.forges.for_repo(repo)
        forge.set_status(sha, state, context=context(environment), description=description)
    except Exception as error:  # a status is decoration: written again at the next evaluation
        log.warning("promotion status not set on %s: %s", sha[:12], type(error).__name__)
        return False
    pstore = PromotionStore(ctx.store.redis)
    pstore.note_written_status(pipeline, digest, environment, sha, [state.value, description])
    return True
