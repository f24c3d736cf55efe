"""What runs (``bumper.agent.running``): observed digests from pods' ``imageID``, readiness per
container, bounds; and the reporter posts the list. Pods are the kubelet's JSON
(``data/pods-rollout.json``: a Deployment mid-rollout on the test bed's real node, trimmed)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from bumper.agent import running
from bumper.agent.manifests import Key
from bumper.agent.reporter import Reporter
from bumper.core import agentreport
from tests.support.web_thread import ThreadedWeb

DATA = Path(__file__).parent / "data"
KEY = Key("apps", "Deployment", "apps-1", "api")
COMMIT = "c" * 40


def _load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = json.loads((DATA / "pods-rollout.json").read_text())
    return data["deployment"], data["pods"]


def _digest(pod: dict[str, Any]) -> str:
    return str(pod["status"]["containerStatuses"][0]["imageID"]).rsplit("@", 1)[1]


def test_the_digest_is_parsed_from_the_image_id_only_when_it_names_one() -> None:
    hexa = "ab" * 32
    assert running.observed_digest(f"localhost:5000/acme/api@sha256:{hexa}") == f"sha256:{hexa}"
    assert running.observed_digest(f"docker-pullable://r/a@sha256:{hexa}") == f"sha256:{hexa}"
    # A config ID (no repository digest), kwok's empty one, junk: no evidence.
    for image_id in (f"sha256:{hexa}", "", None, 42, f"r/a@sha256:{hexa[:-2]}", f"r@md5:{hexa}"):
        assert running.observed_digest(image_id) is None, image_id


def test_mid_rollout_each_digest_is_reported_and_neither_is_ready() -> None:
    deployment, pods = _load()
    old, new = _digest(pods[0]), _digest(pods[1])
    assert old != new
    entries = running.from_pods(KEY, deployment, pods, COMMIT)
    assert [(e["digest"], e["ready"]) for e in entries] == [(old, False), (new, False)]
    first = entries[0]
    assert first["tag"] == "1.0.0" and entries[1]["tag"] == "1.1.0"  # each pod's own image
    assert first["namespace"] == "apps-1" and first["kind"] == "Deployment"
    assert first["name"] == "api" and first["container"] == "api" and first["commit"] == COMMIT
    assert first["repository"].endswith("/acme/api")
    for entry in entries:
        agentreport.Running.model_validate(entry)


def test_ready_once_every_pod_runs_the_new_digest_and_is_ready() -> None:
    deployment, pods = _load()
    new_pod = pods[1]
    (entry,) = running.from_pods(KEY, deployment, [new_pod], COMMIT)
    assert entry["digest"] == _digest(new_pod) and entry["ready"] is True
    # A second pod on the same digest but not ready yet: not ready.
    starting = copy.deepcopy(new_pod)
    starting["status"]["containerStatuses"][0]["ready"] = False
    (entry,) = running.from_pods(KEY, deployment, [new_pod, starting], COMMIT)
    assert entry["ready"] is False
    # A pod whose container has no status yet (pending) counts against readiness too.
    pending = copy.deepcopy(new_pod)
    pending["status"] = {"phase": "Pending"}
    (entry,) = running.from_pods(KEY, deployment, [new_pod, pending], COMMIT)
    assert entry["ready"] is False
    # Pods not all seen (the LIST was cut at MAX_PODS): not ready.
    (entry,) = running.from_pods(KEY, deployment, [new_pod], COMMIT, complete=False)
    assert entry["ready"] is False
    # A terminating pod of the old digest no longer counts.
    leaving = copy.deepcopy(pods[0])
    leaving["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    (entry,) = running.from_pods(KEY, deployment, [new_pod, leaving], COMMIT)
    assert entry["ready"] is True


def test_pods_without_an_observed_digest_give_no_entry() -> None:
    deployment, pods = _load()
    kwok = copy.deepcopy(pods[1])
    kwok["status"]["containerStatuses"][0]["imageID"] = ""
    assert running.from_pods(KEY, deployment, [kwok], COMMIT) == []


def test_an_entry_the_schema_refuses_is_left_out() -> None:
    deployment, pods = _load()
    odd = copy.deepcopy(deployment)
    odd["spec"]["template"]["spec"]["containers"][0]["image"] = "bad image\nname:1"
    pod = copy.deepcopy(pods[1])
    pod["spec"]["containers"][0]["image"] = "bad image\nname:1"
    assert running.from_pods(KEY, odd, [pod], COMMIT) == []


def test_label_selectors_are_never_wider_than_the_workload() -> None:
    assert running.label_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"
    assert (
        running.label_selector(
            {
                "matchLabels": {"app": "api"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["x", "y"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "env", "operator": "Exists"},
                ],
            }
        )
        == "app=api,tier in (x,y),!canary,env"
    )
    empties: list[object] = [None, {}, {"matchLabels": {}}, "app=api"]
    for empty in empties:
        assert running.label_selector(empty) is None
    assert running.label_selector({"matchExpressions": [{"key": "a", "operator": "Gt"}]}) is None


class _Client:
    """Only what ``observe`` calls: the pods resource and one GET per workload."""

    def __init__(self, pods: list[dict[str, Any]], more: bool = False) -> None:
        self.pods, self.more = pods, more
        self.calls: list[dict[str, str]] = []

    def resource(self, api_version: str, kind: str) -> Any:
        class Res:
            def path(self, namespace: str) -> str:
                return f"/api/v1/namespaces/{namespace}/pods"

        return Res()

    def request(
        self, method: str, path: str, params: dict[str, str], **bounds: float
    ) -> dict[str, Any]:
        assert 0 < bounds["timeout"] <= running.LIST_TIMEOUT, bounds
        assert 0 < bounds["retry_for"] <= running.BUDGET_SECONDS, bounds
        self.calls.append({"path": path, **params})
        meta = {"continue": "next"} if self.more else {}
        return {"items": self.pods, "metadata": meta}


def test_observe_lists_each_workload_by_its_selector_with_a_limit() -> None:
    deployment, pods = _load()
    client = _Client(pods[1:])
    config = Key("", "ConfigMap", "apps-1", "cfg")
    job = Key("batch", "Job", "apps-1", "once")
    workloads = [(config, {"kind": "ConfigMap"}), (job, {"kind": "Job"}), (KEY, deployment)]
    (entry,) = running.observe(client, workloads, COMMIT)  # type: ignore[arg-type]
    assert entry["ready"] is True
    assert client.calls == [
        {
            "path": "/api/v1/namespaces/apps-1/pods",
            "labelSelector": "app=api",
            "limit": str(running.MAX_PODS),
        }
    ]
    # More pods than one page: not all seen, not ready.
    (entry,) = running.observe(_Client(pods[1:], more=True), [(KEY, deployment)], COMMIT)  # type: ignore[arg-type]
    assert entry["ready"] is False


@pytest.fixture
def receiver() -> Iterator[tuple[ThreadedWeb, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []
    app = Flask("receiver")
    lock = threading.Lock()

    @app.post(agentreport.PATH)
    def take() -> tuple[str, int]:
        body = request.get_json()
        agentreport.Report.model_validate(body)  # what the web checks
        with lock:
            got.append(body)
        return "{}", 200

    web = ThreadedWeb(app)
    web.start()
    yield web, got
    web.stop()


def test_the_reporter_posts_the_newest_running_list(
    receiver: tuple[ThreadedWeb, list[dict[str, Any]]],
) -> None:
    web, got = receiver
    deployment, pods = _load()
    entries = running.from_pods(KEY, deployment, pods, COMMIT)
    reporter = Reporter(web.url, "token")
    reporter.running(entries)
    assert reporter.close(timeout=10)
    assert [body["running"] for body in got if "running" in body][-1] == entries
