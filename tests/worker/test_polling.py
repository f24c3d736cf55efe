"""Registry polling end to end: the test bed's registry (htpasswd basic auth, token auth,
a 429 proxy), a real Redis, the real job path (``poll_registries`` → ``handle_event`` →
``run_bump``) and a real git repository. Poll intervals are 1 s."""

from __future__ import annotations

import dataclasses
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper import rqjobs
from bumper.core import events
from bumper.registry import state
from tests.support.jobs import drain as run_jobs
from tests.support.redis_server import RedisServer
from tests.support.registry_auth import ThrottlingProxy, TokenServer, crane_login, htpasswd
from tests.support.testbed import RegistryFactory
from worker import context, jobs

QUEUE = "bumper-poll-test"
DEPLOY = "apps/deploy.yaml"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Bed:
    """A config repo holding ``image_ref``, a bumper.yaml polling ``host``, and helpers."""

    def __init__(self, tmp: Path, client: redis.Redis) -> None:
        self.tmp = tmp
        self.client = client
        self.bare = tmp / "config.git"

    def setup(
        self,
        host: str,
        image_ref: str,
        policy: str,
        credentials: str = "",
        *,
        deploy: str | None = None,
        watched: str = "",
    ) -> None:
        """``deploy`` replaces the file's text, ``watched`` the rule's ``image:`` line."""
        seed = self.tmp / "seed"
        (seed / "apps").mkdir(parents=True)
        text = deploy or f"spec:\n  containers:\n    - image: {image_ref}\n"
        (seed / DEPLOY).write_text(text)
        watched = watched or f"image: {host}/acme/api"
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed")
        git(self.tmp, "clone", "-q", "--bare", str(seed), str(self.bare))
        (self.tmp / "bumper.yaml").write_text(
            textwrap.dedent(
                f"""\
                apiVersion: bumper/v1
                registries:
                  - host: "{host}"
                    plain_http: true
                    poll: 1s
                {textwrap.indent(credentials, "    ")}
                repos:
                  - {{name: config, forge: git, url: "{self.bare}"}}
                images:
                  - name: api
                    {watched}
                    policy: {policy}
                    targets: [{{repo: config, paths: ["apps/**"], mode: commit}}]
                """
            )
        )
        context.current.cache_clear()

    def tick(self) -> Any:
        return jobs.poll_registries("test-tick")

    def next_interval(self) -> None:
        """Wait until the repository's 1 s interval (jittered) has run out."""
        deadline = time.monotonic() + 5
        while self.client.keys(state.DUE + "*") and time.monotonic() < deadline:
            time.sleep(0.05)

    def drain(self) -> None:
        run_jobs(self.client, QUEUE)

    def deployed(self) -> str:
        return git(self.bare, "show", f"main:{DEPLOY}")

    def commits(self) -> int:
        return int(git(self.bare, "rev-list", "--count", "main"))

    def status(self) -> dict[str, Any]:
        (row,) = state.poll_status(self.client)
        return row


@pytest.fixture
def bed(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bed]:
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(tmp_path / "bumper.yaml"))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", QUEUE)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "0")
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret-pw")
    yield Bed(tmp_path, redis_client)
    context.current.cache_clear()


CREDENTIALS = "credentials: {username: bot, password: {env: REGISTRY_PASSWORD}}"


def _basic(registry: RegistryFactory, tmp: Path) -> tuple[Any, Callable[[], None]]:
    reg = registry(auth=htpasswd(tmp / "auth", "bot", "s3cret-pw"))
    return reg, lambda: None


def _token(registry: RegistryFactory, tmp: Path) -> tuple[Any, Callable[[], None]]:
    tokens = TokenServer(tmp / "token", {"bot": "s3cret-pw"})
    return registry(auth=tokens.auth), tokens.stop


