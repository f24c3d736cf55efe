"""Registry polling end to end: the test bed's registry (htpasswd basic auth, token auth,
token auth with anonymous pull tokens, a 429 proxy in front), a real Redis, the real job path
(``poll_registries`` → ``handle_event`` → ``run_bump``) and a real git repository. Issue 17's
acceptance tests run with basic and with token auth (the ``secured`` fixture). Poll intervals
are 1 s; no test asserts a duration."""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import subprocess
import textwrap
import time
from collections.abc import Iterator
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
from tests.support.testbed_registry import Registry
from worker import context, jobs, polling

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
        rule: str = "",
        rules: str = "",
        files: dict[str, str] | None = None,
    ) -> None:
        """``deploy`` replaces the file's text, ``watched`` the rule's ``image:`` line; ``rule``
        adds keys to the rule, ``rules`` more rules, ``files`` more files to the config repo."""
        seed = self.tmp / "seed"
        for path, text in {DEPLOY: deploy or _container(image_ref), **(files or {})}.items():
            (seed / path).parent.mkdir(parents=True, exist_ok=True)
            (seed / path).write_text(text)
        watched = watched or f"image: {host}/acme/api"
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed")
        git(self.tmp, "clone", "-q", "--bare", str(seed), str(self.bare))
        text = f"""\
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
{textwrap.indent(rule, "    ")}
{rules}
"""
        (self.tmp / "bumper.yaml").write_text(text)
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

    def queued(self) -> int:
        """Jobs waiting on the events queue (where a poll queues its events)."""
        return rqjobs.queue(QUEUE, self.client).count

    def send(self, event: events.Event) -> None:
        """Queue ``event`` as the receiver queues a webhook's, then run every job."""
        rqjobs.queue(QUEUE, self.client).enqueue(jobs.handle_event, events.to_dict(event))
        self.drain()

    def deployed(self, path: str = DEPLOY) -> str:
        return git(self.bare, "show", f"main:{path}")

    def commits(self) -> int:
        return int(git(self.bare, "rev-list", "--count", "main"))

    def status(self) -> dict[str, Any]:
        (row,) = state.poll_status(self.client)
        return row


def _container(image_ref: str) -> str:
    return f"spec:\n  containers:\n    - image: {image_ref}\n"


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
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    yield Bed(tmp_path, redis_client)
    context.current.cache_clear()


PASSWORD = "s3cret-pw"
CREDENTIALS = "credentials: {username: bot, password: {env: REGISTRY_PASSWORD}}"


@dataclasses.dataclass
class Secured:
    """The test bed's registry in one auth mode, crane logged in to push, and the
    ``registries:`` entry's credentials line for bumper.yaml ("" when Bumper polls anonymously)."""

    registry: Registry
    credentials: str
    tokens: TokenServer | None = None


@pytest.fixture(params=["htpasswd", "token"])
def secured(
    request: pytest.FixtureRequest, registry: RegistryFactory, tmp_path: Path
) -> Iterator[Secured]:
    """htpasswd basic auth, token auth (the bearer flow), ``anonymous-token`` (token auth that
    gives anonymous pull tokens: a public repository on Docker Hub or GHCR) or ``anonymous``."""
    mode: str = request.param
    tokens = None
    if mode == "htpasswd":
        reg = registry(auth=htpasswd(tmp_path / "auth", "bot", PASSWORD))
    elif mode in ("token", "anonymous-token"):
        public = mode == "anonymous-token"
        tokens = TokenServer(tmp_path / "token", {"bot": PASSWORD}, anonymous_pull=public)
        reg = registry(auth=tokens.auth)
    else:
        reg = registry()
    crane_login(reg, "bot", PASSWORD)
    try:
        yield Secured(reg, CREDENTIALS if mode in ("htpasswd", "token") else "", tokens)
    finally:
        if tokens is not None:
            tokens.stop()


