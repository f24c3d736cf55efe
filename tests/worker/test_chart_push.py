"""Acceptance (issue 16 item 4): a Helm chart packaged and ``helm push``-ed to the test bed's
registry becomes a PR on the forge simulator that bumps an Argo CD Application's
``targetRevision`` and a Flux HelmRelease's version, byte-exact.

Real parts: the test bed's ``helm`` and distribution registry (its notification envelope is
captured as it POSTs it, and parsed by the distribution sender), Redis, the job path
(``handle_event`` → bump job) and the forge simulator."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper.core import events
from bumper.sources import distribution
from bumper.sources._headers import Headers
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.support.testbed import RegistryFactory
from worker import context, jobs

REPO = "acme/config"
QUEUE = "bumper-chart-test"
ARGO = "apps/argocd/podinfo.yaml"
FLUX = "apps/flux/podinfo.yaml"
ARGO_TEXT = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: podinfo
spec:
  source:
    repoURL: {host}/charts
    chart: podinfo
    targetRevision: "6.5.0"   # pinned
  destination: {{server: "https://kubernetes.default.svc", namespace: podinfo}}
"""
FLUX_TEXT = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
spec:
  type: oci
  url: oci://{host}/charts
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  chart:
    spec:
      chart: podinfo
      version: 6.5.0 # {{"$imagepolicy": "flux-system:podinfo"}}
      sourceRef: {{kind: HelmRepository, name: charts}}
  values:
    image: {{repository: ghcr.io/stefanprodan/podinfo, tag: 6.5.0}}
"""


class Sink:
    """Records the registry's notification POSTs (headers and body, untouched)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.received.put((dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chart_events(self, version: str) -> list[events.ImageEvent]:
        """The events the distribution sender reads from the envelopes, up to the push of
        ``version``'s manifest."""
        while True:
            headers, body = self.received.get(timeout=30)
            parsed = distribution.parse(Headers(headers), body)
            pushed = [e for e in parsed if isinstance(e, events.ImageEvent) and e.tag == version]
            if pushed:
                return pushed


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.server.shutdown()
    s.server.server_close()


def helm(registry_bins: Path, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REGISTRY_CONFIG": str(home / "registry.json"),
    }
    done = subprocess.run(
        [str(registry_bins / "helm"), *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def package_chart(bins: Path, home: Path, version: str) -> Path:
    chart = home / "podinfo"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: podinfo\nversion: {version}\nappVersion: {version}\n"
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: podinfo}\n"
    )
    helm(bins, home, "package", str(chart), "--destination", str(home))
    return home / f"podinfo-{version}.tgz"


@pytest.fixture
def bed(
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    config = tmp_path / "bumper.yaml"
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", QUEUE)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "0")
    yield config
    context.current.cache_clear()


def test_a_pushed_chart_becomes_a_pr_bumping_argocd_and_flux(
    bed: Path,
    forgesim: ForgeSim,
    registry: RegistryFactory,
    sink: Sink,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    reg = registry(notify_url=sink.url)
    argo, flux = ARGO_TEXT.format(host=reg.host), FLUX_TEXT.format(host=reg.host)
    forgesim.create_repo(REPO, {ARGO: argo, FLUX: flux})
    bed.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: config
                forge: github
                url: {forgesim.url}/{REPO}
                api_url: {forgesim.github_api_url}
                credentials: {{env: TEST_FORGE_TOKEN}}
            images:
              - name: podinfo-chart
                chart: oci://{reg.host}/charts/podinfo
                policy: {{semver: "^6"}}
                targets: [{{repo: config, paths: ["apps/**"], mode: pr}}]
            """
        )
    )
    context.current.cache_clear()
    home = tmp_path / "helm"
    home.mkdir()
    bins = registry.bins
    helm_bin = bins / "helm"
    if not helm_bin.exists():
        pytest.skip(f"the test bed has no helm at {helm_bin}")
    package = package_chart(bins, home, "6.5.1")
    helm(bins, home, "push", str(package), f"oci://{reg.host}/charts", "--plain-http")

    [event] = sink.chart_events("6.5.1")
    assert (event.image, event.tag, event.artifact) == (
        f"{reg.host}/charts/podinfo",
        "6.5.1",
        "chart",
    )
    jobs.handle_event(events.to_dict(event))
    drain(redis_client, QUEUE)

    [pr] = list(forgesim.repo(REPO).changes.values())
    assert pr.state == "open" and "6.5.1" in pr.title
    git = forgesim.repo(REPO).git
    assert git.read_file(pr.head, ARGO) == argo.replace('"6.5.0"', '"6.5.1"')
    assert git.read_file(pr.head, FLUX) == flux.replace("version: 6.5.0", "version: 6.5.1")
    assert git.read_file("main", ARGO) == argo
    assert json.dumps(events.to_dict(event))  # the event is plain JSON, as the queue needs