@pytest.mark.parametrize("auth", [_basic, _token], ids=["htpasswd", "token"])
def test_a_push_without_webhook_is_bumped_within_one_interval(
    bed: Bed, registry: RegistryFactory, tmp_path: Path, auth: Any
) -> None:
    reg, stop = auth(registry, tmp_path)
    try:
        crane_login(reg, "bot", "s3cret-pw")
        reg.push_image("acme/api", "1.0.0")
        bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}', CREDENTIALS)
        assert bed.tick()["polled"] == 1
        assert bed.status()["result"] == "baseline"  # the first poll only records the tags
        assert bed.client.llen(f"rq:queue:{QUEUE}") == 0
        reg.push_image("acme/api", "1.1.0")  # no webhook
        bed.next_interval()
        assert bed.tick()["events"] == 1
        bed.drain()
        assert f"{reg.host}/acme/api:1.1.0" in bed.deployed()
        row = bed.status()
        assert (row["result"], row["tags"], row["events"], row["caught"]) == ("ok", 2, 1, 1)
        assert "s3cret" not in repr(row)
    finally:
        stop()


def test_webhook_and_poll_for_one_push_make_one_commit(bed: Bed, registry: RegistryFactory) -> None:
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    bed.tick()
    digest = reg.push_image("acme/api", "1.2.0")
    webhook = events.ImageEvent(
        "image.pushed", f"{reg.host}/acme/api", "1.2.0", digest, "distribution", "hook-1", 1.0
    )
    rqjobs.queue(QUEUE, bed.client).enqueue(jobs.handle_event, events.to_dict(webhook))
    bed.drain()
    assert bed.commits() == 2 and "api:1.2.0" in bed.deployed()
    bed.next_interval()
    assert bed.tick()["events"] == 1  # the poll sees the push too...
    bed.drain()
    assert bed.commits() == 2  # ...and makes no second commit
    assert bed.status()["caught"] == 0  # the webhook had reported it: nothing missed
    bed.next_interval()
    assert bed.tick()["events"] == 0  # and a push is reported once


def test_a_moved_mutable_tag_updates_the_digest_pinned_reference(
    bed: Bed, registry: RegistryFactory
) -> None:
    reg = registry()
    old = reg.push_image("acme/api", "latest")
    bed.setup(reg.host, f"{reg.host}/acme/api:latest@{old}", "{digest: latest}")
    bed.tick()
    new = reg.push_image("acme/api", "latest")
    assert new != old
    bed.next_interval()
    assert bed.tick()["events"] == 1
    bed.drain()
    assert f"{reg.host}/acme/api:latest@{new}" in bed.deployed()


def test_retry_after_pauses_the_host(bed: Bed, registry: RegistryFactory) -> None:
    reg = registry()
    proxy = ThrottlingProxy(reg.url, retry_after=3)
    try:
        reg.push_image("acme/api", "1.0.0")
        bed.setup(proxy.host, f"{proxy.host}/acme/api:1.0.0", '{semver: "^1"}')
        proxy.throttle = 1
        bed.tick()
        assert bed.status()["result"] == "rate-limited"
        seen = len(proxy.seen)
        bed.next_interval()
        assert bed.tick()["polled"] == 0  # inside Retry-After: the host is not called
        assert len(proxy.seen) == seen
        deadline = time.monotonic() + 6
        while bed.client.exists(state.WAIT + proxy.host) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bed.tick()["polled"] == 1 and bed.status()["result"] == "baseline"
        assert proxy.seen[-1][2] == 200
    finally:
        proxy.stop()


def test_one_tick_job_whatever_the_number_of_workers(bed: Bed, registry: RegistryFactory) -> None:
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    now = time.time()
    first = jobs.schedule_poll(bed.client, QUEUE, 10, now)
    second = jobs.schedule_poll(bed.client, QUEUE, 10, now + 0.5)  # another worker starting
    scheduled = rqjobs.queue(QUEUE, bed.client).scheduled_job_registry.get_job_ids()
    assert first == second and scheduled == [first]
    bed.client.set(state.LOCK, "another tick")
    assert bed.tick() == {"busy": 1}  # a tick already running: this one polls nothing
    bed.client.delete(state.LOCK)
    assert bed.tick()["polled"] == 1
    assert bed.tick()["polled"] == 0  # the repository's interval has not run out


