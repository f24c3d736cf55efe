"""The ScmProvider contract, run against both forges in the simulator (real HTTP, real git).

Each test runs twice (``forge`` fixture: github via PyGithub, gitlab via python-gitlab).
"""

from __future__ import annotations

import time

import pytest

from bumper.errors import PermanentError, TransientError
from bumper.scm.base import CheckState, MergeMethod, MergeOutcome, ScmProvider
from tests.scm.conftest import REPO, ForgeCase, PushChange
from tests.support.forgesim import ForgeSim

BRANCH = "bumper/api"


def _open(forge: ForgeCase, push_change: PushChange, tag: str = "1.1") -> tuple[int, str]:
    head = push_change(REPO, BRANCH, {"apps/api.yaml": f"image: api:{tag}\n"})
    return forge.provider.open_pr(BRANCH, "main", f"Bump api to {tag}", "body").number, head


def test_is_a_provider_with_a_remote(forge: ForgeCase, forgesim: ForgeSim) -> None:
    assert isinstance(forge.provider, ScmProvider)
    assert forge.provider.remote.url == forgesim.clone_url(REPO)
    assert forgesim.token not in repr(forge.provider.remote)
    assert forge.provider.default_branch() == "main"


def test_open_find_update_never_duplicates(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    scm = forge.provider
    head = push_change(REPO, BRANCH, {"apps/api.yaml": "image: api:1.1\n"})
    assert scm.find_open_pr(BRANCH) is None
    pr = scm.open_pr(BRANCH, "main", "Bump api to 1.1", "body one")
    assert (pr.number, pr.head_sha, pr.state, pr.head_branch, pr.base_branch) == (
        1,
        head,
        "open",
        BRANCH,
        "main",
    )
    assert pr.url.startswith(forgesim.url)
    assert scm.open_pr(BRANCH, "main", "Bump api to 1.1", "body one").number == pr.number
    assert len(forgesim.repo(REPO).changes) == 1

    head2 = push_change(REPO, BRANCH, {"apps/api.yaml": "image: api:1.2\n"})
    updated = scm.update_pr(pr.number, title="Bump api to 1.2", body="body two")
    assert (updated.title, updated.body, updated.head_sha) == ("Bump api to 1.2", "body two", head2)
    found = scm.find_open_pr(BRANCH, "main")
    assert found is not None and (found.number, found.title) == (pr.number, "Bump api to 1.2")
    assert scm.find_open_pr("bumper/other") is None
    assert scm.find_open_pr(BRANCH, "release") is None


def test_open_pr_lost_race_returns_the_winner(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, _ = _open(forge, push_change)
    # another worker opened it between our lookup and our create: the lookup "misses" once
    original = forge.provider.find_open_pr
    misses = iter([None])
    forge.provider.find_open_pr = lambda h, b=None: next(misses, None) or original(h, b)  # type: ignore
    assert forge.provider.open_pr(BRANCH, "main", "t", "b").number == number
    assert len(forgesim.repo(REPO).changes) == 1


def test_labels_reviewers_comment_close(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    scm = forge.provider
    number, _ = _open(forge, push_change)
    scm.add_labels(number, ["bumper", "prod"])
    scm.add_labels(number, ["bumper"])
    scm.request_reviewers(number, ["alice"])
    scm.request_reviewers(number, ["alice"])
    scm.comment(number, "CI failed for this revision")
    got = scm.get_pr(number)
    assert (got.labels, got.reviewers) == (("bumper", "prod"), ("alice",))
    scm.close_pr(number, comment="Superseded by a newer bump")
    scm.close_pr(number, comment="Superseded by a newer bump")  # idempotent
    change = forgesim.repo(REPO).changes[number]
    assert change.state == "closed" and scm.get_pr(number).state == "closed"
    assert [c.body for c in change.comments] == [
        "CI failed for this revision",
        "Superseded by a newer bump",
    ]
    assert scm.find_open_pr(BRANCH) is None


def test_unknown_reviewer_is_permanent(forge: ForgeCase, push_change: PushChange) -> None:
    number, _ = _open(forge, push_change)
    with pytest.raises(PermanentError) as err:
        forge.provider.request_reviewers(number, ["mallory"])
    assert err.value.reason == "invalid"


def test_merge_really_merges_with_sha_guard(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, head = _open(forge, push_change)
    assert forge.provider.merge(number, sha=head) == MergeOutcome.MERGED
    git = forgesim.repo(REPO).git
    assert git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"
    assert git.is_ancestor(head, "main")
    assert forge.provider.get_pr(number).state == "merged"
    assert forge.provider.merge(number, sha=head) == MergeOutcome.MERGED  # idempotent
    assert len(forgesim.requests("PUT", r"/merge$")) == 1


def test_merge_squash(forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim) -> None:
    number, head = _open(forge, push_change)
    forge.provider.merge(number, sha=head, method=MergeMethod.SQUASH)
    git = forgesim.repo(REPO).git
    assert not git.is_ancestor(head, "main")
    assert git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"


def test_stale_sha_is_transient_and_merges_nothing(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, old = _open(forge, push_change)
    push_change(REPO, BRANCH, {"apps/api.yaml": "image: api:1.2\n"})
    with pytest.raises(TransientError) as err:
        forge.provider.merge(number, sha=old)
    assert err.value.reason == "conflict"
    assert forgesim.repo(REPO).git.read_file("main", "apps/api.yaml") == "image: api:1.0\n"


def test_server_409_on_merge_is_transient_then_merges_once(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, head = _open(forge, push_change)
    forgesim.inject(409, forge.merge_route(number))
    with pytest.raises(TransientError) as err:
        forge.provider.merge(number, sha=head)
    assert err.value.reason == "conflict" and err.value.__cause__ is not None
    assert forge.provider.merge(number, sha=head) == MergeOutcome.MERGED
    assert [r.status for r in forgesim.requests("PUT", r"/merge$")] == [409, 200]
    assert len(forgesim.repo(REPO).changes) == 1


def test_conflict_is_not_mergeable_transient(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, head = _open(forge, push_change)
    forgesim.commit_files(REPO, "main", {"apps/api.yaml": "image: api:9.9\n"}, "hotfix")
    assert forge.provider.get_pr(number).mergeable is False
    with pytest.raises(TransientError) as err:
        forge.provider.merge(number, sha=head)
    assert err.value.reason == "not_mergeable"
    assert forgesim.repo(REPO).changes[number].state == "open"


def test_checks_and_statuses_round_trip(forge: ForgeCase, push_change: PushChange) -> None:
    scm = forge.provider
    sha = push_change(REPO, BRANCH, {"apps/api.yaml": "image: api:1.1\n"})
    assert scm.checks(sha).state == CheckState.NONE
    scm.set_status(sha, CheckState.PENDING, context="bumper/ci", description="waiting")
    assert scm.checks(sha).state == CheckState.PENDING
    scm.set_status(sha, CheckState.SUCCESS, context="bumper/ci", target_url="http://ci/1")
    checks = scm.checks(sha)
    assert checks.state == CheckState.SUCCESS and checks.sha == sha
    assert [name for name, _ in checks.details] == ["bumper/ci"]
    scm.set_status(sha, CheckState.FAILURE, context="lint")
    assert scm.checks(sha).state == CheckState.FAILURE


def test_pending_checks_schedule_the_merge_and_the_forge_merges(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    forgesim.repo(REPO).require_checks = True
    number, head = _open(forge, push_change)
    forgesim.set_status(REPO, head, "pending", "ci")
    assert forge.provider.merge(number, sha=head) == MergeOutcome.SCHEDULED
    assert forge.provider.get_pr(number).auto_merge
    assert forge.provider.merge(number, sha=head) == MergeOutcome.SCHEDULED  # no re-arming
    forgesim.set_status(REPO, head, "success", "ci")
    assert forge.provider.get_pr(number).state == "merged"
    assert forgesim.repo(REPO).git.read_file("main", "apps/api.yaml") == "image: api:1.1\n"


def test_pending_checks_without_auto_merge_are_transient(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, head = _open(forge, push_change)
    forgesim.set_status(REPO, head, "pending", "ci")
    with pytest.raises(TransientError) as err:
        forge.provider.merge(number, sha=head, when_checks_pass=False)
    assert err.value.reason == "checks_pending"


def test_failed_checks_are_permanent(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    number, head = _open(forge, push_change)
    forgesim.set_status(REPO, head, "failure", "ci")
    with pytest.raises(PermanentError) as err:
        forge.provider.merge(number, sha=head)
    assert err.value.reason == "checks_failed"
    assert forgesim.repo(REPO).changes[number].state == "open"


def test_merging_a_closed_pr_is_permanent(forge: ForgeCase, push_change: PushChange) -> None:
    number, head = _open(forge, push_change)
    forge.provider.close_pr(number)
    with pytest.raises(PermanentError) as err:
        forge.provider.merge(number, sha=head)
    assert err.value.reason == "pr_closed"


# -- faults: one request each (the library neither retries nor sleeps), right delay ----------


def test_429_honours_retry_after_without_retrying(forge: ForgeCase, forgesim: ForgeSim) -> None:
    forgesim.inject(429, forge.list_prs, retry_after=7)
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        forge.provider.find_open_pr(BRANCH)
    assert time.monotonic() - started < 2
    assert (err.value.reason, err.value.delay) == ("rate_limited", 7)
    assert len(forgesim.requests("GET", forge.list_prs.split(" ", 1)[1])) == 1


def test_429_without_retry_after_waits_for_the_reset(forge: ForgeCase, forgesim: ForgeSim) -> None:
    forgesim.inject(429, forge.list_prs, reset_in=90)
    with pytest.raises(TransientError) as err:
        forge.provider.find_open_pr(BRANCH)
    assert err.value.reason == "rate_limited" and 80 <= err.value.delay <= 91


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient_without_retrying(
    forge: ForgeCase, forgesim: ForgeSim, status: int
) -> None:
    forgesim.inject(status, forge.list_prs, times=3)
    with pytest.raises(TransientError) as err:
        forge.provider.find_open_pr(BRANCH)
    assert err.value.reason == "forge_unavailable"
    assert isinstance(err.value.__cause__, Exception)
    assert len(forgesim.requests("GET", forge.list_prs.split(" ", 1)[1])) == 1


def test_fault_counts_down_then_clears(forge: ForgeCase, forgesim: ForgeSim) -> None:
    forgesim.inject(502, forge.list_prs, times=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            forge.provider.find_open_pr(BRANCH)
    assert forge.provider.find_open_pr(BRANCH) is None
    statuses = [r.status for r in forgesim.requests("GET", forge.list_prs.split(" ", 1)[1])]
    assert statuses == [502, 502, 200]


def test_missing_pr_is_permanent(forge: ForgeCase) -> None:
    with pytest.raises(PermanentError) as err:
        forge.provider.get_pr(42)
    assert err.value.reason == "not_found"


def test_bad_token_is_permanent_and_not_echoed(forge: ForgeCase, forgesim: ForgeSim) -> None:
    from bumper import scm

    bad = scm.connect(forge.name, f"{forgesim.url}/{REPO}", token="wrong-token-x")
    with pytest.raises(PermanentError) as err:
        bad.find_open_pr(BRANCH)
    assert err.value.reason == "unauthorized" and "wrong-token-x" not in str(err.value)


def test_connection_refused_is_transient(forge: ForgeCase) -> None:
    from bumper import scm

    dead = scm.connect(forge.name, "http://127.0.0.1:9/acme/config", token="t")
    with pytest.raises(TransientError) as err:
        dead.find_open_pr(BRANCH)
    assert err.value.reason == "forge_unavailable"


def test_concurrent_opens_give_one_pr(
    forge: ForgeCase, push_change: PushChange, forgesim: ForgeSim
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bumper import scm

    push_change(REPO, BRANCH, {"apps/api.yaml": "image: api:1.1\n"})
    workers = [
        scm.connect(forge.name, f"{forgesim.url}/{REPO}", token=forgesim.token) for _ in range(6)
    ]
    with ThreadPoolExecutor(len(workers)) as pool:
        numbers = set(pool.map(lambda w: w.open_pr(BRANCH, "main", "t", "b").number, workers))
    assert numbers == {1} and len(forgesim.repo(REPO).changes) == 1
    creates = forgesim.requests("POST", r"/(pulls|merge_requests)$")
    assert sorted(r.status for r in creates)[0] == 201  # the losers were refused, then found it
    assert [r.status for r in creates].count(201) == 1
