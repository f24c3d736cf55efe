"""Promotion pipelines end to end without a cluster: real Redis, real git through the forge
simulator (GitHub API), the real web app receiving agent reports (with agent tokens) that
carry ``running`` entries, and the worker's jobs run as ``bumper worker --burst`` would.

The reports stand in for the two agents on the real node (issue 20's acceptance test, which
needs (N)'s agent filling ``running`` from pods' imageID): everything after the report is the
production path. Soaks are 1 s; no assertion is about timing.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from bumper import decisions, settings
from bumper.core import agentreport, events
from bumper.web import create_app
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain as run_jobs
from tests.support.redis_server import RedisServer
from worker import context, jobs
from worker.promotionstore import PromotionStore

REPO = "acme/config"
IMAGE = "ghcr.io/acme/api"
TOKENS = {"dev": "dev-agent-token-0123456789", "staging": "staging-agent-token-0123456789"}
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def manifest(tag: str) -> str:
    return (
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: api\n          image: {IMAGE}:{tag}\n"
    )


@pytest.fixture
def sim(
    forgesim: ForgeSim, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ForgeSim]:
    files = {f"overlays/{env}/deploy.yaml": manifest("1.0.0") for env in ("dev", "staging", "prod")}
    forgesim.create_repo(REPO, files)
    agents = ""
    for name, token in TOKENS.items():
        (tmp_path / f"token-{name}").write_text(token + "\n")
        agents += f"  - name: {name}\n    token: {{file: {tmp_path / f'token-{name}'}}}\n"
    config = tmp_path / "bumper.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: cfg
                forge: github
                url: {forgesim.url}/{REPO}
                api_url: {forgesim.github_api_url}
                credentials: {{env: TEST_FORGE_TOKEN}}
            pipelines:
              - name: api
                image: {IMAGE}
                policy: {{semver: "^1.0"}}
                max_report_age: 1h
                environments:
                  - name: dev
                    agent: dev
                    targets: [{{repo: cfg, paths: ["overlays/dev/**"], mode: commit}}]
                  - name: staging
                    agent: staging
                    gate: {{healthy_for: 1s}}
                    targets: [{{repo: cfg, paths: ["overlays/staging/**"], mode: commit}}]
                  - name: prod
                    gate: {{healthy_for: 1s, approval: pr}}
                    targets: [{{repo: cfg, paths: ["overlays/prod/**"], mode: pr}}]
            agents:
            """
        )
        + agents
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
    current = settings.load()
    from bumper import configfile

    return create_app(current, configfile.load(current.config_file)).test_client()


def push(tag: str, digest: str) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed", image=IMAGE, tag=tag, digest=digest, source="harbor",
        delivery_id=f"h-{tag}-{digest[-4:]}",
    )  # fmt: skip
    return events.to_dict(event)


def report(web: FlaskClient, agent: str, tag: str, digest: str, *, ready: bool = True,
           bad: str | None = None) -> None:  # fmt: skip
    running = {
        "namespace": agent, "kind": "Deployment", "name": "api", "container": "api",
        "repository": IMAGE, "tag": tag, "digest": digest, "ready": ready,
    }  # fmt: skip
    body: dict[str, Any] = {"running": [running], "status": {"health": "Healthy"}}
    if bad is not None:
        body["bad_images"] = [
            {"ref": f"{IMAGE}:{tag}@{digest}", "repository": IMAGE, "tag": tag, "digest": digest,
             "reason": bad},
        ]  # fmt: skip
    reply = web.post(
        agentreport.PATH, json=body, headers={"Authorization": f"Bearer {TOKENS[agent]}"}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)


def drain(client: redis.Redis) -> None:
    run_jobs(client, "bumper-test")


def read(sim: ForgeSim, env: str, ref: str = "main") -> str:
    text = sim.repo(REPO).git.read_file(ref, f"overlays/{env}/deploy.yaml")
    assert text is not None
    return text


def soak() -> None:
    time.sleep(1.1)  # the gates are healthy_for: 1s


def statuses(client: redis.Redis, digest: str) -> dict[str, str]:
    record = PromotionStore(client).digests("api")[digest]
    return {s["environment"]: s["state"] for s in record["statuses"]}


def test_a_healthy_digest_goes_dev_then_staging_by_commit_then_prod_by_pr(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    assert f"{IMAGE}:1.1.0\n" in read(sim, "dev")
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")  # soaking
    assert statuses(redis_client, D1)["staging"] == "waiting"
    context.current.cache_clear()  # a worker restart: the clock is in Redis
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")  # the observed digest, pinned
    assert not sim.repo(REPO).changes  # staging is a commit
    report(web, "staging", "1.1.0", D1)
    soak()
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "prod")  # prod is a PR a human merges
    (pr,) = sim.repo(REPO).changes.values()
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "prod", pr.head)
    assert statuses(redis_client, D1) == {
        "dev": "promoted",
        "staging": "promoted",
        "prod": "waiting",
    }
    logged = [
        d for d in decisions.DecisionLog(redis_client).recent(limit=100) if d["rule"] == "promotion"
    ]
    assert any("promoted in staging" in d["why"] for d in logged)
    # the staging promotion commit carries a commit status saying what was promoted
    staging_sha = sim.repo(REPO).git.sha("main")
    marks = [s for s in sim.repo(REPO).statuses if s.context == "bumper/promotion"]
    assert [(s.sha, s.state) for s in marks if s.sha == staging_sha] == [(staging_sha, "success")]
    assert "promoted to staging" in (marks[0].description or "")


def test_a_digest_that_fails_health_in_dev_never_reaches_staging(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.2.0", D2))
    drain(redis_client)
    report(web, "dev", "1.2.0", D2)
    report(web, "dev", "1.2.0", D2, ready=False, bad="Deployment.apps/api not healthy after 300s")
    soak()
    report(web, "dev", "1.0.0", D1)  # rolled back
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")
    record = PromotionStore(redis_client).digests("api")[D2]
    assert {s["state"] for s in record["statuses"]} == {"blocked"}
    assert "not healthy after 300s" in record["statuses"][1]["detail"]


def test_a_newer_push_during_the_soak_restarts_the_clock_for_the_new_digest_only(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    report(web, "dev", "1.2.0", D2)  # 1.2.0 replaced 1.1.0 in dev during its soak
    drain(redis_client)
    since = PromotionStore(redis_client).evidence("dev")
    assert since[f"{IMAGE}@{D1}"]["ready_since"] is None
    assert since[f"{IMAGE}@{D2}"]["ready_since"] is not None
    soak()
    report(web, "dev", "1.2.0", D2)
    drain(redis_client)
    staging = read(sim, "staging")
    assert f"{IMAGE}:1.2.0@{D2}\n" in staging and D1 not in staging
    assert statuses(redis_client, D1)["dev"] == "blocked"  # superseded
    assert statuses(redis_client, D2)["staging"] == "promoted"