def test_events_lacking_facts_are_completed_from_a_configured_registry(
    bed: Bed, registry: RegistryFactory
) -> None:
    from worker import registries

    reg = registry()
    digest = reg.push_image("acme/api", "1.3.0")
    reg.crane(
        "mutate",
        "--insecure",
        "-l",
        "org.opencontainers.image.revision=0a1b2c3d4e",
        f"{reg.host}/acme/api:1.3.0",
    )
    digest = reg.crane("digest", "--insecure", f"{reg.host}/acme/api:1.3.0").stdout.strip()
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    ctx = context.current()
    bare = events.ImageEvent("image.pushed", f"{reg.host}/acme/api", "1.3.0", source="dockerhub")
    done = registries.complete(ctx, bare)
    assert isinstance(done, events.ImageEvent) and done.digest == digest
    assert "revision" not in done.extra  # no rule has a CI gate: the config is not read
    gated = ctx.config.images[0].model_copy(update={"gate": {"ci": "github"}})
    cfg = ctx.config.model_copy(update={"images": [gated]})
    done = registries.complete(dataclasses.replace(ctx, config=cfg), bare)
    assert isinstance(done, events.ImageEvent) and done.extra["revision"] == "0a1b2c3d4e"
    elsewhere = dataclasses.replace(bare, image="ghcr.io/acme/api")  # no registries entry
    assert registries.complete(ctx, elsewhere) is elsewhere


def test_poll_state_is_exposed_as_metrics(bed: Bed, registry: RegistryFactory) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from bumper.web.pollmetrics import PollCollector

    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    bed.tick()
    metrics = CollectorRegistry()
    metrics.register(PollCollector(bed.client))
    text = generate_latest(metrics).decode()
    assert f'bumper_poll_ok{{image="{reg.host}/acme/api"}} 1.0' in text
    assert "bumper_poll_requests_total 1.0" in text  # one tags list: nothing new to HEAD


FLUX = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts}}
spec: {{type: oci, url: "oci://{host}/charts"}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: podinfo}}
spec:
  chart:
    spec:
      chart: podinfo
      version: 6.5.0
      sourceRef: {{kind: HelmRepository, name: charts}}
"""


def test_a_chart_version_helm_pushed_without_webhook_bumps_the_helmrelease(
    bed: Bed, registry: RegistryFactory, tmp_path: Path
) -> None:
    """An OCI chart rule is polled like an image (its versions are the repository's tags) and
    what it finds is a chart event: a Flux HelmRelease's chart version is bumped."""
    from tests.worker.test_chart_push import helm, package_chart

    reg = registry()
    if not (registry.bins / "helm").exists():
        pytest.skip(f"the test bed has no helm at {registry.bins / 'helm'}")
    home = tmp_path / "helm"
    home.mkdir()
    for version in ("6.5.0", "6.5.1"):
        package_chart(registry.bins, home, version)

    def push(version: str) -> None:
        chart = str(home / f"podinfo-{version}.tgz")
        helm(registry.bins, home, "push", chart, f"oci://{reg.host}/charts", "--plain-http")

    push("6.5.0")
    flux = FLUX.format(host=reg.host)
    watched = f"chart: oci://{reg.host}/charts/podinfo"
    bed.setup(reg.host, "", '{semver: "^6"}', deploy=flux, watched=watched)
    assert bed.tick()["polled"] == 1 and bed.status()["result"] == "baseline"
    push("6.5.1")  # no webhook
    bed.next_interval()
    assert bed.tick()["events"] == 1
    [job] = rqjobs.queue(QUEUE, bed.client).get_jobs()
    event = job.args[0]
    assert (event["tag"], event["artifact"], event["source"]) == ("6.5.1", "chart", "poll")
    bed.drain()
    assert bed.deployed() == flux.replace("version: 6.5.0", "version: 6.5.1").rstrip("\n")
    row = bed.status()
    assert (row["image"], row["result"], row["caught"]) == (f"{reg.host}/charts/podinfo", "ok", 1)
