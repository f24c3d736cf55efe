"""The promotion test bed without a cluster: a config repo in the forge simulator with three
overlays (dev, staging, prod), a bumper.yaml with one pipeline and two agents, the real web app
receiving agent reports, and the worker's jobs drained as ``bumper worker --burst`` would.
Shared by tests/promotion and bench/promotion.py (which cannot use pytest's fixtures: each
helper takes what it needs).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient

from bumper.core import agentreport, events
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain as run_jobs
from worker.promotionstore import PromotionStore

REPO = "acme/config"
IMAGE = "ghcr.io/acme/api"
QUEUE = "bumper-test"
TOKENS = {"dev": "dev-agent-token-0123456789", "staging": "staging-agent-token-0123456789"}
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D0 = "sha256:" + "0" * 64  # 1.0.0, what every environment runs at the start
# the dev environment's keys, indented as in bumper.yaml (8 spaces)
DEV_BLOCK = """\
        agent: dev
        targets: [{repo: cfg, paths: ["overlays/dev/**"], mode: commit}]
"""


def push_dev_block(name: str, namespace: str, kubeconfig: object) -> str:
    """``DEV_BLOCK`` for a dev environment deployed in push mode by the deployer ``name``."""
    return f"""\
        agent: {name}
        targets:
          - repo: cfg
            paths: ["overlays/dev/**"]
            mode: commit
            deploy: push
            cluster:
              name: {name}
              namespace: {namespace}
              kubeconfig: {kubeconfig}
"""


STAGING_GATE = "{healthy_for: 1s}"
PROD_GATE = "{healthy_for: 1s, approval: pr}"


def manifest(tag: str) -> str:
    return (
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: api\n          image: {IMAGE}:{tag}\n"
    )


def setup(
    sim: ForgeSim,
    tmp_path: Path,
    redis_url: str,
    *,
    staging_gate: str = STAGING_GATE,
    prod_gate: str = PROD_GATE,
    dev_block: str = DEV_BLOCK,
) -> dict[str, str]:
    """Create the config repo and bumper.yaml; the environment variables the web app and the
    worker need (the caller sets them)."""
    create_repo(sim)
    repos = textwrap.dedent(
        f"""\
        apiVersion: bumper/v1
        repos:
          - name: cfg
            forge: github
            url: {sim.url}/{REPO}
            api_url: {sim.github_api_url}
            credentials: {{env: TEST_FORGE_TOKEN}}
        """
    )
    config = tmp_path / "bumper.yaml"
    config.write_text(repos + pipeline_yaml(tmp_path, "cfg", staging_gate, prod_gate, dev_block))
    return {
        "TEST_FORGE_TOKEN": sim.token,
        "BUMPER_REDIS_URL": redis_url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_QUEUE_NAME": QUEUE,
        "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
    }


def create_repo(sim: ForgeSim) -> None:
    files = {f"overlays/{env}/deploy.yaml": manifest("1.0.0") for env in ("dev", "staging", "prod")}
    sim.create_repo(REPO, files)


def pipeline_yaml(
    tmp_path: Path,
    repo: str,
    staging_gate: str = STAGING_GATE,
    prod_gate: str = PROD_GATE,
    dev_block: str = DEV_BLOCK,
) -> str:
    """The ``pipelines:`` and ``agents:`` of bumper.yaml (the agents' token files written to
    ``tmp_path``), with targets in the repos entry named ``repo``."""
    agents = ""
    for name, token in TOKENS.items():
        (tmp_path / f"token-{name}").write_text(token + "\n")
        agents += f"  - name: {name}\n    token: {{file: {tmp_path / f'token-{name}'}}}\n"
    text = textwrap.dedent(
        f"""\
        pipelines:
          - name: api
            image: {IMAGE}
            policy: {{semver: "^1.0"}}
            max_report_age: 1h
            environments:
              - name: dev
                #DEV#
              - name: staging
                agent: staging
                gate: {staging_gate}
                targets: [{{repo: cfg, paths: ["overlays/staging/**"], mode: commit}}]
              - name: prod
                gate: {prod_gate}
                targets: [{{repo: cfg, paths: ["overlays/prod/**"], mode: pr}}]
        """
    ).replace("        #DEV#\n", dev_block)
    return (
        text.replace("{repo: cfg,", f"{{repo: {repo},").replace("- repo: cfg", f"- repo: {repo}")
        + "agents:\n"
        + agents
    )


def push(tag: str, digest: str, revision: str | None = None) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed", image=IMAGE, tag=tag, digest=digest, source="harbor",
        delivery_id=f"h-{tag}-{digest[-4:]}", extra={"revision": revision} if revision else {},
    )  # fmt: skip
    return events.to_dict(event)


def report_body(tag: str, digest: str, *, ready: bool = True, bad: str | None = None,
                agent: str = "dev") -> dict[str, Any]:  # fmt: skip
    """An agent's report (``bumper.core.agentreport``) that the digest runs, ready or not."""
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
    return body


def report(web: FlaskClient, agent: str, tag: str, digest: str, *, ready: bool = True,
           bad: str | None = None) -> None:  # fmt: skip
    body = report_body(tag, digest, ready=ready, bad=bad, agent=agent)
    reply = web.post(
        agentreport.PATH, json=body, headers={"Authorization": f"Bearer {TOKENS[agent]}"}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)


def staging_runs_the_baseline(web: FlaskClient) -> None:
    """The staging agent reports 1.0.0 running: staging is seen, so a digest found running in
    dev (not brought there by a push) may be promoted into it."""
    report(web, "staging", "1.0.0", D0)


def drain(client: redis.Redis) -> None:
    run_jobs(client, QUEUE)


def read(sim: ForgeSim, env: str, ref: str = "main") -> str:
    text = sim.repo(REPO).git.read_file(ref, f"overlays/{env}/deploy.yaml")
    assert text is not None
    return text


def soak() -> None:
    time.sleep(1.1)  # the gates are healthy_for: 1s


def statuses(client: redis.Redis, digest: str) -> dict[str, str]:
    record = PromotionStore(client).digests("api")[digest]
    return {s["environment"]: s["state"] for s in record["statuses"]}
