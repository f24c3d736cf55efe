"""Polling a classic Helm repository (issue 16 item 4): a chart rule with
``chart_repository: http://...`` is polled through the repository's ``index.yaml``, made by the
test bed's ``helm package`` and ``helm repo index`` and served by a real local HTTP server that
asks for Basic auth; a new version becomes a chart event (``source: poll``) and a commit that
bumps a Flux HelmRelease, byte-exact. Real Redis, the real job path, a real git repository."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bumper import rqjobs
from bumper.core import config
from tests.support import testbed_proc
from tests.worker.test_chart_push import helm, package_chart
from tests.worker.test_polling import CREDENTIALS, QUEUE, Bed, bed  # noqa: F401 - fixture
from worker import polling, registries

FLUX = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: stable}}
spec: {{url: "{url}"}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: podinfo}}
spec:
  chart:
    spec:
      chart: podinfo
      version: "6.5.0"   # pinned by Bumper
      sourceRef: {{kind: HelmRepository, name: stable}}
"""
AUTH = "Basic " + base64.b64encode(b"bot:s3cret-pw").decode()


class ChartRepo:
    """A directory served over HTTP under ``/stable/``, Basic auth required; requests logged."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: list[tuple[str, bool, int]] = []  # (path, authorized, status)
        self.body: bytes | None = None  # served instead of the file when set
        repo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                authorized = self.headers.get("Authorization") == AUTH
                status, body = repo.answer(self.path, authorized)
                repo.seen.append((self.path, authorized, status))
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}/stable"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, authorized: bool) -> tuple[int, bytes]:
        if not authorized:
            return 401, b""
        if path == "/stable/index.yaml" and self.body is not None:
            return 200, self.body
        file = self.root / path.removeprefix("/stable/")
        if not path.startswith("/stable/") or not file.is_file():
            return 404, b""
        return 200, file.read_bytes()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def helm_bins() -> Path:
    try:
        return testbed_proc.require_binaries(["helm"])
    except testbed_proc.TestbedNotBuilt as error:
        pytest.skip(f"the test bed is not built: {error}")


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepo]:
    root = tmp_path / "served"
    root.mkdir()
    repo = ChartRepo(root)
    yield repo
    repo.stop()


def publish(bins: Path, repo: ChartRepo, home: Path, version: str) -> None:
    """``helm package`` the chart at ``version`` into the served directory, then
    ``helm repo index`` it, as a chart repository's release job does."""
    package_chart(bins, home, version).rename(repo.root / f"podinfo-{version}.tgz")
    helm(bins, home, "repo", "index", str(repo.root), "--url", repo.url)


CHART = "chart: podinfo"  # the rule's ``image:`` line, Bed.setup's ``watched``


def repository(repo: ChartRepo) -> str:
    """The rule's other line, Bed.setup's ``rule``."""
    return f"chart_repository: {repo.url}"


