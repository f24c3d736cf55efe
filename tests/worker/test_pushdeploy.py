"""Push mode on the real test bed: the worker commits a bump, applies it to the cluster itself,
verifies the rollout, and rolls back (recording the bad image) when pods never become Ready.

Real parts only: Redis, an RQ worker, a git config repo, kube-apiserver + controllers + kwok
(``kube_full``). A tag ending in ``fail`` is the test bed's kwok failure stage: its pods run
but never become Ready (see ``testbed/stages/pod-fail.yaml``).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from bumper import decisions as decisions_log
from bumper import rqjobs
from bumper.core import events
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.support.testbed import BedCluster
from worker import context, jobs, pushdeploy, store, targets

IMAGE = "ghcr.io/acme/api"
DIGEST_BAD = "sha256:" + "b" * 64


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  progressDeadlineSeconds: 10   # a rollout that stalls is reported failed after 10 s
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1.0.0
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports: [{port: 80}]
"""


class Bed:
    """A config repo, a bumper.yaml with one push target, and the worker's environment."""

    def __init__(self, tmp: Path, cluster: BedCluster, namespace: str, mode: str = "commit"):
        self.cluster = cluster
        self.namespace = namespace
        seed = tmp / "seed"
        (seed / "apps" / "api").mkdir(parents=True)
        (seed / "apps" / "api" / "deploy.yaml").write_text(DEPLOYMENT)
        (seed / "apps" / "api" / "service.yaml").write_text(SERVICE)
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed")
        self.bare = tmp / "config.git"
        git(tmp, "clone", "-q", "--bare", str(seed), str(self.bare))
        self.config = tmp / "bumper.yaml"
        self.config.write_text(
            textwrap.dedent(
                f"""\
                apiVersion: bumper/v1
                repos:
                  - name: config
                    forge: git
                    url: {self.bare}
                images:
                  - name: api
                    image: {IMAGE}
                    policy: {{semver: ">=1.0.0 <2", prerelease: true}}
                    targets:
                      - repo: config
                        paths: ["apps/api/**"]
                        mode: {mode}
                        deploy: push
                        cluster:
                          kubeconfig: {cluster.kubeconfig}
                          namespace: {namespace}
                          health_timeout: 60
                """
            )
        )

    def live(self) -> dict[str, Any]:
        return self.cluster.get_json(f"/apis/apps/v1/namespaces/{self.namespace}/deployments/api")

    def live_image(self) -> str:
        return str(self.live()["spec"]["template"]["spec"]["containers"][0]["image"])

    def available(self) -> bool:
        conditions = self.live().get("status", {}).get("conditions", [])
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    def configmap(self, name: str) -> dict[str, str]:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps/{name}"
        return dict(self.cluster.get_json(path).get("data") or {})

    def file(self) -> str:
        return git(self.bare, "show", "main:apps/api/deploy.yaml")

    def head(self) -> str:
        return git(self.bare, "rev-parse", "main")


@pytest.fixture
def bed(
    tmp_path: Path,
    kube_full: BedCluster,
    redis_server: RedisServer,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bed]:
    made = Bed(tmp_path, kube_full, kube_full.create_namespace("push"))
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(made.config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-push-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    context.current.cache_clear()
    yield made
    context.current.cache_clear()


def push(tag: str, digest: str | None = None, delivery: str | None = None) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed",
        image=IMAGE,
        tag=tag,
        digest=digest,
        source="test",
        delivery_id=delivery or f"d-{tag}",
        received_at=time.time(),
    )
    return events.to_dict(event)


def run_jobs(client: redis.Redis) -> list[dict[str, Any]]:
    """Drain the queue with a real RQ worker; the results of the bump jobs it ran."""
    queue = rqjobs.queue(jobs.bump_queue_name("bumper-push-test"), client)
    ids = list(queue.job_ids)
    drain(client, "bumper-push-test")
    results: list[dict[str, Any]] = []
    for job_id in ids:
        job = queue.fetch_job(job_id)
        assert job is not None
        assert job.get_status() == "finished", job.latest_result()
        results.extend(job.return_value() or [])
    return results


def decisions(client: redis.Redis) -> list[dict[str, Any]]:
    return decisions_log.DecisionLog(client).recent(limit=1000)


