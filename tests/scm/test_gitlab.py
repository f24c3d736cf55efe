"""GitLab-only behaviour of GitLabProvider (python-gitlab) against the simulator."""

from __future__ import annotations

import pytest

from bumper import scm
from bumper.errors import PermanentError, TransientError
from bumper.scm.base import MergeOutcome
from bumper.scm.gitlab import GitLabProvider
from tests.scm.conftest import REPO, PushChange
from tests.support.forgesim import ForgeSim


@pytest.fixture
def gl(forgesim: ForgeSim) -> GitLabProvider:
    forgesim.create_repo(REPO, {"apps/api.yaml": "image: api:1.0\n"})
    provider = scm.connect("gitlab", f"{forgesim.url}/{REPO}", token=forgesim.token)
    assert isinstance(provider, GitLabProvider)
    return provider


def test_urls() -> None:
    provider = scm.connect("gitlab", "https://gitlab.example/group/sub/config.git", token="t")
    assert isinstance(provider, GitLabProvider)
    assert provider.remote.url == "https://gitlab.example/group/sub/config.git"
    assert provider.remote.username == "oauth2"


def test_subgroup_project_path_stays_encoded(forgesim: ForgeSim) -> None:
    forgesim.create_repo("group/sub/config")
    provider = scm.connect("gitlab", f"{forgesim.url}/group/sub/config", token=forgesim.token)
    assert provider.default_branch() == "main"
    assert provider.find_open_pr("x") is None
    assert forgesim.requests("GET", r"^/api/v4/projects/group%2Fsub%2Fconfig/merge_requests$")


def test_merge_sends_the_sha_guard(
    gl: GitLabProvider, push_change: PushChange, forgesim: ForgeSim
) -> None:
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    number = gl.open_pr("bumper/api", "main", "t", "b").number
    assert gl.merge(number, sha=head) == MergeOutcome.MERGED
    (merge,) = forgesim.requests("PUT", r"/merge$")
    assert merge.query.get("sha") == head


def test_mwps_then_failed_pipeline_leaves_the_mr_open(
    gl: GitLabProvider, push_change: PushChange, forgesim: ForgeSim
) -> None:
    head = push_change(REPO, "bumper/api", {"apps/api.yaml": "image: api:1.1\n"})
    number = gl.open_pr("bumper/api", "main", "t", "b").number
    forgesim.set_status(REPO, head, "running", "build")
    assert gl.merge(number, sha=head) == MergeOutcome.SCHEDULED
    (merge,) = forgesim.requests("PUT", r"/merge$")
    assert b"merge_when_pipeline_succeeds" in merge.body
    forgesim.set_status(REPO, head, "failed", "build")
    pr = gl.get_pr(number)
    assert pr.state == "open" and not pr.auto_merge
    with pytest.raises(PermanentError) as err:
        gl.merge(number, sha=head)
    assert err.value.reason == "checks_failed"


def test_403_with_rate_limit_headers_is_transient(gl: GitLabProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(403, r"/merge_requests$", reset_in=45, message="403 Forbidden")
    with pytest.raises(TransientError) as err:
        gl.find_open_pr("bumper/api")
    assert err.value.reason == "rate_limited" and 35 <= err.value.delay <= 46
    assert len(forgesim.requests("GET", r"/merge_requests$")) == 1


def test_429_honours_retry_after_over_reset(gl: GitLabProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(429, r"/merge_requests$", retry_after=4, reset_in=300, times=5)
    with pytest.raises(TransientError) as err:
        gl.find_open_pr("bumper/api")
    assert (err.value.reason, err.value.delay) == ("rate_limited", 4)
    assert len(forgesim.requests("GET", r"/merge_requests$")) == 1  # python-gitlab did not retry


def test_plain_403_is_permanent(gl: GitLabProvider, forgesim: ForgeSim) -> None:
    forgesim.inject(403, r"/merge_requests$", message="403 Forbidden")
    with pytest.raises(PermanentError) as err:
        gl.find_open_pr("bumper/api")
    assert err.value.reason == "forbidden"