def test_a_version_indexed_without_webhook_bumps_the_helmrelease(
    bed: Bed,  # noqa: F811 - the fixture
    chart_repo: ChartRepo,
    helm_bins: Path,
    tmp_path: Path,
) -> None:
    home = tmp_path / "helm"
    home.mkdir()
    publish(helm_bins, chart_repo, home, "6.5.0")
    flux = FLUX.format(url=chart_repo.url)
    bed.setup(
        chart_repo.host,
        "",
        '{semver: "^6"}',
        CREDENTIALS,
        deploy=flux,
        watched=CHART,
        rule=repository(chart_repo),
    )
    assert bed.tick()["polled"] == 1
    row = bed.status()
    assert (row["result"], row["tags"]) == ("baseline", 1)  # the first poll only records
    # anonymous first; the 401's Basic challenge is answered with the registries entry's
    assert chart_repo.seen[:2] == [
        ("/stable/index.yaml", False, 401),
        ("/stable/index.yaml", True, 200),
    ]

    publish(helm_bins, chart_repo, home, "6.5.1")  # no webhook: a classic repository has none
    bed.next_interval()
    assert bed.tick()["events"] == 1
    [job] = rqjobs.queue(QUEUE, bed.client).get_jobs()
    event = job.args[0]
    key = f"{chart_repo.url}/podinfo"
    assert (event["image"], event["tag"], event["artifact"], event["source"]) == (
        key,
        "6.5.1",
        "chart",
        "poll",
    )
    bed.drain()
    assert bed.deployed() == flux.replace('"6.5.0"', '"6.5.1"').rstrip("\n")
    row = bed.status()
    assert (row["image"], row["result"], row["tags"], row["caught"]) == (key, "ok", 2, 1)
    assert "s3cret" not in repr(row)

    bed.next_interval()
    assert bed.tick()["events"] == 0  # a version is reported once
    # only the index.yaml bumper.yaml names was ever fetched: no chart archive, no other URL
    assert {path for path, _, _ in chart_repo.seen} == {"/stable/index.yaml"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"entries: [podinfo]\n", "entries is not a mapping"),
        (b"entries: {podinfo: [\n", "is not YAML"),
        (b"x" * (polling.MAX_INDEX_BYTES + 1), "response over"),
    ],
    ids=["not-an-index", "not-yaml", "too-large"],
)
def test_a_bad_index_is_one_recorded_error(
    bed: Bed,  # noqa: F811 - the fixture
    chart_repo: ChartRepo,
    body: bytes,
    message: str,
) -> None:
    chart_repo.body = body
    bed.setup(
        chart_repo.host,
        "",
        '{semver: "^6"}',
        CREDENTIALS,
        watched=CHART,
        rule=repository(chart_repo),
    )
    assert bed.tick() == {"polled": 1, "events": 0, "skipped": 0}
    row = bed.status()
    assert row["result"] == "registry-error" and message in row["message"]
    assert "\n" not in row["message"]


def _config(text: str) -> config.BumperConfig:
    return config.BumperConfig.model_validate(yaml.safe_load(text))


RULES = """\
apiVersion: bumper/v1
registries: [{registries}]
repos: [{{name: config, forge: git, url: /tmp/none.git}}]
images:
  - name: classic
    chart: podinfo
    chart_repository: https://charts.example.com/stable/
    {poll}
    policy: {{semver: "^6"}}
    targets: [{{repo: config, paths: ["**"], mode: commit}}]
"""


def test_a_classic_repository_is_watched_only_when_bumper_yaml_asks() -> None:
    quiet = _config(RULES.format(registries="", poll=""))
    assert polling.watches(quiet) == []  # no poll: and nothing else names the repository
    [watch] = polling.watches(_config(RULES.format(registries="", poll="poll: 5m")))
    assert (watch.image, watch.host, watch.repository, watch.interval, watch.artifact) == (
        "https://charts.example.com/stable/podinfo",
        "charts.example.com",
        "podinfo",
        300,
        "chart",
    )
    assert watch.index == "https://charts.example.com/stable/index.yaml"
    entry = "{host: charts.example.com, poll: 1h}"
    [watch] = polling.watches(_config(RULES.format(registries=entry, poll="")))
    assert watch.interval == 3600  # the host's registries entry asks for it


def test_credentials_never_travel_over_plain_http_to_a_remote_repository(
    bed: Bed,  # noqa: F811 - the fixture
) -> None:
    from worker import context

    text = RULES.format(registries=f"{{host: charts.example.com, {CREDENTIALS}}}", poll="")
    (bed.tmp / "bumper.yaml").write_text(text)
    context.current.cache_clear()
    ctx = context.current()
    plain = "http://charts.example.com/stable/index.yaml"
    assert registries.client_for(ctx, "charts.example.com", index=plain) is None
    secure = registries.client_for(
        ctx, "charts.example.com", index="https://charts.example.com/stable/index.yaml"
    )
    assert secure is not None and secure.base == "https://charts.example.com"
    anonymous = registries.client_for(ctx, "other.example.com", index="http://other.example.com/i")
    assert anonymous is not None and anonymous.base == "http://other.example.com"
