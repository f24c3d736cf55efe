"""Run a reviewer's ``/bumper`` command from a PR comment (``pr.comment`` events).

The web process only parsed and queued the comment; everything that needs the forge happens
here, in the event job:

1. the comment's repository must be a config repo of bumper.yaml on the same forge, else the
   comment is dropped (logged; no forge to answer through);
2. comments by Bumper's own forge account are ignored (no loops);
3. the forge is asked for the commenter's permission (``ScmProvider.may_write``: GitHub's
   collaborator permission admin / maintain / write, GitLab's membership at Developer or
   above); the payload's ``author_association`` is never trusted. Anyone else gets a refusal;
4. the PR is mapped back to its target by its head branch (``changes.branch_name``; GitLab's
   note names it, GitHub's comment does not and the forge is asked);
5. the command runs, and is answered with one comment:

- ``hold``: ``Store.set_hold``; the bump path refuses the target's candidates, logging
  "held by @user via PR #n", and keeps them for later;
- ``release``: drops hold and pin (``Store.lift``) and asks for a bump of what waited;
- ``pin <tag>``: the tag must pass the rule's policy screen; ``Store.set_pin``, the tag becomes
  a candidate, and the bump path refuses any candidate past it until ``release``;
- ``retry``: requeues the target's failed bump job (``worker.retry``, as ``bumper retry``
  does) or asks for one bump (``request_bump``): one pending job per target, never two. A
  ``mode: commit`` target (a PR left from when it was ``pr``) has nothing else to redo: the
  reply says so, and no job is queued;
- ``explain``: the target's newest decision log entries, bounded.

Errors of the forge propagate (the event job retries, ``worker.jobs.guarded``); every
command is idempotent, so a retried job does it again harmlessly.
Must not: import rq or ``worker.jobs`` (the caller passes ``request_bump``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bumper import decisions, scm
from bumper.core import changes, commands, config, events, policy
from bumper.errors import ConfigError, NotRetryable
from bumper.scm.base import ScmProvider
from worker import retry, store
from worker.context import WorkerContext
from worker.targets import target_key

log = logging.getLogger("bumper.worker")

EXPLAIN_ENTRIES = 10
EXPLAIN_CHARS = 4_000
RequestBump = Callable[[str], str]


@dataclass(frozen=True)
class Asked:
    """One command on one target: what the handlers share."""

    ctx: WorkerContext
    comment: events.PullRequestComment
    forge: ScmProvider
    rule: config.Image
    key: str

    @property
    def who(self) -> str:
        return f"@{self.comment.author} via PR #{self.comment.number}"

    def reply(self, body: str) -> None:
        self.forge.comment(self.comment.number, body)

    def entry(self) -> dict[str, Any]:
        comment = self.comment
        return {"by": comment.author, "pr": comment.number, "url": comment.url, "at": time.time()}


def run(ctx: WorkerContext, comment: events.PullRequestComment, request_bump: RequestBump) -> str:
    """Run ``comment``'s command; a short outcome word (for the job's result and tests)."""
    repo = _repo_of(ctx.config, comment)
    if repo is None:
        log.info("comment on %s: not a config repo on %s", comment.repository, comment.forge)
        return "not-a-config-repo"
    forge = ctx.forges.for_repo(repo)
    if comment.author.casefold() == forge.login().casefold():
        return "own-comment"
    number = comment.number
    if not forge.may_write(comment.author, comment.author_id):
        log.info("command refused: %s may not write to %s", comment.author, comment.repository)
        forge.comment(number, _refusal(comment.author))
        return "refused"
    parsed = commands.parse(comment.command)
    if isinstance(parsed, commands.Unknown):
        forge.comment(number, f"{parsed.why}. {commands.HELP}")
        return "help"
    found = _target_of(ctx.config, repo, forge, comment)
    if found is None:
        forge.comment(number, "This is not one of Bumper's bump PRs: nothing to do.")
        return "not-a-bump-pr"
    asked = Asked(ctx, comment, forge, *found)
    log.info("command %s on %s by %s", parsed.verb, asked.key, comment.author)
    return _HANDLERS[parsed.verb](asked, parsed.argument, request_bump)


def _refusal(author: str) -> str:
    return (
        f"@{changes.inline(author, 60)}: only people with write access to this repository "
        "may run `/bumper` commands."
    )


def _repo_of(cfg: config.BumperConfig, comment: events.PullRequestComment) -> config.Repo | None:
    wanted = comment.repository.casefold()
    for repo in cfg.repos:
        if repo.forge != comment.forge:
            continue
        try:
            path = scm.repo_path(repo.url)
        except ConfigError:
            continue
        if path.casefold() == wanted:
            return repo
    return None


def _target_of(
    cfg: config.BumperConfig,
    repo: config.Repo,
    forge: ScmProvider,
    comment: events.PullRequestComment,
) -> tuple[config.Image, str] | None:
    """The (rule, target key) whose bump branch the PR comes from."""
    head = comment.head_branch or forge.get_pr(comment.number).head_branch
    for rule in cfg.images:
        for index, target in enumerate(rule.targets):
            key = target_key(rule, index)
            if target.repo == repo.name and changes.branch_name(repo.name, key, rule.image) == head:
                return rule, key
    return None


def _log(asked: Asked, result: policy.Result, rule: str, why: str, candidate: str = "") -> None:
    decision = policy.Decision(candidate=candidate, rule=rule, result=result, why=why)
    asked.ctx.log(decision, rule=asked.rule, event=events.to_dict(asked.comment), target=asked.key)


def _hold(asked: Asked, argument: str | None, request_bump: RequestBump) -> str:
    asked.ctx.store.set_hold(asked.key, asked.entry())
    _log(asked, "held", "hold", f"held by {asked.who}")
    asked.reply(
        f"Held `{asked.key}`: Bumper will not bump it until `/bumper release` "
        f"(asked by @{asked.comment.author})."
    )
    return "held"


def _release(asked: Asked, argument: str | None, request_bump: RequestBump) -> str:
    lifted = asked.ctx.store.lift(asked.key)
    _log(asked, "accepted", "release", f"released by {asked.who}")
    job = request_bump(asked.key)
    was = "hold and pin lifted" if lifted else "it was neither held nor pinned"
    asked.reply(f"Released `{asked.key}` ({was}); bump job `{job}` takes what waited.")
    return "released"


def _pin(asked: Asked, argument: str | None, request_bump: RequestBump) -> str:
    assert argument is not None  # commands.parse gives pin its tag
    try:
        tag, digest = commands.check_tag(argument)
    except ValueError as error:
        asked.reply(f"Cannot pin: {error}.")
        return "bad-pin"
    screen = policy.evaluate(
        policy.from_config(asked.rule.policy), policy.Candidate(tag, digest, time.time())
    )
    if not screen.accepted:
        why = changes.inline(screen.why, 200)
        asked.reply(f"Cannot pin `{asked.key}` to `{tag}`: the rule's policy refuses it ({why}).")
        return "bad-pin"
    asked.ctx.store.set_pin(asked.key, {**asked.entry(), "tag": tag, "digest": digest})
    pushed = events.ImageEvent(
        type="image.pushed",
        image=asked.rule.image,
        tag=tag,
        digest=digest,
        source=asked.comment.source,
        delivery_id=asked.comment.delivery_id,
        received_at=time.time(),
        extra={"url": asked.comment.url} if asked.comment.url else {},
        artifact="chart" if asked.rule.chart is not None else "image",
    )
    data = events.to_dict(pushed)
    asked.ctx.store.add_candidate(asked.key, store.StoredCandidate(tag, digest, data))
    shown = f"{tag}@{digest}" if digest else tag
    _log(asked, "accepted", "pin", f"pinned to {shown} by {asked.who}", candidate=shown)
    job = request_bump(asked.key)
    asked.reply(
        f"Pinned `{asked.key}` to `{shown}`: Bumper will not move it past that tag until "
        f"`/bumper release` (bump job `{job}`)."
    )
    return "pinned"


def _retry(asked: Asked, argument: str | None, request_bump: RequestBump) -> str:
    ctx, key = asked.ctx, asked.key
    last = (ctx.store.target_records().get(key) or {}).get("bump") or {}
    if last.get("state") == "failed" and last.get("job"):
        try:
            done = retry.retry(
                ctx.store.redis,
                str(last["job"]),
                by=asked.who,
                crash_retries=ctx.settings.crash_retries,
            )
        except NotRetryable as error:
            log.info("retry of %s: %s; asking for a new bump", key, error)
        else:
            asked.reply(f"Retrying `{key}`: {done.message}.")
            return "retried"
    if _target(asked).mode == "commit":
        asked.reply(_no_retry_in_commit_mode(key, last))
        return "nothing-to-retry"
    job = request_bump(key)
    _log(asked, "accepted", "retry", f"bump asked again by {asked.who}")
    asked.reply(f"Retrying `{key}`: bump job `{job}` is pending (one per target, never two).")
    return "retried"


def _target(asked: Asked) -> config.Target:
    return asked.rule.targets[int(asked.key.rpartition("/")[2])]


def _no_retry_in_commit_mode(key: str, last: dict[str, Any]) -> str:
    """A ``mode: commit`` target commits its bumps directly: a new bump job would find no
    candidate left and do nothing, so the reply says what ``retry`` does for it instead."""
    state = changes.inline(str(last.get("state") or "none recorded"), 60)
    return (
        f"`{key}` commits its bumps directly (`mode: commit`), so there is no PR to redo: "
        f"`/bumper retry` re-runs a failed bump job only (its last bump: {state}). "
        "A new push of the image bumps it again."
    )


def _explain(asked: Asked, argument: str | None, request_bump: RequestBump) -> str:
    journal = decisions.DecisionLog(asked.ctx.store.redis)
    entries = [
        e for e in journal.recent(image=asked.rule.image, limit=200) if e.get("target") == asked.key
    ][:EXPLAIN_ENTRIES]
    asked.reply(explanation(asked.key, entries, asked.ctx.store))
    return "explained"


def explanation(key: str, entries: list[dict[str, Any]], repo_store: store.Store) -> str:
    """The reply to ``explain``: hold and pin, then the newest entries, at most
    ``EXPLAIN_CHARS`` characters; every field one line (``changes.inline``)."""
    lines = [f"Decision log of `{key}` (newest first):"]
    hold, pin = repo_store.hold_of(key), repo_store.pin_of(key)
    if hold:
        lines.append(f"- held by @{changes.inline(str(hold.get('by')), 60)}")
    if pin:
        lines.append(f"- pinned to `{changes.inline(str(pin.get('tag')), 140)}`")
    if not entries:
        lines.append("- no decisions recorded yet")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(float(entry.get("time") or 0)))
        fields = [str(entry.get(name) or "") for name in ("result", "rule", "candidate", "why")]
        result, rule, candidate, why = (changes.inline(f, 200) for f in fields)
        shown = f" `{candidate}`" if candidate else ""
        lines.append(f"- {when} {result} ({rule}){shown}: {why}")
    text = "\n".join(lines)
    return text if len(text) <= EXPLAIN_CHARS else text[: EXPLAIN_CHARS - 1] + "…"


_HANDLERS: dict[str, Callable[[Asked, str | None, RequestBump], str]] = {
    "hold": _hold,
    "release": _release,
    "pin": _pin,
    "retry": _retry,
    "explain": _explain,
}
