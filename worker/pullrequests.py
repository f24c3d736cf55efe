"""The PR/MR side of a bump (``mode: pr`` and ``pr-automerge``), through ``bumper.scm``.

One deterministic branch per (target, image) (``changes.branch_name``), so a retry, a crash
re-run or a newer tag always finds the same branch and the same PR:

- a change and no open PR → open one, add labels and request reviewers;
- a change and an open PR → the branch was force-updated (``Checkout.publish``); edit the PR's
  title and body when they differ (a newer tag supersedes the older one in place);
- nothing left to change (the base already has it, or something newer) and an open PR →
  the PR is obsolete: close it with a comment and delete its branch;
- ``pr-automerge`` → merge with a sha guard once checks pass; checks still running arm the
  forge's auto-merge (GitHub auto-merge, GitLab merge-when-pipeline-succeeds); "not
  mergeable" or a 409 raise ``TransientError`` and the job retries later, finding the same PR.

A CI failure for a revision comments once on each open bump PR made from that revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from bumper import gitrepo, scm
from bumper.core import changes, config, events, prbody
from bumper.errors import PermanentError
from bumper.scm.base import MergeOutcome, ScmProvider
from worker import effect, store
from worker.records import BumpOutcome
from worker.targets import ResolvedTarget

log = logging.getLogger("bumper.worker")

PR_MEMORY_SECONDS = 30 * 86_400


class Forges:
    """Forge providers per config repo, built once per worker process."""

    def __init__(
        self,
        cfg: config.BumperConfig,
        repo_store: store.Store,
        *,
        read_token: Callable[[config.Repo], str | None],
        tools: effect.Tools | None = None,
    ) -> None:
        self.config = cfg
        self.store = repo_store
        self.read_token = read_token
        self.tools = tools or effect.Tools()  # pr_render's renderers and time budget
        self._providers: dict[str, ScmProvider] = {}

    def for_repo(self, repo: config.Repo) -> ScmProvider:
        provider = self._providers.get(repo.name)
        if provider is None:
            token = self.read_token(repo)
            provider = scm.connect(
                repo.forge, repo.url, token=token, api_url=repo.api_url, branch=repo.branch
            )
            self._providers[repo.name] = provider
        return provider

    def remote(self, repo: config.Repo) -> tuple[str, gitrepo.Credentials | None]:
        """Where to clone and push, and with which credentials."""
        remote = self.for_repo(repo).remote
        if remote.token:
            return remote.url, gitrepo.Credentials(remote.username or "oauth2", remote.token)
        return remote.url, None

    def deliver(
        self,
        forge: ScmProvider,
        checkout: gitrepo.Checkout,
        named: ResolvedTarget,
        branch: str,
        outcome: BumpOutcome,
        published: gitrepo.Published | None,
        *,
        sections: Sequence[prbody.Section] = (),
    ) -> dict[str, Any] | None:
        """Open, update, close or merge the target's PR; a summary of the PR, or None.
        ``sections``: the body's parts beyond the table of changes (``worker.prsections``)."""
        rule, target, repo = named.rule, named.target, named.repo
        pr = forge.find_open_pr(branch, repo.branch)
        result = outcome.result
        if published is None or result is None:
            if pr is None:
                return None
            why = "; ".join(f"{d.candidate}: {d.why}" for d in outcome.decisions) or "no candidate"
            forge.close_pr(pr.number, comment=obsolete_comment(repo.branch, why))
            checkout.delete_branch(branch)
            return {"url": pr.url, "number": pr.number, "state": "closed as obsolete"}
        title = changes.pr_title(result, rule.pr_title, rule.commit_style)
        limit = prbody.limit_for(repo.forge)
        if target.pr_render:
            sections = [*sections, effect.effect_section(checkout, result.files, self.tools)]
        body = changes.pr_body(result, rule.pr_body, sections=sections, limit=limit)
        if pr is None:
            pr = forge.open_pr(branch, repo.branch, title, body)
            forge.add_labels(pr.number, rule.labels)
            forge.request_reviewers(pr.number, rule.reviewers)
            state = "opened"
        else:
            if (pr.title, pr.body.strip()) != (title, body.strip()):
                pr = forge.update_pr(pr.number, title=title, body=body)
            missing = [label for label in rule.labels if label not in pr.labels]
            forge.add_labels(pr.number, missing)
            state = "updated" if published.pushed else "unchanged"
        self._remember(outcome, repo, pr.number, pr.url)
        if target.mode == "pr-automerge":
            merged = forge.merge(pr.number, sha=published.sha, when_checks_pass=True)
            state = "merged" if merged == MergeOutcome.MERGED else "auto-merge armed"
            if merged == MergeOutcome.MERGED:
                outcome.keep = None  # the base has it now; nothing to remember
        return {"url": pr.url, "number": pr.number, "state": state}

    def _remember(self, outcome: BumpOutcome, repo: config.Repo, number: int, url: str) -> None:
        kept = outcome.keep
        revision = (kept.event.get("extra") or {}).get("revision") if kept else None
        if revision:
            entry = {"repo": repo.name, "number": number, "url": url}
            self.store.remember_pr(str(revision), outcome.key, entry, PR_MEMORY_SECONDS)

    def on_build(self, build: events.BuildFinished) -> None:
        """A failed build comments (once) on each open bump PR made from its revision."""
        if build.status not in ("failure", "cancelled") or not build.commit:
            return
        for target, entry in self.store.prs_for(build.commit).items():
            repo = self.config.repo(str(entry.get("repo")))
            if repo is None:
                continue
            with self.store.once(f"commented:{build.commit}:{target}", ttl=86_400) as first:
                if first:
                    self.for_repo(repo).comment(int(entry["number"]), ci_failed_comment(build))


def require_prs(forge: ScmProvider, repo: config.Repo, target: config.Target) -> None:
    """Fail visibly before any work when a PR mode points at a forge without PRs."""
    if not forge.supports_pull_requests:
        raise PermanentError(
            f"mode {target.mode} needs a forge with pull requests; repo {repo.name!r} is "
            f"forge: {repo.forge} (use mode: commit)",
            reason="unsupported",
        )


def obsolete_comment(base: str, why: str) -> str:
    return (
        f"Closed by Bumper: `{base}` already has this change or a newer one, so this PR "
        f"is obsolete.\n\nLatest verdicts: {changes.inline(why, 2000)}"
    )


def ci_failed_comment(build: events.BuildFinished) -> str:
    # Every field is the CI sender's: one line each, and a link only to a plain http(s) URL.
    url = changes.safe_url(build.url)
    where = f" ([run]({url}))" if url else ""
    name = f" `{_code(build.pipeline)}`" if build.pipeline else ""
    return (
        f"CI{name} reported **{_code(build.status)}** for revision `{_code(build.commit or '')}`"
        f"{where}, the "
        "revision this image was built from. Bumper will not merge it; a newer successful "
        "build will replace this PR."
    )


def _code(text: str) -> str:
    """Event text for inside a Markdown code span: one line, bounded, no backtick."""
    return changes.inline(text, 200).replace("`", "'")
