"""``/bumper`` commands from PR comments, end to end on GitHub and GitLab: a signed webhook
(GitHub ``issue_comment``, GitLab Note Hook, built from tests/sources/fixtures) → the real web
app → real Redis → the event job → the forge simulator, which answers the commenter's
permission (collaborator permission / ``members/all``) and receives the reply comment.
Every command runs on GitHub; the hold path, with and without write access, on GitLab too
(the commands share everything past the permission check, which is the forge's own)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask.testing import FlaskClient

from bumper import decisions
from bumper.core import changes, events
from bumper.settings import Settings
from bumper.web import create_app
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.sim import BOT
from tests.support.jobs import drain as run_jobs
from tests.support.redis_server import RedisServer
from worker import context, jobs, store

REPO = "acme/config"
DEPLOY = "apps/api/deploy.yaml"
START = (
    "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: api\n          image: ghcr.io/acme/api:1.0.0\n"
)
SECRET = "comment-webhook-secret-0123456789"
FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"
KEY = "api/0"
BRANCH = changes.branch_name("config", KEY, "ghcr.io/acme/api")
_ids = itertools.count(1)


@pytest.fixture
def forge() -> str:
    return "github"  # a test parametrized over "forge" runs on GitLab too


@pytest.fixture
def sim(
    forge: str,
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ForgeSim]:
    forgesim.create_repo(REPO, {DEPLOY: START})
    forgesim.add_user("bob")  # a user with no role on the repository
    forgesim.grant(REPO, "alice", "write")
    forgesim.grant(REPO, "tim", "triage")  # GitLab: Reporter
    (tmp_path / "hook-secret").write_text(SECRET + "\n")
    api = forgesim.github_api_url if forge == "github" else forgesim.gitlab_url
    config = tmp_path / "bumper.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            receivers:
              - name: forge
                type: {forge}
                secret: {{file: hook-secret}}
                scope: {{repos: [acme]}}
            repos:
              - name: config
                forge: {forge}
                url: {forgesim.url}/{REPO}
                api_url: {api}
                credentials: {{env: TEST_FORGE_TOKEN}}
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: "^1.0"}}
                targets:
                  - repo: config
                    paths: ["apps/api/**"]
                    mode: pr
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


@pytest.fixture
def web(sim: ForgeSim) -> FlaskClient:
    return create_app(Settings()).test_client()


def push(tag: str) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed", image="ghcr.io/acme/api", tag=tag, source="harbor", delivery_id=tag
    )
    return events.to_dict(event)


def drain(client: redis.Redis) -> None:
    run_jobs(client, "bumper-test")


def the_pr(sim: ForgeSim) -> Any:
    [pr] = sim.repo(REPO).changes.values()
    return pr


def proposed(sim: ForgeSim) -> str:
    return cast(str, sim.repo(REPO).git.read_file(BRANCH, DEPLOY))


def comment(web: FlaskClient, sim: ForgeSim, forge: str, author: str, text: str) -> None:
    """Post ``text`` as ``author``'s comment on the bump PR, as the forge's webhook would."""
    number, ident = the_pr(sim).number, next(_ids)
    user_id = sim.users[author].id
    if forge == "github":
        data = json.loads((FIXTURES / "github/issue_comment.created.pull-request.json").read_text())
        data["issue"]["number"] = number
        data["comment"].update(id=ident, body=text)
        data["comment"]["user"].update(login=author, id=user_id)
        data["repository"]["full_name"] = REPO
        body = json.dumps(data).encode()
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": f"d-{ident}",
            "X-Hub-Signature-256": f"sha256={mac}",
        }
    else:
        data = json.loads((FIXTURES / "gitlab/note-hook.merge-request.json").read_text())
        data["project"]["path_with_namespace"] = REPO
        data["merge_request"].update(iid=number, source_branch=BRANCH)
        data["object_attributes"].update(id=ident, note=text, author_id=user_id)
        data["user"].update(username=author, id=user_id)
        body = json.dumps(data).encode()
        headers = {
            "X-Gitlab-Event": "Note Hook",
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event-UUID": f"d-{ident}",
        }
    reply = web.post("/hooks/forge", data=body, headers=headers, content_type="application/json")
    assert reply.status_code == 202, reply.json
    drain(context.current().store.redis)


def last_reply(sim: ForgeSim) -> str:
    return cast(str, the_pr(sim).comments[-1].body)


def replies(sim: ForgeSim) -> int:
    return len(the_pr(sim).comments)


def log_of(client: redis.Redis) -> list[dict[str, Any]]:
    return decisions.DecisionLog(client).recent(image="ghcr.io/acme/api", limit=100)


def opened(client: redis.Redis, sim: ForgeSim) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client)
    assert "ghcr.io/acme/api:1.1.0" in proposed(sim)


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_hold_holds_only_for_a_commenter_with_write_access(
    sim: ForgeSim, web: FlaskClient, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    repo_store = store.Store(client)
    for outsider in ("bob", "tim"):
        comment(web, sim, forge, outsider, "/bumper hold")
        assert repo_store.hold_of(KEY) is None
        assert f"@{outsider}: only people with write access" in last_reply(sim)
    comment(web, sim, forge, "alice", "/bumper hold")
    assert (repo_store.hold_of(KEY) or {})["by"] == "alice"
    assert last_reply(sim).startswith(f"Held `{KEY}`")
    jobs.handle_event(push("1.2.0"))
    drain(client)
    jobs.handle_event(push("1.3.0"))  # a second run of the held target
    drain(client)
    assert "ghcr.io/acme/api:1.1.0" in proposed(sim)  # held: not bumped
    number = the_pr(sim).number
    held = [e for e in log_of(client) if e["result"] == "held" and e["candidate"]]
    # each waiting candidate once per hold (1.1.0: the open PR's, still a candidate)
    assert sorted(e["candidate"] for e in held) == ["1.1.0", "1.2.0", "1.3.0"]
    assert held[0]["why"] == f"held by @alice via PR #{number}"
    comment(web, sim, forge, "alice", "/bumper release")
    assert repo_store.hold_of(KEY) is None
    assert "ghcr.io/acme/api:1.3.0" in proposed(sim)  # what waited is bumped


def test_pin_pins_only_for_a_commenter_with_write_access(
    sim: ForgeSim, web: FlaskClient, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    repo_store = store.Store(client)
    comment(web, sim, forge, "bob", "/bumper pin 1.1.5")
    assert repo_store.pin_of(KEY) is None and "only people with write access" in last_reply(sim)
    assert "ghcr.io/acme/api:1.1.0" in proposed(sim)
    comment(web, sim, forge, "alice", "/bumper pin 1.1.5")
    assert (repo_store.pin_of(KEY) or {})["tag"] == "1.1.5"
    assert "ghcr.io/acme/api:1.1.5" in proposed(sim)  # the PR moves to the pinned tag
    jobs.handle_event(push("1.3.0"))
    drain(client)
    assert "ghcr.io/acme/api:1.1.5" in proposed(sim)  # never past the pin
    past = [e for e in log_of(client) if e["candidate"] == "1.3.0" and e["rule"] == "pin"]
    assert past and past[0]["why"].startswith("pinned to 1.1.5 by @alice via PR #")
    for bad, why in (("2.0.0", "policy refuses"), ("evil/x:1", "not a tag of this image")):
        before = replies(sim)
        comment(web, sim, forge, "alice", f"/bumper pin {bad}")
        assert replies(sim) == before + 1 and why in last_reply(sim)
        assert "\n" not in last_reply(sim)
    assert (repo_store.pin_of(KEY) or {})["tag"] == "1.1.5"
    comment(web, sim, forge, "alice", "/bumper release")
    assert "ghcr.io/acme/api:1.3.0" in proposed(sim)  # released: the newest waited


def test_retry_runs_a_bump_only_for_a_commenter_with_write_access(
    sim: ForgeSim, web: FlaskClient, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    finished = jobs.worker_queues("bumper-test", client)[1].finished_job_registry
    runs = len(finished.get_job_ids())
    comment(web, sim, forge, "bob", "/bumper retry")
    assert len(finished.get_job_ids()) == runs and "write access" in last_reply(sim)
    comment(web, sim, forge, "alice", "/bumper retry")
    assert len(finished.get_job_ids()) == runs + 1
    assert last_reply(sim).startswith(f"Retrying `{KEY}`: bump job `")
    assert "ghcr.io/acme/api:1.1.0" in proposed(sim)
    assert len(sim.repo(REPO).changes) == 1  # the same PR, never a second one


def test_retry_on_a_target_now_in_commit_mode_says_what_it_does_and_queues_nothing(
    sim: ForgeSim, web: FlaskClient, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    config = Path(str(Settings().config_file))
    config.write_text(config.read_text().replace("mode: pr", "mode: commit"))
    context.current.cache_clear()
    comment(web, sim, forge, "alice", "/bumper retry")
    assert jobs.worker_queues("bumper-test", client)[1].finished_job_registry.count == 1
    assert last_reply(sim).startswith(f"`{KEY}` commits its bumps directly (`mode: commit`)")
    assert "re-runs a failed bump job only" in last_reply(sim)


def test_retry_asked_twice_before_it_runs_is_one_bump_job(
    sim: ForgeSim, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    number = the_pr(sim).number
    asked = [
        events.to_dict(
            events.PullRequestComment(
                forge=forge,
                repository=REPO,
                number=number,
                author="alice",
                command="/bumper retry",
                author_id=sim.users["alice"].id,
                head_branch=BRANCH,
            )
        )
        for _ in range(2)
    ]
    for data in asked:
        assert jobs.handle_event(data) == ["retried"]
    bumps = jobs.worker_queues("bumper-test", client)[1]
    assert bumps.count == 1
    first, second = (c.body for c in the_pr(sim).comments[-2:])
    assert first == second  # both name the one pending job


def test_explain_unknown_and_own_comments(
    sim: ForgeSim, web: FlaskClient, client: redis.Redis, forge: str
) -> None:
    opened(client, sim)
    comment(web, sim, forge, "alice", "/bumper explain")
    text = last_reply(sim)
    assert text.startswith(f"Decision log of `{KEY}` (newest first):")
    assert "accepted" in text and "`1.1.0`" in text and len(text) <= 4000
    comment(web, sim, forge, "alice", "/bumper frobnicate")
    assert last_reply(sim).startswith("unknown command `frobnicate`. Bumper understands")
    before = replies(sim)
    sim.grant(REPO, BOT, "admin")
    comment(web, sim, forge, BOT, "/bumper hold")  # Bumper's own account: never a command
    assert replies(sim) == before and store.Store(client).hold_of(KEY) is None