@pytest.mark.parametrize("secured", ["htpasswd", "token", "anonymous-token"], indirect=True)
def test_a_push_without_webhook_is_bumped_within_one_interval(bed: Bed, secured: Secured) -> None:
    reg = secured.registry
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}', secured.credentials)
    assert bed.tick()["polled"] == 1
    assert bed.status()["result"] == "baseline"  # the first poll only records the tags
    assert bed.queued() == 0
    reg.push_image("acme/api", "1.1.0")  # no webhook
    bed.next_interval()
    assert bed.tick()["events"] == 1
    bed.drain()
    assert f"{reg.host}/acme/api:1.1.0" in bed.deployed()
    row = bed.status()
    assert (row["result"], row["tags"], row["events"], row["caught"]) == ("ok", 2, 1, 1)
    assert PASSWORD not in repr(row)
    if not secured.credentials and secured.tokens is not None:
        assert secured.tokens.anonymous > 0  # the bearer flow, with anonymous pull tokens


def test_webhook_and_poll_for_one_push_make_one_commit(bed: Bed, secured: Secured) -> None:
    """The webhook came first and its job ran: the poll that sees the same push queues no
    second run (nothing would be left for it to do), and still records the tag."""
    reg = secured.registry
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}', secured.credentials)
    bed.tick()
    digest = reg.push_image("acme/api", "1.2.0")
    webhook = events.ImageEvent(
        "image.pushed", f"{reg.host}/acme/api", "1.2.0", digest, "distribution", "hook-1", 1.0
    )
    bed.send(webhook)
    assert bed.commits() == 2 and "api:1.2.0" in bed.deployed()
    bed.next_interval()
    assert bed.tick()["events"] == 0  # the poll sees the push, and leaves it to the webhook's
    assert bed.queued() == 0
    bed.drain()
    assert bed.commits() == 2
    row = bed.status()
    assert (row["result"], row["tags"], row["caught"]) == ("ok", 2, 0)  # nothing was missed
    bed.next_interval()
    assert bed.tick()["events"] == 0  # and the tag is known now: never reported later


def test_a_poll_before_the_webhook_still_makes_one_commit(
    bed: Bed, registry: RegistryFactory
) -> None:
    """The other order: the poll queues the push, then its webhook comes; one commit."""
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    bed.tick()
    digest = reg.push_image("acme/api", "1.2.0")
    bed.next_interval()
    assert bed.tick()["events"] == 1
    bed.drain()
    bed.send(
        events.ImageEvent(
            "image.pushed", f"{reg.host}/acme/api", "1.2.0", digest, "distribution", "hook-1", 1.0
        )
    )
    assert bed.commits() == 2 and "api:1.2.0" in bed.deployed()


def test_a_moved_mutable_tag_updates_the_digest_pinned_reference(
    bed: Bed, secured: Secured
) -> None:
    """A webhook had reported the tag's old digest: its move, with no webhook, is still a
    push to report (only the very same digest counts as reported)."""
    reg = secured.registry
    old = reg.push_image("acme/api", "latest")
    image_ref = f"{reg.host}/acme/api:latest@{old}"
    bed.setup(reg.host, image_ref, "{digest: latest}", secured.credentials)
    bed.tick()
    bed.send(
        events.ImageEvent(
            "image.pushed", f"{reg.host}/acme/api", "latest", old, "distribution", "hook-0", 1.0
        )
    )
    new = reg.push_image("acme/api", "latest")
    assert new != old
    bed.next_interval()
    assert bed.tick()["events"] == 1
    bed.drain()
    assert f"{reg.host}/acme/api:latest@{new}" in bed.deployed()
    assert bed.status()["caught"] == 1


@pytest.mark.parametrize("secured", ["anonymous", "htpasswd", "token"], indirect=True)
def test_retry_after_pauses_the_host(bed: Bed, secured: Secured) -> None:
    """A 429 from a proxy in front of the registry, before any auth: the host is paused for
    its Retry-After; then the poll goes through the proxy with the registry's auth."""
    reg = secured.registry
    proxy = ThrottlingProxy(reg.url, retry_after=3)
    try:
        reg.push_image("acme/api", "1.0.0")
        image_ref = f"{proxy.host}/acme/api:1.0.0"
        bed.setup(proxy.host, image_ref, '{semver: "^1"}', secured.credentials)
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


CANARY = "canary/deploy.yaml"


