"""GitHubProvider (PyGithub, unmodified) against the forge simulator: real HTTP, real git."""

from __future__ import annotations

import time

import pytest

from bumper import scm
from bumper.errors import PermanentError, TransientError
from bumper.scm.base import CheckState, MergeMethod, MergeOutcome
from bumper.scm.github import GitHubProvider
from tests.scm.conftest import PushChange
from tests.support.forgesim import ForgeSim

REPO = "acme/config"


@pytest.fixture
def gh(forgesim: ForgeSim) -> GitHubProvider:
    forgesim.create_repo(REPO, {"apps/api.yaml": "image: api:1.0\n"})
    forgesim.add_user("alice")
    provider = scm.connect("github", f"{forgesim.url}/{REPO}", token=forgesim.token)
    assert isinstance(provider, GitHubProvider)
    return provider


def test_connect_derives_enterprise_api_and_clone_urls(forgesim: ForgeSim, gh: GitHubProvider):
    assert gh.remote.url == forgesim.clone_url(REPO)
    assert gh.remote.username == "x-access-token"
    assert forgesim.token not in repr(gh.remote)
    assert gh.default_branch() == "main"
    assert forgesim.requests("GET", r"^/api/v3/repos/acme/config$")


def test_open_find_update_never_duplicates(gh: GitHubProvider, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    assert gh.find_open_pr("bumper/api") is None
    pr = gh.open_pr("bumper/api", "main", "Bump api to 1.1", "body one")
    assert (pr.number, pr.head_sha, pr.state, pr.mergeable) == (1, head, "open", True)
    again = gh.open_pr("bumper/api", "main", "Bump api to 1.1", "body one")
    assert again.number == pr.number
    assert len(forgesim.requests("POST", r"/pulls$")) == 1

    head2 = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.2\n"})
    updated = gh.update_pr(pr.number, title="Bump api to 1.2", body="body two")
    assert (updated.title, updated.body, updated.head_sha) == ("Bump api to 1.2", "body two", head2)
    found = gh.find_open_pr("bumper/api", "main")
    assert found is not None and (found.number, found.title) == (pr.number, "Bump api to 1.2")
    assert gh.find_open_pr("bumper/other") is None


def test_open_pr_race_returns_the_winner(gh: GitHubProvider, push_change: PushChange, forgesim):
    push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    # another worker opens the PR between our lookup and our create: the create fails with 422
    winner = gh.open_pr("bumper/api", "main", "t", "b")
    original_find = gh.find_open_pr
    calls = iter([None])
    gh.find_open_pr = lambda head, base=None: next(calls, None) or original_find(head, base)  # type: ignore
    assert gh.open_pr("bumper/api", "main", "t", "b").number == winner.number
    assert len(forgesim.repo(REPO).changes) == 1


def test_labels_reviewers_comment_close(gh: GitHubProvider, push_change: PushChange, forgesim):
    push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    gh.add_labels(pr.number, ["bumper", "prod"])
    gh.add_labels(pr.number, ["bumper"])
    gh.request_reviewers(pr.number, ["alice"])
    gh.comment(pr.number, "CI failed for this revision")
    got = gh.get_pr(pr.number)
    assert got.labels == ("bumper", "prod") and got.reviewers == ("alice",)
    gh.close_pr(pr.number, comment="Superseded by #2")
    gh.close_pr(pr.number, comment="Superseded by #2")  # idempotent: no second comment
    change = forgesim.repo(REPO).changes[pr.number]
    assert change.state == "closed"
    assert [c.body for c in change.comments] == ["CI failed for this revision", "Superseded by #2"]
    assert gh.find_open_pr("bumper/api") is None


def test_unknown_reviewer_is_permanent(gh: GitHubProvider, push_change: PushChange):
    push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    with pytest.raises(PermanentError) as err:
        gh.request_reviewers(pr.number, ["mallory"])
    assert err.value.reason == "invalid" and "collaborators" in str(err.value)


def test_merge_really_merges_with_sha_guard(gh: GitHubProvider, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    assert gh.merge(pr.number, sha=head) == MergeOutcome.MERGED
    git = forgesim.repo(REPO).git
    assert git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"
    assert git.is_ancestor(head, "main")
    assert gh.merge(pr.number, sha=head) == MergeOutcome.MERGED  # idempotent
    assert len(forgesim.requests("PUT", r"/merge$")) == 1


def test_merge_squash(gh: GitHubProvider, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "Bump api", "b")
    gh.merge(pr.number, sha=head, method=MergeMethod.SQUASH)
    git = forgesim.repo(REPO).git
    assert not git.is_ancestor(head, "main")
    assert git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"


def test_merge_stale_sha_is_transient_and_merges_nothing(
    gh: GitHubProvider, push_change: PushChange, forgesim
):
    old = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.2\n"})
    with pytest.raises(TransientError) as err:
        gh.merge(pr.number, sha=old)
    assert err.value.reason == "conflict"
    assert forgesim.repo(REPO).git.read_file("main", "apps/api.yaml") == "image: api:1.0\n"


def test_server_side_409_on_head_race(gh: GitHubProvider, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    forgesim.inject(409, r"^PUT .*/pulls/1/merge$")
    with pytest.raises(TransientError) as err:
        gh.merge(pr.number, sha=head)
    assert err.value.reason == "conflict" and err.value.__cause__ is not None
    assert gh.merge(pr.number, sha=head) == MergeOutcome.MERGED


def test_conflicting_pr_is_not_mergeable_transient(
    gh: GitHubProvider, push_change: PushChange, forgesim
):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    forgesim.commit_files(REPO, "main", {"apps/api.yaml": "image: api:9.9\n"}, "hotfix")
    assert gh.get_pr(pr.number).mergeable is False
    with pytest.raises(TransientError) as err:
        gh.merge(pr.number, sha=head)
    assert err.value.reason == "not_mergeable"
    assert forgesim.repo(REPO).changes[1].state == "open"


def test_checks_combine_statuses_and_check_runs(gh: GitHubProvider, push_change, forgesim):
    sha = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    assert gh.checks(sha).state == CheckState.NONE
    gh.set_status(sha, CheckState.PENDING, context="bumper/ci", description="waiting")
    assert gh.checks(sha).state == CheckState.PENDING
    gh.set_status(sha, CheckState.SUCCESS, context="bumper/ci")
    assert gh.checks(sha).state == CheckState.SUCCESS
    forgesim.add_check_run(REPO, sha, "build", "in_progress")
    assert gh.checks(sha).state == CheckState.PENDING
    forgesim.add_check_run(REPO, sha, "build", "completed", "failure")
    checks = gh.checks(sha)
    assert checks.state == CheckState.FAILURE
    assert dict(checks.details) == {"bumper/ci": "success", "build": "failure"}


def test_pending_checks_arm_auto_merge_then_forge_merges(
    gh: GitHubProvider, push_change: PushChange, forgesim
):
    forgesim.repo(REPO).require_checks = True
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    forgesim.set_status(REPO, head, "pending", "ci")
    assert gh.merge(pr.number, sha=head) == MergeOutcome.SCHEDULED
    assert gh.get_pr(pr.number).auto_merge
    assert gh.merge(pr.number, sha=head) == MergeOutcome.SCHEDULED  # no second GraphQL call
    assert len(forgesim.requests("POST", r"^/api/graphql$")) == 1
    forgesim.set_status(REPO, head, "success", "ci")
    assert gh.get_pr(pr.number).state == "merged"
    assert forgesim.repo(REPO).git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"


def test_pending_checks_without_auto_merge_is_transient(gh, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    forgesim.set_status(REPO, head, "pending", "ci")
    with pytest.raises(TransientError) as err:
        gh.merge(pr.number, sha=head, when_checks_pass=False)
    assert err.value.reason == "checks_pending"


def test_failed_checks_are_permanent(gh: GitHubProvider, push_change: PushChange, forgesim):
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    pr = gh.open_pr("bumper/api", "main", "t", "b")
    forgesim.set_status(REPO, head, "failure", "ci")
    with pytest.raises(PermanentError) as err:
        gh.merge(pr.number, sha=head)
    assert err.value.reason == "checks_failed"


# -- faults: one request each (no library retry, no sleeping), mapped with the right delay -----


def test_429_honours_retry_after_without_retrying(gh: GitHubProvider, forgesim: ForgeSim):
    forgesim.inject(429, r"^GET /api/v3/repos/acme/config/pulls$", retry_after=7)
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert time.monotonic() - started < 2
    assert err.value.reason == "rate_limited" and err.value.delay == 7
    assert len(forgesim.requests("GET", r"/pulls$")) == 1


def test_403_primary_rate_limit_waits_until_reset(gh: GitHubProvider, forgesim: ForgeSim):
    forgesim.inject(403, r"/pulls$", reset_in=120)
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "rate_limited" and 110 <= err.value.delay <= 121
    assert len(forgesim.requests("GET", r"/pulls$")) == 1


def test_403_secondary_rate_limit_without_headers_backs_off_a_minute(gh, forgesim: ForgeSim):
    forgesim.inject(403, r"/pulls$")
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "rate_limited" and err.value.delay == 60


def test_plain_403_is_permanent(gh: GitHubProvider, forgesim: ForgeSim):
    forgesim.inject(403, r"/pulls$", message="Resource not accessible by integration")
    with pytest.raises(PermanentError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "forbidden"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient_without_retrying(gh: GitHubProvider, forgesim: ForgeSim, status: int):
    forgesim.inject(status, r"/pulls$", times=3)
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "forge_unavailable"
    assert len(forgesim.requests("GET", r"/pulls$")) == 1
    assert isinstance(err.value.__cause__, Exception)


def test_fault_counts_down_then_clears(gh: GitHubProvider, forgesim: ForgeSim):
    forgesim.inject(502, r"/pulls$", times=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            gh.find_open_pr("bumper/api")
    assert gh.find_open_pr("bumper/api") is None
    assert [r.status for r in forgesim.requests("GET", r"/pulls$")] == [502, 502, 200]


def test_missing_pr_and_bad_token_are_permanent(forgesim: ForgeSim, gh: GitHubProvider):
    with pytest.raises(PermanentError) as err:
        gh.get_pr(42)
    assert err.value.reason == "not_found"
    bad = GitHubProvider(REPO, token="wrong", api_url=forgesim.github_api_url)
    with pytest.raises(PermanentError) as err:
        bad.default_branch()
    assert err.value.reason == "unauthorized" and "wrong" not in str(err.value)


def test_connection_refused_is_transient(forgesim: ForgeSim):
    dead = GitHubProvider(REPO, token="t", api_url="http://127.0.0.1:9/api/v3", timeout=2)
    with pytest.raises(TransientError) as err:
        dead.find_open_pr("x")
    assert err.value.reason == "forge_unavailable"
