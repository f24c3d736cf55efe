"""Every shared webhook payload parses to the events written here by reading the payload.

The expected events are written by hand from each vendor example (not captured from the
parser). Headers come from the fixture's ``.headers.json`` when it has one, plus the routing
header a real delivery of that payload would carry (``X-GitHub-Event`` ...), given per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bumper import sources
from bumper.core.events import Event
from tests.sources.helpers import build, fixture, image

GHCR_DIGEST = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"
HARBOR_DELETED = "sha256:2bb501e6173d9d006e56de5bce2720eb06396803300fe1687b58a7ff32bf4c14"
CDEVENTS_ARTIFACT = (
    "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"
)
HARBOR_PUSHED = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"


@dataclass(frozen=True)
class Case:
    sender: str
    file: str
    expected: list[Event]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.sender}/{self.file}"


CASES = [
    # --- Docker Hub: push of svendowideit/testhook:latest; no digest in Docker Hub payloads.
    Case(
        "dockerhub",
        "push.json",
        [image("dockerhub", "image.pushed", "docker.io/svendowideit/testhook", tag="latest")],
    ),
    # --- Harbor
    Case(
        "harbor",
        "DELETE_ARTIFACT.default.json",
        [
            image(
                "harbor",
                "image.deleted",
                "localhost/harbor/alpine",
                tag="3.8",
                digest=HARBOR_DELETED,
            )
        ],
    ),
    # Push by digest: the "tag" is the digest, so there is no tag.
    Case(
        "harbor",
        "PUSH_ARTIFACT.default.digest-only.json",
        [image("harbor", "image.pushed", "localhost/harbor/alpine", digest=HARBOR_PUSHED)],
    ),
    Case(
        "harbor",
        "PUSH_ARTIFACT.cloudevents.json",
        [image("harbor", "image.pushed", "localhost/harbor/alpine", digest=HARBOR_PUSHED)],
        {"Content-Type": "application/cloudevents+json"},
    ),
    # --- GitHub
    # GHCR: name from package_url (lower-cased), digest from package_version.version; the
    # container_metadata digest is 40 hex (not a sha256) and the tag name is empty.
    Case(
        "github",
        "package.published.docker.json",
        [image("github", "image.pushed", "ghcr.io/codertocat/hello-world", digest=GHCR_DIGEST)],
        {"X-GitHub-Event": "package"},
    ),
    Case("github", "package.published.npm.json", [], {"X-GitHub-Event": "package"}),
    Case(
        "github",
        "workflow_run.completed.success.json",
        [
            build(
                "github",
                "success",
                commit="3484a3fb816e0859fd6e1cea078d76385ff50625",
                ref="refs/heads/master",
                repository="octo-org/octo-repo",
                pipeline="test",
                url="https://github.com/octo-org/octo-repo/actions/runs/289782451",
                extra={"run_id": 289782451, "attempt": 1},
            )
        ],
        {"X-GitHub-Event": "workflow_run"},
    ),
    Case(
        "github",
        "workflow_job.completed.failure.json",
        [
            build(
                "github",
                "failure",
                commit="3484a3fb816e0859fd6e1cea078d76385ff50625",
                # A workflow_job names no event, and main is not the default (master) branch.
                ref=None,
                repository="Codertocat/Hello-World",
                pipeline="CodeQL",
                url="https://github.com/octo-org/octo-repo/runs/1291536064",
                extra={
                    "job": "linters",
                    "run_id": 2202229078,
                    "attempt": 1,
                    "ref_name": "main",
                    "ref_unknown": "GitHub does not say whether 'main' is a branch or a tag "
                    "(this delivery names no triggering event)",
                },
            )
        ],
        {"X-GitHub-Event": "workflow_job"},
    ),
    *[
        Case(
            "github",
            name,
            [
                build(
                    "github",
                    "success",
                    commit="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                    ref="refs/heads/changes",
                    repository="Codertocat/Hello-World",
                    pipeline="octocoders-linter",
                    # A check suite links nowhere itself: the commit's checks page.
                    url="https://github.com/Codertocat/Hello-World/commit/"
                    "ec26c3e57ca3a959ca5aad62de7213c562f8c821/checks?check_suite_id=118578147",
                    extra={"run_id": 118578147},
                )
            ],
            {"X-GitHub-Event": "check_suite"},
        )
        for name in (
            "check_suite.completed.success.json",
            "check_suite.completed.success.with-organization.json",
        )
    ],
    # --- GitLab: the only pipeline example is a success; the job example is still "created".
    Case(
        "gitlab",
        "pipeline-hook.success.json",
        [
            build(
                "gitlab",
                "success",
                commit="bcbb5ec396a2c0f828686f14fac9b80b780504f2",
                ref="refs/heads/master",
                repository="gitlab-org/gitlab-test",
                pipeline="Pipeline for branch: master",
                url="http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
                extra={"run_id": 31},
            )
        ],
    ),
    Case("gitlab", "job-hook.created.json", []),
    # --- Quay
    Case(
        "quay",
        "repo_push.json",
        [image("quay", "image.pushed", "quay.io/dgangaia/test", tag="latest")],
    ),
    Case(
        "quay",
        "repo_push.legacy.json",
        [image("quay", "image.pushed", "quay.io/mynamespace/repository", tag="latest")],
    ),
    Case(
        "quay",
        "build_success.json",
        [
            build(
                "quay",
                "success",
                commit="b7f7d2b948aacbe844ee465122a85a9368b2b735",
                ref="refs/heads/master",
                repository="dgangaia/test",
                pipeline="quay.io/dgangaia/test",
                url="https://quay.io/repository/dgangaia/test/build/296ec063-5f86-4706-a469-f0a400bf9df2",
            )
        ],
    ),
    # --- Distribution: one manifest push (no tag in the event), two layer pushes ignored.
    Case(
        "distribution",
        "push.envelope.json",
        [
            image(
                "distribution",
                "image.pushed",
                "registrycluster.local/library/test",
                digest="sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
            )
        ],
    ),
    Case("distribution", "pull.envelope.json", []),
    # --- JFrog: the flat Docker example names no registry host; the artifact one is a file.
    Case("jfrog", "docker.pushed.multi-arch.json", []),
    Case(
        "jfrog",
        "docker.pushed.multi-arch.json",
        [
            image(
                "jfrog",
                "image.pushed",
                "acme.jfrog.io/docker-remote-cache/library/ubuntu",
                tag="latest",
                digest="sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce",
            )
        ],
        {"X-Bumper-Registry": "acme.jfrog.io"},
    ),
    Case("jfrog", "artifact.deployed.json", [], {"X-Bumper-Registry": "acme.jfrog.io"}),
    # --- ACR: masked digests become null; Helm chart actions are not images.
    Case(
        "acr",
        "push.json",
        [image("acr", "image.pushed", "myregistry.azurecr.io/hello-world", tag="v1")],
    ),
    Case("acr", "chart_push.json", []),
    Case("acr", "chart_delete.json", []),
    # --- GAR: the docs' digest is truncated with "...", leaving nothing to act on; the two
    # Pub/Sub examples carry plain text, not registry notifications.
    Case(
        "gar",
        "delete.tag.json",
        [
            image(
                "gar",
                "image.deleted",
                "us-west1-docker.pkg.dev/my-project/my-repo/hello-world",
                tag="1.1",
            )
        ],
    ),
    Case("gar", "insert.digest-only.json", []),
    Case("gar", "pubsub.push-envelope.json", []),
    Case("gar", "pubsub.message-published.eventarc-data.json", []),
    # --- ECR: the docs' digest has 60 hex digits, so it is not a sha256 digest.
    Case(
        "ecr",
        "image-action.push.json",
        [
            image(
                "ecr",
                "image.pushed",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name",
                tag="latest",
            )
        ],
    ),
    Case("ecr", "image-scan.basic.json", []),
    # --- Nexus: an npm asset.
    Case("nexus", "rm-repository-asset.created.json", []),
    Case(
        "nexus", "rm-repository-asset.created.json", [], {"X-Bumper-Registry": "nexus.local:5000"}
    ),
    # --- Gitea: a git push is neither an image nor a build result.
    Case("gitea", "push.json", []),
    # --- Jenkins
    Case(
        "jenkins",
        "notification-plugin.completed.success.json",
        [
            build(
                "jenkins",
                "success",
                commit="c6d86dc654b12425e706bcf951adfe5a8627a517",
                ref="refs/heads/master",
                repository="evgeny-goldin/asgard",
                pipeline="asgard",
                url="http://localhost:8080/job/asgard/18/",
                extra={"run_id": "job/asgard/18/"},
            )
        ],
    ),
    # --- CircleCI
    Case(
        "circleci",
        "workflow-completed.github-oauth.success.json",
        [
            build(
                "circleci",
                "success",
                commit="1dc6aa69429bff4806ad6afe58d3d8f57e25973e",
                ref="refs/heads/main",
                repository="circleci/webhook-service",
                pipeline="build-test-deploy",
                url="https://app.circleci.com/pipelines/github/circleci/webhook-service/130/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3",
                extra={"run_id": "fda08377-fe7e-46b1-8992-3a7aaecac9c3"},
            )
        ],
    ),
    Case(
        "circleci",
        "workflow-completed.gitlab.failed.json",
        [
            build(
                "circleci",
                "failure",
                commit="850a1519f25d14e968649cc420d1bd381715c05c",
                ref="refs/heads/main",
                repository="circleci/hello-world",
                pipeline="build",
                url="https://app.circleci.com/pipelines/circleci/DdaVtNusHqi24D4YT3X4eu/6EkDPZoN4ZdMKKZtBkRodt/1/workflows/c2006ece-778d-49fc-9e6e-b9965f72bee9",
                extra={"run_id": "c2006ece-778d-49fc-9e6e-b9965f72bee9"},
            )
        ],
    ),
    # A job's success is not its workflow's (workflow-completed reports that): dropped.
    Case("circleci", "job-completed.gitlab.success.json", []),
    # --- Buildkite: the webhook example elides everything but "blocked": true.
    Case(
        "buildkite",
        "build.finished.blocked.json",
        [build("buildkite", "pending")],
        {"X-Buildkite-Event": "build.finished"},
    ),
    Case(
        "buildkite",
        "eventbridge.build-finished.passed.json",
        [
            build(
                "buildkite",
                "success",
                commit="5a741616cdf07dc87c5adafe784321eeeb639e33",
                ref="refs/heads/main",
                repository="project",
                pipeline="my-pipeline",
                # EventBridge sends no URL: the page from the organization and pipeline slugs
                # and the build number.
                url="https://buildkite.com/my-org/my-pipeline/builds/123456",
                extra={"run_id": "8fcaa7b9-e175-4110-9f48-f79949806a31"},
            )
        ],
    ),
    Case("buildkite", "package.created.json", [], {"X-Buildkite-Event": "package.created"}),
    # --- CDEvents: golang purls are not images; build.finished has no outcome in the spec:
    # ambiguous, never a success.
    Case("cdevents", "artifact.published.v0.5.1.json", []),
    Case("cdevents", "artifact.deleted.v0.5.1.json", []),
    Case(
        "cdevents",
        "build.finished.v0.5.1.json",
        [
            build(
                "cdevents",
                "unknown",
                # No outcome and no pipeline name in the spec: the subject id is the build's.
                extra={
                    "run_id": "mySubject123",
                    "artifactId": CDEVENTS_ARTIFACT,
                    "ambiguous": sources.cdevents.AMBIGUOUS,
                },
            )
        ],
    ),
    Case(
        "cdevents",
        "pipelinerun.finished.v0.5.1.json",
        [
            build(
                "cdevents",
                "failure",
                pipeline="myPipeline",
                url="https://www.example.com/mySubject123",
                extra={"run_id": "mySubject123"},
            )
        ],
    ),
    Case("cdevents", "taskrun.started.http-binary.json", []),
    # --- CloudEvents: the spec's example type is not one Bumper acts on.
    Case("cloudevents", "structured.json-data.json", []),
    Case("cloudevents", "binary.json-data.json", []),
    # --- Tekton: a TaskRun still running ("unknown").
    Case("tekton", "taskrun.unknown.cloudevent.json", []),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fixture_parses_to_expected_events(shared_dir: Path, case: Case) -> None:
    file_headers, body = fixture(shared_dir, case.sender, case.file)
    headers = {**file_headers, **case.headers}
    assert sources.SENDERS[case.sender].parse(headers, body) == case.expected


def test_every_fixture_of_every_known_sender_has_a_case(shared_dir: Path) -> None:
    covered = {(case.sender, case.file) for case in CASES}
    root = shared_dir / "fixtures" / "webhooks"
    missing = [
        f"{folder.name}/{path.name}"
        for folder in sorted(root.iterdir())
        if folder.is_dir() and folder.name in sources.SENDERS
        for path in sorted(folder.glob("*.json"))
        if not path.name.endswith(".headers.json") and (folder.name, path.name) not in covered
    ]
    assert missing == []
