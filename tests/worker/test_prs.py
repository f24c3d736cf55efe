"""PR modes against the forge simulator (real git over smart HTTP, GitHub REST via PyGithub):
open, supersede in place, close obsolete, labels and reviewers, automerge, rate limits."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from rq import Queue

from bumper import rqjobs
from bumper.core import changes, events
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain as run_jobs
from tests.support.redis_server import RedisServer
from worker import context, jobs

REPO = "acme/config"
DEPLOY = "apps/api/deploy.yaml"
START = (
    "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: api\n          image: ghcr.io/acme/api:1.0.0\n"
)


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(
    forge: str,
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ForgeSim]:
    forgesim.create_repo(REPO, {DEPLOY: START, "apps/web/deploy.yaml": START.replace("api", "web")})
    forgesim.add_user("alice")
    config = tmp_path / "bumper.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: config
                forge: {forge}
                url: {forgesim.url}/{REPO}
                api_url: {forgesim.github_api_url if forge == "github" else forgesim.gitlab_url}
                credentials: {{env: TEST_FORGE_TOKEN}}
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: "^1.0"}}
                labels: [bump, api]
                reviewers: [alice]
                targets:
                  - repo: config
                    paths: ["apps/api/**"]
                    mode: pr
              - name: web
                image: ghcr.io/acme/web
                policy: {{semver: "^1.0"}}
                targets:
                  - repo: config
                    paths: ["apps/web/**"]
                    mode: pr-automerge
            """
        )
    )
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    context.current.cache_clear()
    yield forgesim
    context.current.cache_clear()


def push(tag: str, image: str = "ghcr.io/acme/api") -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed", image=image, tag=tag, source="harbor", delivery_id=f"h-{tag}"
    )
    return events.to_dict(event)


def drain(client: redis.Redis) -> None:
    run_jobs(client, "bumper-test")


def prs(sim: ForgeSim) -> list[Any]:
    return list(sim.repo(REPO).changes.values())


def test_pr_is_opened_then_superseded_in_place(sim: ForgeSim, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client)
    [pr] = prs(sim)
    branch = changes.branch_name("config", "api/0", "ghcr.io/acme/api")
    assert (pr.state, pr.head, pr.base) == ("open", branch, "main")
    assert pr.title == "Bump api to 1.1.0 in config"
    assert "| `apps/api/deploy.yaml:7` | `1.0.0` → `1.1.0` |" in pr.body
    assert sorted(pr.labels) == ["api", "bump"] and pr.reviewers == ["alice"]
    assert "image: ghcr.io/acme/api:1.1.0" in cast(
        str, sim.repo(REPO).git.read_file(branch, DEPLOY)
    )
    jobs.handle_event(push("1.2.0"))
    jobs.handle_event(push("1.1.5"))
    drain(client)
    [pr] = prs(sim)  # never a second PR for the same target
    assert pr.state == "open" and pr.title == "Bump api to 1.2.0 in config"
    assert "image: ghcr.io/acme/api:1.2.0" in cast(
        str, sim.repo(REPO).git.read_file(branch, DEPLOY)
    )
    assert sim.repo(REPO).git.read_file("main", DEPLOY) == START


def test_obsolete_pr_is_closed_with_a_comment(sim: ForgeSim, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client)
    sim.commit_files(REPO, "main", {DEPLOY: START.replace("1.0.0", "1.3.0")}, "manual bump")
    jobs.handle_event(push("1.2.0"))
    drain(client)
    [pr] = prs(sim)
    assert pr.state == "closed"
    assert "obsolete" in pr.comments[-1].body
    branch = changes.branch_name("config", "api/0", "ghcr.io/acme/api")
    assert sim.repo(REPO).git.sha(branch) is None


def test_automerge_merges_with_the_sha_guard(sim: ForgeSim, client: redis.Redis) -> None:
    jobs.handle_event(push("1.4.0", image="ghcr.io/acme/web"))
    drain(client)
    [pr] = prs(sim)
    assert pr.state == "merged"
    assert "ghcr.io/acme/web:1.4.0" in cast(
        str, sim.repo(REPO).git.read_file("main", "apps/web/deploy.yaml")
    )
    merges = sim.requests("PUT", r"/(pulls|merge_requests)/\d+/merge$")
    assert merges and (b'"sha"' in merges[-1].body or "sha" in merges[-1].query)  # the guard