def test_rules_sharing_a_repository_share_one_tags_list_per_interval(
    bed: Bed, registry: RegistryFactory
) -> None:
    """Two rules watch one repository (a second one polling hourly): one watch at the shorter
    interval, one tags list per interval, and what it finds reaches both rules."""
    reg = registry()
    proxy = ThrottlingProxy(reg.url, retry_after=1)  # never throttles here: counts requests
    try:
        reg.push_image("acme/api", "1.0.0")
        ref = f"{proxy.host}/acme/api:1.0.0"
        canary = f"""\
  - name: api-canary
    image: {proxy.host}/acme/api
    poll: 1h
    policy: {{semver: "^1"}}
    targets: [{{repo: config, paths: ["canary/**"], mode: commit}}]
"""
        bed.setup(proxy.host, ref, '{semver: "^1"}', rules=canary, files={CANARY: _container(ref)})
        [watch] = polling.watches(context.current().config)
        assert watch.interval == 1

        def tag_lists() -> int:
            return sum("/tags/list" in path for _, path, _ in proxy.seen)

        assert bed.tick()["polled"] == 1 and tag_lists() == 1
        assert bed.tick()["polled"] == 0 and tag_lists() == 1  # the interval has not run out
        reg.push_image("acme/api", "1.1.0")
        bed.next_interval()
        assert bed.tick()["events"] == 1 and tag_lists() == 2
        bed.drain()
        assert "api:1.1.0" in bed.deployed() and "api:1.1.0" in bed.deployed(CANARY)
    finally:
        proxy.stop()


def test_jitter_lengthens_an_interval_by_at_most_a_tenth() -> None:
    """docs/polling.md: "the interval jittered up by at most 10 %" (whole seconds, at least 1)."""
    rng = random.Random(17)
    for interval in (1, 10, 60, 300, 3600):
        drawn = {polling.jittered(interval, rng) for _ in range(2000)}
        assert min(drawn) >= interval and max(drawn) <= round(interval * 1.1), (interval, drawn)
        if interval >= 60:
            assert len(drawn) > 1  # the intervals do spread out
    assert polling.jittered(0, rng) == 1


def test_each_forked_work_horse_draws_its_own_jitter() -> None:
    """RQ runs each tick in a fresh fork of the worker: a generator seeded once in the parent
    would hand every tick the same draws (the stdlib re-seeds only its global one at a fork)."""
    forks = multiprocessing.get_context("fork")
    draws: multiprocessing.SimpleQueue[float] = forks.SimpleQueue()
    children = [forks.Process(target=lambda: draws.put(polling._rng.random())) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert draws.get() != draws.get()


SHA = "3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a29"


@pytest.mark.parametrize("secured", ["token"], indirect=True)
def test_a_ci_revision_read_from_the_image_releases_a_gated_push(
    bed: Bed, secured: Secured
) -> None:
    """A polled push carries no revision: the registry client reads the image's
    ``org.opencontainers.image.revision`` label, the CI gate holds the push for that commit,
    and only that commit's successful CI run releases it."""
    reg = secured.registry
    reg.push_image("acme/api", "1.0.0")
    gate = "gate: {ci: github, repository: acme/api}"
    bed.setup(
        reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}', secured.credentials, rule=gate
    )
    bed.tick()
    reg.push_image("acme/api", "1.1.0")  # no sha in the tag: only the label names the commit
    ref = f"{reg.host}/acme/api:1.1.0"
    reg.crane("mutate", "--insecure", "-l", f"org.opencontainers.image.revision={SHA}", ref)
    bed.next_interval()
    assert bed.tick()["events"] == 1
    bed.drain()
    [(_, held)] = list(context.current().store.held("api"))
    assert held["revision"] == SHA and "1.0.0" in bed.deployed()

    def ci(commit: str, delivery: str) -> events.BuildFinished:
        return events.BuildFinished(
            "success",
            commit,
            "refs/heads/main",
            "acme/api",
            "build",
            source="github",
            delivery_id=delivery,
        )

    bed.send(ci("0" * 40, "ci-other"))  # another commit's run releases nothing
    assert "1.0.0" in bed.deployed()
    bed.send(ci(SHA, "ci-1"))
    assert f"{reg.host}/acme/api:1.1.0" in bed.deployed()
    assert list(context.current().store.held("api")) == []


def test_one_tick_job_whatever_the_number_of_workers(bed: Bed, registry: RegistryFactory) -> None:
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    bed.setup(reg.host, f"{reg.host}/acme/api:1.0.0", '{semver: "^1"}')
    # the start of the current 10 s slot: both calls fall in it, wherever the clock is
    now = time.time() // 10 * 10
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