def test_a_good_bump_is_applied_and_verified_available(bed: Bed, client: redis.Redis) -> None:
    started = time.monotonic()
    jobs.handle_event(push("1.1.0"))
    [result] = run_jobs(client)
    elapsed = time.monotonic() - started
    assert bed.file().endswith(f"image: {IMAGE}:1.1.0")
    assert result["deploy"]["state"] == "healthy", result
    assert result["deploy"]["commit"] == bed.head()
    assert bed.live_image() == f"{IMAGE}:1.1.0" and bed.available()
    live = bed.live()
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert "bumper-push" in managers
    assert live["metadata"]["labels"]["bumper.dev/agent"] == "bumper-push-api-0"
    status = bed.configmap("bumper-push-api-0-status")
    assert (status["health"], status["lastHealthyCommit"]) == ("Healthy", bed.head())
    rows = json.loads(bed.configmap("bumper-push-api-0-inventory")["objects"])
    assert sorted(row[1] for row in rows) == ["Deployment", "Service"]
    logged = [d for d in decisions(client) if d["rule"] == "push-rollout"]
    assert logged and logged[0]["result"] == "accepted" and logged[0]["candidate"] == "1.1.0"
    assert "rollout healthy" in logged[0]["why"]
    print(f"\npush deploy: job start → rollout verified {result['deploy']['seconds']:.2f}s "
          f"(whole event → verified {elapsed:.2f}s)")  # fmt: skip

    # The same tip again (a re-run) changes nothing and asks the cluster one question.
    ctx = context.current()
    named = targets.resolve(ctx.config, "api/0")
    rule, target = named.rule, named.target
    deployer = pushdeploy.Deployer(
        pushdeploy.client_for(target.push_cluster(), ctx.config_dir),
        target.push_cluster(),
        "bumper-push-api-0",
        rule,
    )
    with ctx.cache.checkout(str(bed.bare), "main") as checkout:
        again = deployer.reconcile(checkout, "api/0", time.monotonic())
    assert again.state == "unchanged"


def test_a_crashed_deploy_re_run_checks_every_workload(bed: Bed, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0"))
    run_jobs(client)
    # As if the worker died mid-rollout: the status still says Progressing for the tip.
    name = "bumper-push-api-0-status"
    data = bed.configmap(name)
    data["health"] = "Progressing"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": bed.namespace},
        "data": data,
    }
    response = bed.cluster.api(
        "PUT", f"/api/v1/namespaces/{bed.namespace}/configmaps/{name}", json=body
    )
    assert response.status_code == 200, response.text
    ctx = context.current()
    named = targets.resolve(ctx.config, "api/0")
    rule, target = named.rule, named.target
    cluster = target.push_cluster()
    deployer = pushdeploy.Deployer(
        pushdeploy.client_for(cluster, ctx.config_dir), cluster, "bumper-push-api-0", rule
    )
    with ctx.cache.checkout(str(bed.bare), "main") as checkout:
        again = deployer.reconcile(checkout, "api/0", time.monotonic())
    assert (again.state, again.applied) == ("healthy", 0)  # re-verified, nothing re-applied
    assert bed.configmap(name)["health"] == "Healthy"