def test_automerge_waits_for_checks_then_the_forge_merges(
    sim: ForgeSim, client: redis.Redis
) -> None:
    sim.repo(REPO).require_checks = True
    [job_id] = jobs.handle_event(push("1.5.0", image="ghcr.io/acme/web"))
    drain(client)  # no check reported yet: "not mergeable", retried later
    [pr] = prs(sim)
    assert pr.state == "open"
    queue = rqjobs.queue("bumper-test-bumps", client)
    assert queue.fetch_job(job_id).get_status() == "scheduled"  # type: ignore[union-attr]
    assert jobs.handle_event(push("1.5.0", image="ghcr.io/acme/web")) == [job_id]  # same job
    head = pr.head_sha()
    sim.set_status(REPO, head, "pending")
    run_now(queue, job_id)
    drain(client)
    [pr] = prs(sim)
    assert pr.state == "open" and pr.auto_merge  # armed, waiting for checks
    sim.set_status(REPO, head, "success")
    assert pr.state == "merged"


def test_rate_limit_retries_after_the_forge_wait_and_never_duplicates(
    sim: ForgeSim, client: redis.Redis, forge: str
) -> None:
    create = "/api/v3/repos/acme/config/pulls" if forge == "github" else "/merge_requests"
    sim.inject(429, rf"POST \S*{create}$", times=1, retry_after=3)
    [job_id] = jobs.handle_event(push("1.1.0"))
    drain(client)
    assert prs(sim) == []
    queue = rqjobs.queue("bumper-test-bumps", client)
    job = queue.fetch_job(job_id)
    assert job is not None and job.get_status() == "scheduled"
    retried = job.latest_result()
    assert retried is not None and (retried.return_value or {})["retry"]["intervals"] == [3]
    run_now(queue, job_id)
    drain(client)
    [pr] = prs(sim)
    assert pr.state == "open" and "1.1.0" in pr.title


def run_now(queue: Queue, job_id: str) -> None:
    """Move a scheduled retry onto the queue now (what RQ's scheduler does when it is due)."""
    queue.scheduled_job_registry.remove(job_id)
    job = queue.fetch_job(job_id)
    assert job is not None
    queue._enqueue_job(job)


def test_a_ci_failure_comments_once_on_the_open_pr_of_that_revision(
    sim: ForgeSim, client: redis.Redis
) -> None:
    sha = "c0ffee1" + "2" * 33
    event = push("1.1.0")
    event["extra"] = {"revision": sha}
    jobs.handle_event(event)
    drain(client)
    [pr] = prs(sim)
    failed = events.BuildFinished(
        status="failure",
        commit=sha,
        repository="acme/api",
        pipeline="build",
        url="https://ci.example/1",
        source="github",
        delivery_id="b1",
    )
    jobs.handle_event(events.to_dict(failed))
    jobs.handle_event(events.to_dict(failed))  # a redelivery does not comment twice
    notes = [c.body for c in pr.comments if sha in c.body]
    assert len(notes) == 1 and "failure" in notes[0] and "https://ci.example/1" in notes[0]


def test_a_new_pr_costs_one_look_for_an_open_one(sim: ForgeSim, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client)
    [pr] = prs(sim)
    looks = [r for r in sim.requests("GET", r"/(pulls|merge_requests)$") if r.flavour != "git"]
    created = sim.requests("POST", r"/(pulls|merge_requests)$")
    assert (len(looks), len(created)) == (1, 1), [(r.method, r.path) for r in sim.log]


def test_the_pr_body_has_evidence_and_source_range_and_the_commit_has_trailers(
    sim: ForgeSim, client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client)
    [pr] = prs(sim)
    # no registries: entry, no CI result: each piece says it is unknown, and why
    assert "- **CI:** unknown (the new image's source revision is unknown)" in pr.body
    assert "- **Promotion:** not a promotion" in pr.body
    assert "### Source range" in pr.body
    assert "ghcr.io has no registries: entry, so image labels are not read" in pr.body
    assert changes.target_of(pr.body) == "api/0"
    branch = changes.branch_name("config", "api/0", "ghcr.io/acme/api")
    head = sim.repo(REPO).git.sha(branch)
    assert head is not None
    message = sim.repo(REPO).git.commit_info(head)["message"]
    assert message.rstrip("\n").split("\n\n")[-1].splitlines() == [
        "Bumper-Delivery: h-1.1.0",
        "Bumper-Decision: accepted: semver ^1.0",
        "Bumper-Target: api/0",
    ]
