"""GitHub-only behaviour of GitHubProvider (PyGithub) against the simulator."""

from __future__ import annotations

import pytest

from bumper import scm
from bumper.errors import PermanentError, TransientError
from bumper.scm.base import CheckState, MergeOutcome
from bumper.scm.github import GitHubProvider, default_clone_url
from tests.scm.conftest import REPO, PushChange
from tests.support.forgesim import ForgeSim


@pytest.fixture
def gh(forgesim: ForgeSim) -> GitHubProvider:
    forgesim.create_repo(REPO, {"apps/api.yaml": "image: api:1.0\n"})
    provider = scm.connect("github", f"{forgesim.url}/{REPO}", token=forgesim.token)
    assert isinstance(provider, GitHubProvider)
    return provider


def test_api_and_clone_urls() -> None:
    assert default_clone_url("https://api.github.com", "a/b") == "https://github.com/a/b.git"
    assert default_clone_url("https://ghe.corp/api/v3", "a/b") == "https://ghe.corp/a/b.git"
    provider = scm.connect("github", "https://github.com/a/b", token="t")
    assert isinstance(provider, GitHubProvider)
    assert provider.remote.url == "https://github.com/a/b.git"
    assert provider.remote.username == "x-access-token"


def test_served_under_enterprise_api_path(gh: GitHubProvider, forgesim: ForgeSim) -> None:
    assert gh.default_branch() == "main"
    assert forgesim.requests("GET", r"^/api/v3/repos/acme/config$")


def test_check_runs_count_as_checks(
    gh: GitHubProvider, push_change: PushChange, forgesim: ForgeSim
) -> None:
    sha = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    gh.set_status(sha, CheckState.SUCCESS, context="bumper/ci")
    forgesim.add_check_run(REPO, sha, "build", "in_progress")
    assert gh.checks(sha).state == CheckState.PENDING
    forgesim.add_check_run(REPO, sha, "build", "completed", "failure")
    checks = gh.checks(sha)
    assert checks.state == CheckState.FAILURE
    assert dict(checks.details) == {"bumper/ci": "success", "build": "failure"}


def test_auto_merge_uses_graphql_once_with_expected_head(
    gh: GitHubProvider, push_change: PushChange, forgesim: ForgeSim
) -> None:
    forgesim.repo(REPO).require_checks = True
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    number = gh.open_pr("bumper/api", "main", "t", "b").number
    forgesim.set_status(REPO, head, "pending", "ci")
    assert gh.merge(number, sha=head) == MergeOutcome.SCHEDULED
    assert gh.merge(number, sha=head) == MergeOutcome.SCHEDULED
    calls = forgesim.requests("POST", r"^/api/graphql$")
    assert len(calls) == 1 and head.encode() in calls[0].body


def test_403_primary_rate_limit_waits_until_reset(gh: GitHubProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(403, r"/pulls$", reset_in=120)
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "rate_limited" and 110 <= err.value.delay <= 121
    assert len(forgesim.requests("GET", r"/pulls$")) == 1


def test_403_secondary_rate_limit_without_headers_backs_off_a_minute(
    gh: GitHubProvider, forgesim: ForgeSim
) -> None:
    forgesim.inject(403, r"/pulls$")
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert (err.value.reason, err.value.delay) == ("rate_limited", 60)
    assert len(forgesim.requests("GET", r"/pulls$")) == 1


def test_403_with_retry_after_honours_it(gh: GitHubProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(403, r"/pulls$", retry_after=5)
    with pytest.raises(TransientError) as err:
        gh.find_open_pr("bumper/api")
    assert (err.value.reason, err.value.delay) == ("rate_limited", 5)


def test_plain_403_is_permanent(gh: GitHubProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(403, r"/pulls$", message="Resource not accessible by integration")
    with pytest.raises(PermanentError) as err:
        gh.find_open_pr("bumper/api")
    assert err.value.reason == "forbidden"


def test_auto_merge_refused_for_optional_checks_waits_then_merges(
    gh: GitHubProvider, push_change: PushChange, forgesim: ForgeSim
) -> None:
    # no branch protection: GitHub refuses to arm auto-merge ("unstable status"), so retry later
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    number = gh.open_pr("bumper/api", "main", "t", "b").number
    forgesim.set_status(REPO, head, "pending", "ci")
    with pytest.raises(TransientError) as err:
        gh.merge(number, sha=head)
    assert err.value.reason == "checks_pending" and "unstable status" in str(err.value)
    forgesim.set_status(REPO, head, "success", "ci")
    assert gh.merge(number, sha=head) == MergeOutcome.MERGED