def test_a_bump_whose_pods_never_get_ready_is_rolled_back_and_marked_bad(
    bed: Bed, client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0"))
    run_jobs(client)
    good = bed.head()

    jobs.handle_event(push("1.2.0-fail", digest=DIGEST_BAD))
    [result] = run_jobs(client)
    bad_commit = bed.head()
    assert bad_commit != good and "1.2.0-fail" in bed.file()  # Git got the bump
    summary = result["deploy"]
    assert summary["state"] == "rolled-back", summary
    assert (summary["commit"], summary["previous"]) == (bad_commit, good)
    assert summary["bad"] == [f"{IMAGE}:1.2.0-fail@{DIGEST_BAD}"]
    assert bed.live_image() == f"{IMAGE}:1.1.0"  # the cluster is back on the previous render
    deadline = time.monotonic() + 30
    while not bed.available() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert bed.available()

    status = bed.configmap("bumper-push-api-0-status")
    assert (status["health"], status["commit"], status["failedCommit"]) == (
        "RolledBack",
        good,
        bad_commit,
    )
    record = json.loads(client.hget(store.BAD_IMAGES, f"{IMAGE}@{DIGEST_BAD}") or b"{}")
    assert record["commit"] == bad_commit and "Deployment.apps" in record["reason"]
    in_cluster = json.loads(bed.configmap("bumper-bad-images")["records.json"])
    assert in_cluster[-1]["digest"] == DIGEST_BAD
    failed = [d for d in decisions(client) if d["rule"] == "rollout-failed"]
    assert failed and failed[0]["result"] == "rejected"
    assert "rolled back to" in failed[0]["why"] and "1.2.0-fail" in failed[0]["candidate"]
    print(f"\npush deploy: job start → failure found {summary['seconds']:.2f}s, "
          f"rollback {summary['rollback_seconds']:.2f}s")  # fmt: skip

    # The same build pushed again is refused by the policy screen: no commit, no deploy.
    jobs.handle_event(push("1.2.0-fail", digest=DIGEST_BAD, delivery="again"))
    [again] = run_jobs(client)
    assert bed.head() == bad_commit and again["sha"] is None
    assert again["deploy"]["state"] == "refused"
    refused = [d for d in decisions(client) if d["rule"] == "bad-image"]
    assert refused and refused[0]["candidate"] == f"1.2.0-fail@{DIGEST_BAD}"
    assert bed.live_image() == f"{IMAGE}:1.1.0"

    # A fixed build moves the branch and rolls out.
    jobs.handle_event(push("1.2.1"))
    [fixed] = run_jobs(client)
    assert fixed["deploy"]["state"] == "healthy"
    assert bed.live_image() == f"{IMAGE}:1.2.1"


# -- PR modes: the outcome is commented on the PR that brought the change -------------------

FORGE_REPO = "acme/config"


@pytest.fixture
def forge_bed(
    forgesim: ForgeSim,
    tmp_path: Path,
    kube_full: BedCluster,
    redis_server: RedisServer,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ForgeSim, Bed]]:
    made = Bed(tmp_path, kube_full, kube_full.create_namespace("push"), mode="pr-automerge")
    forgesim.create_repo(
        FORGE_REPO, {"apps/api/deploy.yaml": DEPLOYMENT, "apps/api/service.yaml": SERVICE}
    )
    text = made.config.read_text()
    made.config.write_text(
        text.replace(
            f"    forge: git\n    url: {made.bare}\n",
            f"    forge: github\n    url: {forgesim.url}/{FORGE_REPO}\n"
            f"    api_url: {forgesim.github_api_url}\n"
            "    credentials: {env: TEST_FORGE_TOKEN}\n",
        )
    )
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(made.config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-push-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    context.current.cache_clear()
    yield forgesim, made
    context.current.cache_clear()


def test_pr_automerge_rollback_is_commented_on_the_merged_pr(
    forge_bed: tuple[ForgeSim, Bed], client: redis.Redis
) -> None:
    sim, bed = forge_bed
    jobs.handle_event(push("1.1.0"))
    [first] = run_jobs(client)
    assert first["deploy"]["state"] == "healthy" and bed.live_image() == f"{IMAGE}:1.1.0"
    [pr] = [c for c in sim.repo(FORGE_REPO).changes.values()]
    assert pr.state == "merged" and "rollout healthy" in pr.comments[-1].body

    jobs.handle_event(push("1.2.0-fail", digest=DIGEST_BAD))
    [second] = run_jobs(client)
    assert second["deploy"]["state"] == "rolled-back"
    bad_pr = max(sim.repo(FORGE_REPO).changes.values(), key=lambda c: c.number)
    assert bad_pr.state == "merged" and bad_pr.number != pr.number
    [comment] = bad_pr.comments
    assert "rolled it back" in comment.body and DIGEST_BAD in comment.body
    assert bed.live_image() == f"{IMAGE}:1.1.0"


# -- failures that apply nothing -----------------------------------------------------------


def test_an_unreachable_api_server_retries_the_job_and_keeps_the_candidate(
    tmp_path: Path,
    redis_server: RedisServer,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = Bed.__new__(Bed)
    Bed.__init__(made, tmp_path, _DeadCluster(tmp_path), "apps")  # type: ignore[arg-type]
    monkeypatch.setattr(pushdeploy, "API_RETRY_SECONDS", 0.3)
    monkeypatch.setattr(pushdeploy, "_CLIENTS", {})
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(made.config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-push-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    context.current.cache_clear()
    try:
        [job_id] = jobs.handle_event(push("1.1.0"))
        queue = rqjobs.queue(jobs.bump_queue_name("bumper-push-test"), client)
        drain(client, "bumper-push-test")
        job = queue.fetch_job(job_id)
        assert job is not None and job.get_status() == "scheduled"  # RQ retries it later
        retried = job.latest_result()
        assert retried is not None and "retry" in (retried.return_value or {})
        assert "1.1.0" in made.file()  # the commit is made; only the deploy waits
        assert client.hlen("bumper:cand:api/0") == 1  # kept, so the re-run deploys again
    finally:
        context.current.cache_clear()


class _DeadCluster:
    """Stands in for a BedCluster: a kubeconfig whose API server is not listening."""

    def __init__(self, tmp: Path) -> None:
        from tests.support.redis_server import free_port

        self.kubeconfig = tmp / "dead.kubeconfig"
        self.kubeconfig.write_text(
            textwrap.dedent(
                f"""\
                apiVersion: v1
                kind: Config
                clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{free_port()}"}}}}]
                users: [{{name: u, user: {{token: t}}}}]
                contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
                current-context: x
                """
            )
        )


def test_a_render_error_applies_nothing_and_fails_the_job_with_its_reason(
    bed: Bed, client: redis.Redis
) -> None:
    work = bed.bare.parent / "seed"
    (work / "apps" / "broken").mkdir()
    (work / "apps" / "broken" / "x.yaml").write_text("kind: [unclosed\n")
    git(work, "add", "-A")
    git(work, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "broken")
    git(work, "push", "-q", str(bed.bare), "main")
    text = bed.config.read_text()
    bed.config.write_text(
        text.replace("health_timeout: 60", "health_timeout: 60\n          paths: [apps]")
    )
    context.current.cache_clear()
    [job_id] = jobs.handle_event(push("1.1.0"))
    queue = rqjobs.queue(jobs.bump_queue_name("bumper-push-test"), client)
    drain(client, "bumper-push-test")
    job = queue.fetch_job(job_id)
    assert job is not None and job.get_status() == "failed"
    assert job.meta["failure"]["reason"] == "deploy"
    assert "render" in job.meta["failure"]["message"]
    status = bed.configmap("bumper-push-api-0-status")
    assert (status["health"], status["failedCommit"]) == ("Error", bed.head())
    response = bed.cluster.api("GET", f"/apis/apps/v1/namespaces/{bed.namespace}/deployments/api")
    assert response.status_code == 404  # nothing applied
    logged = [d for d in decisions(client) if d["rule"] == "push-failed"]
    assert logged and "x.yaml" in logged[0]["why"]


def test_a_pr_merged_by_a_human_is_deployed_and_commented_by_the_next_job(
    forge_bed: tuple[ForgeSim, Bed], client: redis.Redis
) -> None:
    sim, bed = forge_bed
    bed.config.write_text(bed.config.read_text().replace("mode: pr-automerge", "mode: pr"))
    context.current.cache_clear()
    jobs.handle_event(push("1.1.0"))
    [first] = run_jobs(client)
    [pr] = list(sim.repo(FORGE_REPO).changes.values())
    assert pr.state == "open" and first["deploy"]["state"] == "healthy"
    assert bed.live_image() == f"{IMAGE}:1.0.0"  # the branch still says 1.0.0
    assert pr.comments == []

    ctx = context.current()
    assert ctx.forges is not None
    repo = ctx.config.repo("config")
    assert repo is not None
    ctx.forges.for_repo(repo).merge(pr.number, sha=cast(str, pr.head_sha()), when_checks_pass=False)
    assert pr.state == "merged"

    jobs.handle_event(push("1.1.1"))
    [second] = run_jobs(client)
    assert second["deploy"]["state"] == "healthy"
    assert bed.live_image() == f"{IMAGE}:1.1.0"  # what was merged, not the new PR's 1.1.1
    [comment] = pr.comments
    assert "rollout healthy" in comment.body
