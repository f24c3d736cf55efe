"""What runs, against real API servers: the chart's Role lets a reporting agent list the pods
of the namespace it manages (and nothing more), and an API server that refuses or hangs costs
``running.observe`` a bounded time and a log line, never the sync loop.

The hanging and refusing servers are small local HTTP servers speaking the API's JSON; the
RBAC check is the test bed's kube-apiserver with the chart installed by helm, as its
ServiceAccount.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bumper.agent import kube, running
from bumper.agent.manifests import Key
from bumper.errors import KubeApiError
from tests.agent.bed import AgentBed
from tests.support.testbed import BedCluster

KEY = Key("apps", "Deployment", "apps-1", "api")
DEPLOYMENT = {
    "kind": "Deployment",
    "spec": {
        "selector": {"matchLabels": {"app": "api"}},
        "template": {"spec": {"containers": [{"name": "api", "image": "r/acme/api:1.0.0"}]}},
    },
}
DISCOVERY = {"resources": [{"name": "pods", "kind": "Pod", "namespaced": True}]}


class _Api(BaseHTTPRequestHandler):
    """Discovery answers; a pods LIST is refused (403) or never answered, as the server says."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/api/v1":
            return self._send(200, DISCOVERY)
        if self.server.mode == "hang":  # type: ignore[attr-defined]
            self.server.release.wait(30)  # type: ignore[attr-defined]
            return None
        return self._send(403, {"kind": "Status", "reason": "Forbidden", "message": "no pods"})

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=["hang", "forbidden"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[str, kube.Client]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.mode = request.param  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield request.param, kube.Client(kube.Connection(url), retry_for=90.0)
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_a_refusing_or_hanging_api_server_costs_a_bounded_time_and_a_log_line(
    api: tuple[str, kube.Client], caplog: pytest.LogCaptureFixture
) -> None:
    mode, client = api
    workloads = [(KEY, DEPLOYMENT), (Key("apps", "Deployment", "apps-1", "web"), DEPLOYMENT)]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bumper.agent.running"):
        entries = running.observe(client, workloads, "c" * 40, budget=1.5)
    took = time.monotonic() - started
    assert entries == []
    # Without the bound a hanging LIST waits for the client's own timeout and retries (90 s).
    assert took < 15, took
    lines = [r.getMessage() for r in caplog.records]
    assert any("pods of" in line and "api" in line for line in lines), lines
    if mode == "forbidden":
        assert any("403" in line for line in lines), lines


def _can_list_pods(bed: AgentBed, namespace: str) -> int:
    token = bed.token_file.read_text()
    conn = kube.Connection(bed.cluster.server, ca_file=str(bed.cluster.ca_file), token=token)
    client = kube.Client(conn, retry_for=5)
    try:
        client.request("GET", f"/api/v1/namespaces/{namespace}/pods", params={"limit": "1"})
    except KubeApiError as error:
        return error.status
    return 200


@pytest.mark.parametrize("scope", ["namespace", "cluster"])
def test_a_reporting_agent_may_list_pods_where_it_applies_and_only_then(
    kube_apiserver: BedCluster, tmp_path: Path, scope: str
) -> None:
    reporting = AgentBed(kube_apiserver, tmp_path / "reporting")
    kube_apiserver.create("/api/v1/namespaces", {"metadata": {"name": reporting.apps}})
    reporting.install(
        "report.url=https://bumper.example", "report.existingSecret=report", scope=scope
    )
    assert _can_list_pods(reporting, reporting.apps) == 200
    if scope == "namespace":  # least privilege: not in the agent's own namespace or elsewhere
        assert _can_list_pods(reporting, reporting.state_ns) == 403
    silent = AgentBed(kube_apiserver, tmp_path / "silent")
    kube_apiserver.create("/api/v1/namespaces", {"metadata": {"name": silent.apps}})
    silent.install(scope=scope)
    assert _can_list_pods(silent, silent.apps) == 403  # no reports, no reason to read pods
