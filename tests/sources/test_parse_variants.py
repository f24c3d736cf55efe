"""Parser paths the vendor examples do not reach: other actions, states and shapes.

Payloads here are the vendors' documented shapes, reduced to the fields that matter, or a
shared fixture with one field changed (said so in the test).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from bumper import sources
from bumper.errors import WebhookRejected
from tests.sources.helpers import build, fixture, image

DIGEST = "sha256:" + "ab" * 32
SHA = "0123456789abcdef0123456789abcdef01234567"


def parse(sender: str, payload: Any, headers: dict[str, str] | None = None) -> list[Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return sources.SENDERS[sender].parse(headers or {}, body)


def test_gar_push_with_tag_and_digest_in_a_pubsub_envelope() -> None:
    data = {
        "action": "INSERT",
        "digest": f"europe-docker.pkg.dev/p/r/api@{DIGEST}",
        "tag": "europe-docker.pkg.dev/p/r/api:1.4.0",
    }
    envelope = {
        "message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": "9"},
        "subscription": "projects/p/subscriptions/s",
    }
    expected = [
        image("gar", "image.pushed", "europe-docker.pkg.dev/p/r/api", tag="1.4.0", digest=DIGEST)
    ]
    assert parse("gar", envelope) == expected
    assert sources.SENDERS["gar"].delivery_id({}, json.dumps(envelope).encode()) == "9"
    # The same message through Eventarc, as a CloudEvent.
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "id": "e1",
        "source": "//pubsub.googleapis.com/x",
        "data": envelope,
    }
    assert parse("cloudevents", event) == [
        image(
            "cloudevents",
            "image.pushed",
            "europe-docker.pkg.dev/p/r/api",
            tag="1.4.0",
            digest=DIGEST,
        )
    ]


def test_gitlab_failed_job(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "gitlab", "job-hook.created.json")
    data = json.loads(body)
    data["build_status"] = "failed"  # changed from "created"
    assert parse("gitlab", data, {"X-Gitlab-Event": "Job Hook"}) == [
        build(
            "gitlab",
            "failure",
            commit="2293ada6b400935a1378653304eaf6221e0fdb8f",
            ref="refs/heads/gitlab-script-trigger",
            repository="gitlab-org/gitlab-test",
            pipeline=None,  # a Job Hook does not name its pipeline; the job is extra.job
            url="http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/1977",
            extra={"job": "test", "run_id": 2366},
        )
    ]
    data["build_status"] = "success"  # a job's success is not its pipeline's
    assert parse("gitlab", data, {"X-Gitlab-Event": "Job Hook"}) == []


def test_gitlab_running_pipeline_is_ignored_and_tag_pipelines_get_tag_refs(
    shared_dir: Path,
) -> None:
    _, body = fixture(shared_dir, "gitlab", "pipeline-hook.success.json")
    data = json.loads(body)
    data["object_attributes"]["status"] = "running"
    assert parse("gitlab", data, {"X-Gitlab-Event": "Pipeline Hook"}) == []
    data["object_attributes"].update(status="canceled", tag=True, ref="v1.2.0")
    (event,) = parse("gitlab", data, {"X-Gitlab-Event": "Pipeline Hook"})
    assert (event.status, event.ref) == ("cancelled", "refs/tags/v1.2.0")


def _tekton_run(reason: str = "Succeeded") -> dict[str, Any]:
    return {
        "pipelineRun": {
            "metadata": {"name": "build-api-x7", "labels": {"tekton.dev/pipeline": "build-api"}},
            "spec": {
                "params": [
                    {"name": "repo-url", "value": "https://github.com/acme/api.git"},
                    {"name": "revision", "value": "main"},
                ]
            },
            "status": {
                "conditions": [{"type": "Succeeded", "status": "True", "reason": reason}],
                "pipelineResults": [{"name": "commit", "value": SHA}],
            },
        }
    }


def test_tekton_successful_and_cancelled_pipelineruns() -> None:
    headers = {
        "Ce-Specversion": "1.0",
        "Ce-Id": "t1",
        "Ce-Source": "/tekton",
        "Ce-Type": "dev.tekton.event.pipelinerun.successful.v1",
    }
    expected = build(
        "tekton",
        "success",
        commit=SHA,
        repository="acme/api",
        pipeline="build-api",
        extra={"run": "build-api-x7"},
    )
    assert parse("tekton", _tekton_run(), headers) == [expected]
    headers["Ce-Type"] = "dev.tekton.event.pipelinerun.failed.v1"
    (event,) = parse("tekton", _tekton_run("PipelineRunCancelled"), headers)
    assert event.status == "cancelled"
    headers["Ce-Type"] = "dev.tekton.event.pipelinerun.started.v1"
    assert parse("tekton", _tekton_run(), headers) == []


@pytest.mark.parametrize("version_key", ["specversion", "version"])  # v0.5 and v0.4 contexts
def test_cdevents_oci_artifact_published(version_key: str) -> None:
    purl = f"pkg:oci/api@{DIGEST.replace(':', '%3A')}?repository_url=ghcr.io/acme/api&tag=2.0.1"
    event: dict[str, Any] = {
        "context": {
            version_key: "0.4.1",
            "id": "c1",
            "source": "/ci",
            "type": "dev.cdevents.artifact.published.0.1.1",
            "timestamp": "2024-01-01T00:00:00Z",
        },
        "subject": {"id": purl, "source": "/ci", "type": "artifact", "content": {}},
    }
    assert parse("cdevents", event) == [
        image("cdevents", "image.pushed", "ghcr.io/acme/api", tag="2.0.1", digest=DIGEST)
    ]
    structured = {
        "specversion": "1.0",
        "id": "c1",
        "source": "/ci",
        "type": event["context"]["type"],
        "data": event,
    }
    assert parse("cdevents", structured, {"Content-Type": "application/cloudevents+json"}) == [
        image("cdevents", "image.pushed", "ghcr.io/acme/api", tag="2.0.1", digest=DIGEST)
    ]


def test_cloudevents_bumper_types_binary_and_structured() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "dev.bumper.image.pushed",
        "ce-id": "b1",
        "ce-source": "/me",
        "content-type": "application/json",
    }
    assert parse("cloudevents", {"image": f"registry.local:5000/team/api:7@{DIGEST}"}, headers) == [
        image("cloudevents", "image.pushed", "registry.local:5000/team/api", tag="7", digest=DIGEST)
    ]
    event = {
        "specversion": "1.0",
        "type": "dev.bumper.build.finished",
        "id": "b2",
        "source": "/me",
        "data": {"status": "failure", "commit": SHA, "ref": "main", "repository": "acme/api"},
    }
    assert parse("cloudevents", event) == [
        build("cloudevents", "failure", commit=SHA, ref="refs/heads/main", repository="acme/api")
    ]
    event["data"] = {"status": "green"}
    assert parse("cloudevents", event) == []


def test_cloudevents_refuses_a_body_that_is_not_a_cloudevent() -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse("cloudevents", {"hello": "world"})
    assert caught.value.status == 400


def test_nexus_docker_component_and_manifest_asset() -> None:
    hint = {"X-Bumper-Registry": "nexus.local:8443"}
    component = {
        "action": "CREATED",
        "repositoryName": "docker-hosted",
        "component": {"format": "docker", "name": "team/api", "version": "3.1"},
    }
    assert parse("nexus", component, hint) == [
        image("nexus", "image.pushed", "nexus.local:8443/team/api", tag="3.1")
    ]
    assert parse("nexus", component) == []  # no registry host known
    asset = {
        "action": "DELETED",
        "asset": {"format": "docker", "name": f"v2/team/api/manifests/{DIGEST}"},
    }
    assert parse("nexus", asset, hint) == [
        image("nexus", "image.deleted", "nexus.local:8443/team/api", digest=DIGEST)
    ]
    blob = {
        "action": "CREATED",
        "asset": {"format": "docker", "name": f"v2/team/api/blobs/{DIGEST}"},
    }
    assert parse("nexus", blob, hint) == []


def test_gitea_container_package_and_actions_run() -> None:
    package: dict[str, Any] = {
        "action": "created",
        "package": {
            "type": "container",
            "name": "API",
            "version": "1.0.0",
            "owner": {"login": "Acme"},
            "html_url": "https://git.example.com/Acme/-/packages/container/API/1.0.0",
        },
    }
    assert parse("gitea", package, {"X-Gitea-Event": "package"}) == [
        image("gitea", "image.pushed", "git.example.com/acme/api", tag="1.0.0")
    ]
    package["package"]["type"] = "npm"
    assert parse("gitea", package, {"X-Gitea-Event": "package"}) == []
    run = {
        "action": "completed",
        "repository": {"full_name": "acme/api", "default_branch": "main"},
        "workflow_run": {
            "conclusion": "failure",
            "head_sha": SHA,
            "head_branch": "main",
            "name": "ci",
            "html_url": "https://git.example.com/acme/api/actions/runs/4",
        },
    }
    assert parse("gitea", run, {"X-Forgejo-Event": "workflow_run"}) == [
        build(
            "gitea",
            "failure",
            commit=SHA,
            ref="refs/heads/main",
            repository="acme/api",
            pipeline="ci",
            url="https://git.example.com/acme/api/actions/runs/4",
        )
    ]


def test_distribution_manifest_delete_and_oci_index_push() -> None:
    envelope: dict[str, Any] = {
        "events": [
            {
                "id": "1",
                "action": "delete",
                "target": {"repository": "team/api", "digest": DIGEST},
                "request": {"host": "reg.local:5000"},
            },
            {
                "id": "2",
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "repository": "team/api",
                    "digest": DIGEST,
                    "tag": "v2",
                },
                "request": {"host": "reg.local:5000"},
            },
        ]
    }
    # Deletions name no media type or URL: the registry reports manifest and tag deletes so.
    assert parse("distribution", envelope) == [
        image("distribution", "image.deleted", "reg.local:5000/team/api", digest=DIGEST),
        image("distribution", "image.pushed", "reg.local:5000/team/api", tag="v2", digest=DIGEST),
    ]
    envelope["events"][0]["target"]["url"] = f"https://reg.local:5000/v2/team/api/blobs/{DIGEST}"
    assert len(parse("distribution", envelope)) == 1  # a blob delete is not an image delete


def test_distribution_envelope_without_events_is_malformed() -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse("distribution", {"event": []})
    assert caught.value.status == 400


def test_ecr_delete_and_failed_push(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "ecr", "image-action.push.json")
    data = json.loads(body)
    data["detail"].update({"action-type": "DELETE", "image-digest": DIGEST})  # changed
    assert parse("ecr", data) == [
        image(
            "ecr",
            "image.deleted",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name",
            tag="latest",
            digest=DIGEST,
        )
    ]
    data["detail"]["result"] = "FAILURE"
    assert parse("ecr", data) == []


def test_github_registry_package_and_unfinished_runs(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "github", "package.published.docker.json")
    data = json.loads(body)
    data["registry_package"] = data.pop("package")
    data["registry_package"]["package_version"]["container_metadata"]["tag"]["name"] = "1.0"
    assert parse("github", data, {"X-GitHub-Event": "registry_package"}) == [
        image(
            "github",
            "image.pushed",
            "ghcr.io/codertocat/hello-world",
            tag="1.0",
            digest="sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498",
        )
    ]
    _, body = fixture(shared_dir, "github", "workflow_run.completed.success.json")
    run = json.loads(body)
    run["action"] = "in_progress"
    assert parse("github", run, {"X-GitHub-Event": "workflow_run"}) == []


def test_buildkite_webhook_build_finished() -> None:
    payload = {
        "event": "build.finished",
        "build": {
            "state": "failed",
            "commit": SHA,
            "branch": "main",
            "blocked": False,
            "web_url": "https://buildkite.com/acme/api/builds/12",
        },
        "pipeline": {"slug": "api", "repository": "git@github.com:acme/api.git"},
    }
    assert parse("buildkite", payload, {"X-Buildkite-Event": "build.finished"}) == [
        build(
            "buildkite",
            "failure",
            commit=SHA,
            ref="refs/heads/main",
            repository="acme/api",
            pipeline="api",
            url="https://buildkite.com/acme/api/builds/12",
        )
    ]


def test_quay_build_failure(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "quay", "build_success.json")
    data = json.loads(body)
    del data["manifest_digests"]
    data["error_message"] = "Could not find or parse Dockerfile"  # as in build_failure
    (event,) = parse("quay", data)
    assert (event.status, event.commit) == ("failure", "b7f7d2b948aacbe844ee465122a85a9368b2b735")
    del data["error_message"]  # a queued/started/successful build looks like this: ambiguous
    (event,) = parse("quay", data)
    assert event.status == "unknown" and "?event=build_success" in event.extra["ambiguous"]


def test_jenkins_phases_and_statuses(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "jenkins", "notification-plugin.completed.success.json")
    data = json.loads(body)
    data["build"]["phase"] = "STARTED"
    assert parse("jenkins", data) == []
    data["build"].update(phase="FINALIZED", status="ABORTED")
    assert [e.status for e in parse("jenkins", data)] == ["cancelled"]


def test_acr_uses_the_registry_hint_when_request_host_is_missing() -> None:
    payload = {
        "id": "a",
        "action": "delete",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "repository": "api",
            "digest": DIGEST,
        },
    }
    assert parse("acr", payload) == []
    assert parse("acr", payload, {"X-Bumper-Registry": "acme.azurecr.io"}) == [
        image("acr", "image.deleted", "acme.azurecr.io/api", digest=DIGEST)
    ]


@pytest.mark.parametrize("sender", sorted(sources.SENDERS))
@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'"text"', b"\xff\xfe", b"{"])
def test_non_object_or_broken_bodies_are_400_or_ignored(sender: str, body: bytes) -> None:
    try:
        events = sources.SENDERS[sender].parse({}, body)
    except WebhookRejected as rejected:
        assert rejected.status == 400
    else:
        assert events == []


def test_ecr_china_region_registry_domain(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "ecr", "image-action.push.json")
    data = json.loads(body)
    data["region"] = "cn-north-1"
    (event,) = parse("ecr", data)
    assert event.image == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/my-repository-name"


def test_gar_digest_only_push_with_a_real_digest(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "gar", "insert.digest-only.json")
    data = json.loads(body)
    data["digest"] = data["digest"].split("@")[0] + "@" + DIGEST  # the docs truncate it with "..."
    assert parse("gar", data) == [
        image(
            "gar",
            "image.pushed",
            "us-west1-docker.pkg.dev/my-project/my-repo/hello-world",
            digest=DIGEST,
        )
    ]


def test_github_example_delivery_headers_route_an_issues_event_to_nothing(shared_dir: Path) -> None:
    _, raw = fixture(shared_dir, "github", "example-delivery.issues.headers.json")
    headers = json.loads(raw)  # a headers-only fixture: its "body" is the headers object
    assert parse("github", {"action": "opened", "issue": {"number": 1}}, headers) == []
    assert (
        sources.SENDERS["github"].delivery_id(headers, b"{}")
        == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    )
