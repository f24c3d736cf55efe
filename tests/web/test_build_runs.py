"""Through the real receiver and a real Redis: one GitHub Actions run's deliveries make one
``build.finished`` (so do a Buildkite build's webhook and EventBridge notifications, and a
Jenkins build's COMPLETED and FINALIZED phases, while two builds of one commit stay two), and a
Quay build notification's kind comes from its URL's ``?event=``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask.testing import FlaskClient

from bumper.settings import Settings
from bumper.web import create_app, intake
from tests.web.conftest import QUEUE, config_for, receiver_entry, signed

FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"
SCOPE = {"images": ["quay.io"], "repos": ["acme/api", "project", "evgeny-goldin/asgard"]}
SENDERS = (
    ("github", "github"),
    ("quay", "quay-url-token"),
    ("buildkite", "buildkite-token"),
    ("jenkins", "jenkins-bearer"),
)


@pytest.fixture
def client(settings: Settings, tmp_path: Path, redis_client: redis.Redis) -> FlaskClient:
    entries = []
    for sender, scheme in SENDERS:
        path = tmp_path / f"secret-{sender}"
        path.write_text(_secret(scheme) + "\n")
        entries.append(receiver_entry(sender, sender, path, scope=SCOPE))
    return create_app(settings, config_for(entries)).test_client()


def _secret(scheme: str) -> str:
    from tests.web.conftest import SCHEMES

    return SCHEMES[scheme].secret


def queued_events(client: redis.Redis) -> list[dict[str, Any]]:
    """The event of each job queued, as the worker will read it."""
    ids = cast(list[bytes], client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    found = []
    for job_id in ids:
        data = cast(bytes, client.hget(b"rq:job:" + job_id, "data"))
        found.append(json.loads(data)[2][0])
    return found


def deliver(client: FlaskClient, event: str, body: bytes) -> tuple[int, dict[str, Any]]:
    headers, _ = signed("github", body, headers={"X-GitHub-Event": event})
    reply = client.post("/hooks/github", data=body, headers=headers)
    return reply.status_code, reply.json or {}


def test_one_actions_run_makes_one_build_finished(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    run = FIXTURES / "github" / "run"
    replies = [
        deliver(client, event, (run / f"{event}.completed.json").read_bytes())
        for event in ("check_suite", "workflow_job", "workflow_run")
    ]
    assert [status for status, _ in replies] == [200, 200, 202]
    (event,) = queued_events(redis_client)
    assert (event["type"], event["status"], event["pipeline"]) == (
        "build.finished",
        "success",
        "build",
    )
    assert (event["repository"], event["commit"]) == (
        "acme/api",
        "3484a3fb816e0859fd6e1cea078d76385ff50625",
    )


def test_a_failed_job_and_its_failed_run_make_one_failure(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    """Both report the same run's failure (a job's failure fails its run): once, whichever
    comes first; a re-run (next attempt) is a run of its own."""
    run = FIXTURES / "github" / "run"
    job = json.loads((run / "workflow_job.completed.json").read_bytes())
    job["workflow_job"]["conclusion"] = "failure"
    whole = json.loads((run / "workflow_run.completed.json").read_bytes())
    whole["workflow_run"]["conclusion"] = "failure"
    assert deliver(client, "workflow_job", json.dumps(job).encode())[0] == 202
    assert deliver(client, "workflow_run", json.dumps(whole).encode())[1]["status"] == "duplicate"
    whole["workflow_run"].update(run_attempt=2, conclusion="success")
    assert deliver(client, "workflow_run", json.dumps(whole).encode())[0] == 202
    statuses = [(e["status"], e["extra"].get("attempt")) for e in queued_events(redis_client)]
    assert statuses == [("failure", 1), ("success", 2)]


def post(client: FlaskClient, sender: str, data: Any, headers: dict[str, str]) -> str:
    """The delivery's outcome: ``queued`` (202) or the 200 reply's status (``duplicate``)."""
    scheme = dict(SENDERS)[sender]
    signed_headers, _ = signed(scheme, json.dumps(data).encode(), headers=headers)
    reply = client.post(f"/hooks/{sender}", data=json.dumps(data), headers=signed_headers)
    return "queued" if reply.status_code == 202 else (reply.json or {})["status"]


def test_one_buildkite_build_counts_once_and_two_builds_of_a_commit_twice(
    client: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    path = (
        shared_dir
        / "fixtures"
        / "webhooks"
        / "buildkite"
        / "eventbridge.build-finished.passed.json"
    )
    if not path.is_file():
        pytest.skip(f"shared fixture {path.name} absent")
    bridge = json.loads(path.read_bytes())
    build, pipeline = bridge["detail"]["build"], bridge["detail"]["pipeline"]
    # The same build as a webhook (REST API field names: its UUID is ``id``).
    webhook: dict[str, Any] = {
        "event": "build.finished",
        "build": {
            "id": build["uuid"],
            "number": build["number"],
            "commit": build["commit"],
            "branch": build["branch"],
            "state": "passed",
            "blocked": False,
        },
        "pipeline": {"slug": pipeline["slug"], "repository": pipeline["repo"]},
    }
    hook = {"X-Buildkite-Event": "build.finished"}
    assert post(client, "buildkite", bridge, {}) == "queued"
    assert post(client, "buildkite", webhook, hook) == "duplicate"
    # The release build of the same commit: a build of its own.
    webhook["build"].update(id="0e3e5d39-4f0d-4c55-9d6b-2b1b6a0c1f11", tag="v1.0.0")
    assert post(client, "buildkite", webhook, hook) == "queued"
    refs = [(e["commit"], e["ref"]) for e in queued_events(redis_client)]
    assert refs == [(build["commit"], "refs/heads/main"), (build["commit"], "refs/tags/v1.0.0")]


def test_one_jenkins_build_counts_once_across_its_final_phases(
    client: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    path = (
        shared_dir
        / "fixtures"
        / "webhooks"
        / "jenkins"
        / "notification-plugin.completed.success.json"
    )
    if not path.is_file():
        pytest.skip(f"shared fixture {path.name} absent")
    completed = json.loads(path.read_bytes())
    finalized = json.loads(path.read_bytes())
    finalized["build"]["phase"] = "FINALIZED"
    finalized["build"]["log"] = "Finished: SUCCESS"  # the bodies differ, the build does not
    assert post(client, "jenkins", completed, {}) == "queued"
    assert post(client, "jenkins", finalized, {}) == "duplicate"
    rebuilt = json.loads(path.read_bytes())  # the same commit built again: build 19
    rebuilt["build"].update(number=19, url="job/asgard/19/", full_url=None)
    assert post(client, "jenkins", rebuilt, {}) == "queued"
    runs = [e["extra"]["run_id"] for e in queued_events(redis_client)]
    assert runs == ["job/asgard/18/", "job/asgard/19/"]


def quay(client: FlaskClient, query: str) -> tuple[int, dict[str, Any]]:
    body = (FIXTURES / "quay" / "build.buildman-2020.json").read_bytes()
    token = _secret("quay-url-token")
    reply = client.post(
        f"/hooks/quay?token={token}&{query}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    return reply.status_code, reply.json or {}


def test_quay_build_kind_from_the_url(client: FlaskClient, redis_client: redis.Redis) -> None:
    assert quay(client, "event=build_success")[0] == 202
    (event,) = queued_events(redis_client)
    assert (event["status"], event["repository"]) == ("success", "acme/api")


def test_quay_build_without_hint_is_queued_as_ambiguous_never_success(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    assert quay(client, "")[0] == 202
    (event,) = queued_events(redis_client)
    assert event["status"] == "unknown"
    assert "?event=build_success" in event["extra"]["ambiguous"]


def test_an_unknown_hint_is_refused_in_one_line(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    status, reply = quay(client, "event=build_sucess")
    assert (status, reply["error"]) == (400, "unknown-event-hint")
    assert "build_success" in reply["message"] and "\n" not in reply["message"]
    assert queued_events(redis_client) == []


def test_a_hint_header_sent_by_the_caller_is_dropped(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    """Only the URL names the kind: a forged X-Bumper-Event-Hint header is not read."""
    body = (FIXTURES / "quay" / "build.buildman-2020.json").read_bytes()
    reply = client.post(
        f"/hooks/quay?token={_secret('quay-url-token')}",
        data=body,
        headers={"Content-Type": "application/json", "X-Bumper-Event-Hint": "build_success"},
    )
    assert reply.status_code == 202
    (event,) = queued_events(redis_client)
    assert event["status"] == "unknown"
