"""Every shape in tests/sources/fixtures (older and undocumented vendor shapes, SOURCES.md)
parses to the events written here by hand from the file, with the hint a real delivery's URL
would carry where the body does not say its event (Quay builds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bumper import sources
from bumper.core.events import Event, ImageEvent, PullRequestComment
from bumper.errors import WebhookRejected
from bumper.sources import EVENT_HINT_HEADER, hint_from_query
from tests.sources.helpers import build, image

FIXTURES = Path(__file__).parent / "fixtures"
SHA = "b7f7d2b948aacbe844ee465122a85a9368b2b735"
RUN_SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
BUILD_ID = "7f1c2e4a-3b9d-4c55-9a0e-2d6f8b1e0c11"
BUILD_PAGE = f"https://quay.io/repository/acme/api/build/{BUILD_ID}"
GHCR_BETA = "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed"
GHCR_CHART = "sha256:5b0e5a9f2c1d3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7"
HARBOR_V1 = "sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848"


@dataclass(frozen=True)
class Case:
    file: str
    expected: list[Event]
    headers: dict[str, str] = field(default_factory=dict)
    hint: str | None = None

    @property
    def sender(self) -> str:
        return self.file.partition("/")[0]

    @property
    def id(self) -> str:
        return self.file + (f"?event={self.hint}" if self.hint else "")


def quay_build(status: str, **more: object) -> Event:
    fields: dict[str, object] = {
        "commit": SHA,
        "ref": "refs/heads/main",
        "repository": "acme/api",
        "pipeline": "quay.io/acme/api",
        "url": BUILD_PAGE,
    }
    fields.update(more)
    return build("quay", status, **fields)  # type: ignore[arg-type]


def harbor_chart(key: str, version: str) -> Event:
    return ImageEvent(
        type="image.pushed", image=key, tag=version, source="harbor", artifact="chart"
    )


def github_run(run_id: int, workflow: str, ref: str | None, **unknown: str) -> Event:
    return build(
        "github",
        "success",
        commit=RUN_SHA,
        ref=ref,
        repository="acme/api",
        pipeline=workflow,
        url=f"https://github.com/acme/api/actions/runs/{run_id}",
        extra={"run_id": run_id, "attempt": 1, **unknown},
    )


def buildkite_build(
    number: int,
    status: str = "success",
    *,
    ref: str = "refs/heads/main",
    extra: dict[str, str] | None = None,
) -> Event:
    return build(
        "buildkite",
        status,  # type: ignore[arg-type]
        commit=SHA,
        ref=ref,
        repository="acme/api",
        pipeline="api",
        url=f"https://buildkite.com/acme/api/builds/{number}",
        extra={"run_id": f"0190e5a1-6f0e-4c3b-9a51-3d2b7c8e1f{number - 22}", **(extra or {})},
    )


def cdevents_build(status: str, **unclear: str) -> Event:
    purl = f"pkg:oci/api@{HARBOR_V1.replace(':', '%3A')}?repository_url=ghcr.io/acme/api&tag=1.4.0"
    return build(
        "cdevents",
        status,  # type: ignore[arg-type]
        extra={"run_id": "api-build-1187", "artifactId": purl, **unclear},
    )


def tekton_run(status: str, pipeline: str, run: str, ref: str | None = None) -> Event:
    return build(
        "tekton",
        status,  # type: ignore[arg-type]
        commit=RUN_SHA,
        ref=ref,
        repository="acme/api",
        pipeline=pipeline,
        extra={"run": run},
    )


def tekton_headers(kind: str) -> dict[str, str]:
    return {
        "Ce-Specversion": "1.0",
        "Ce-Type": f"dev.tekton.event.{kind}.v1",
        "Ce-Id": "1",
        "Ce-Source": "/apis/tekton.dev/v1beta1/namespaces/ci/runs/x",
    }


def registry_v2(tag: str | None) -> Event:
    return ImageEvent(
        type="image.pushed",
        image="registry.test.lan/team/api",
        tag=tag,
        digest="sha256:1977980aad73e19f918c676de1860b0ee56167b07c20641ecda3f9d74b69627d",
        source="distribution",
    )


BK = {"X-Buildkite-Event": "build.finished"}
AMBIGUOUS = {"ambiguous": sources.quay.AMBIGUOUS, "image": "quay.io/acme/api"}
GH_RUN = {"X-GitHub-Event": "workflow_run"}

CASES = [
    # --- Quay, current build manager: the URL's hint is the only thing that tells.
    Case("quay/build.buildman-2020.json", [quay_build("success")], hint="build_success"),
    Case("quay/build.buildman-2020.json", [quay_build("failure")], hint="build_failure"),
    Case("quay/build.buildman-2020.json", [quay_build("cancelled")], hint="build_cancelled"),
    Case("quay/build.buildman-2020.json", [], hint="build_start"),
    Case("quay/build.buildman-2020.json", [], hint="build_queued"),
    # Without a hint: never a success, an ambiguous result naming the URL to configure.
    Case("quay/build.buildman-2020.json", [quay_build("unknown", extra=AMBIGUOUS)]),
    # --- Quay, legacy build manager: the body tells, with or without a hint.
    Case("quay/build_success.legacy.json", [quay_build("success")]),
    Case("quay/build_success.legacy.json", [quay_build("success")], hint="build_success"),
    Case("quay/build_failure.legacy.json", [quay_build("failure", url=BUILD_PAGE)]),
    # A hint the body contradicts is ambiguous, not a success.
    Case(
        "quay/build_failure.legacy.json",
        [
            quay_build(
                "unknown",
                extra={
                    "ambiguous": "the URL says build_success but the body says failure; "
                    + sources.quay.AMBIGUOUS,
                    "image": "quay.io/acme/api",
                },
            )
        ],
        hint="build_success",
    ),
    # 2013-2017 push: updated_tags is {tag: v1 image id}; the id is no digest.
    Case(
        "quay/repo_push.2013.json",
        [image("quay", "image.pushed", "quay.io/devtable/ubuntu", tag="latest")],
    ),
    Case(
        "quay/repo_push.2013.json",
        [image("quay", "image.pushed", "quay.io/devtable/ubuntu", tag="latest")],
        hint="repo_push",
    ),
    # --- Harbor 1.x
    Case(
        "harbor/pushImage.v1.json",
        [
            image(
                "harbor",
                "image.pushed",
                "harbor.example.com/library/api",
                tag="1.2.3",
                digest=HARBOR_V1,
            )
        ],
    ),
    # Harbor 1.x deleteImage is a delete, never a push; pullImage is nothing.
    Case(
        "harbor/deleteImage.v1.json",
        [
            image(
                "harbor",
                "image.deleted",
                "harbor.example.com/library/api",
                tag="1.2.3",
                digest=HARBOR_V1,
            )
        ],
    ),
    Case("harbor/pullImage.v1.json", []),
    # --- Harbor's legacy ChartMuseum repository: an upload is a chart version of the
    # classic repository https://<harbor>/chartrepo/<project> (what `helm repo add` is given).
    Case(
        "harbor/UPLOAD_CHART.default.json",
        [harbor_chart("https://harbor.example.com/chartrepo/platform/podinfo", "6.5.4")],
    ),
    Case(
        "harbor/uploadChart.v1.json",
        [
            harbor_chart("http://harbor.example.com/chartrepo/library/api", "1.4.0"),
            harbor_chart("http://harbor.example.com/chartrepo/library/api", "1.4.1"),
        ],
    ),
    # --- GitHub: docker.pkg.github.com (2019) and the GHCR beta (2020)
    Case(
        "github/registry_package.published.docker-pkg-2019.json",
        [image("github", "image.pushed", "docker.pkg.github.com/acme/api/server", tag="1.2.3")],
        {"X-GitHub-Event": "registry_package"},
    ),
    Case(
        "github/package_v2.create.container-beta-2020.json",
        [
            image(
                "github",
                "image.pushed",
                "ghcr.io/acme/api-server",
                tag="3.2.1",
                digest=GHCR_BETA,
            )
        ],
        {"X-GitHub-Event": "package_v2"},
    ),
    # --- GitHub: a Helm chart helm-pushed to GHCR is a chart version, not an image tag.
    Case(
        "github/package.published.helm-chart.json",
        [
            ImageEvent(
                type="image.pushed",
                image="ghcr.io/acme/charts/podinfo",
                tag="6.5.4",
                digest=GHCR_CHART,
                source="github",
                artifact="chart",
            )
        ],
        {"X-GitHub-Event": "package"},
    ),
    # --- GitHub: one Actions run's deliveries. Only workflow_run reports the run's success.
    Case("github/run/check_suite.completed.json", [], {"X-GitHub-Event": "check_suite"}),
    Case("github/run/workflow_job.completed.json", [], {"X-GitHub-Event": "workflow_job"}),
    Case(
        "github/run/workflow_run.completed.json",
        [
            build(
                "github",
                "success",
                commit=RUN_SHA,
                ref="refs/heads/main",
                repository="acme/api",
                pipeline="build",
                url="https://github.com/acme/api/actions/runs/4242424242",
                extra={"run_id": 4242424242, "attempt": 1},
            )
        ],
        GH_RUN,
    ),
    # --- GitHub: a run's ref only as the payload tells it (head_branch holds a tag's name too).
    # A push run on a tag: GitHub does not say it is a tag, so the event says it cannot know.
    Case(
        "github/workflow_run.completed.tag.json",
        [
            github_run(
                4242424243,
                "release",
                None,
                ref_name="v1.4.0",
                ref_unknown="GitHub does not say whether 'v1.4.0' is a branch or a tag "
                "(a push run)",
            )
        ],
        GH_RUN,
    ),
    # A release run is on the release's tag.
    Case(
        "github/workflow_run.completed.release.json",
        [github_run(4242424244, "release", "refs/tags/v1.4.0")],
        GH_RUN,
    ),
    # Branches named like versions: the head of a pull request, a pull_request run's head.
    Case(
        "github/workflow_run.completed.version-branch.json",
        [github_run(4242424245, "build", "refs/heads/v2.0")],
        GH_RUN,
    ),
    Case(
        "github/workflow_run.completed.pull-request-version-branch.json",
        [github_run(4242424246, "build", "refs/heads/1.4.1")],
        GH_RUN,
    ),
    # --- Tekton v1beta1: pipelineResults / taskResults, git PipelineResources, the
    # resourcesResult commit, PipelineRunCancelled.
    Case(
        "tekton/taskrun.successful.v1beta1-git-resource.json",
        [tekton_run("success", "build-api", "build-api-run-4kq9z")],
        tekton_headers("taskrun.successful"),
    ),
    Case(
        "tekton/pipelinerun.successful.v1beta1-git-resource.json",
        [tekton_run("success", "api-release", "api-release-z2m4n", ref="refs/tags/v1.4.0")],
        tekton_headers("pipelinerun.successful"),
    ),
    Case(
        "tekton/pipelinerun.failed.v1beta1-cancelled.json",
        [tekton_run("cancelled", "api-deploy", "api-deploy-q8w2e")],
        tekton_headers("pipelinerun.failed"),
    ),
    # --- Buildkite: a build.finished without build.state never passes for a success.
    Case(
        "buildkite/build.finished.no-state.json",
        [buildkite_build(42, "unknown", extra={"ambiguous": sources.buildkite.AMBIGUOUS})],
        BK,
    ),
    Case("buildkite/build.finished.no-state.json", [buildkite_build(42)], BK, "build_success"),
    Case(
        "buildkite/build.finished.no-state.json",
        [buildkite_build(42, "failure")],
        BK,
        "build_failure",
    ),
    # The state says; the build page comes from the pipeline's web_url and the build number.
    Case(
        "buildkite/build.finished.passed.json",
        [buildkite_build(43, ref="refs/tags/v1.4.0")],
        BK,
    ),
    Case(
        "buildkite/build.finished.passed.json",
        [
            buildkite_build(
                43,
                "unknown",
                ref="refs/tags/v1.4.0",
                extra={
                    "ambiguous": "the URL says build_failure but the body says success; "
                    + sources.buildkite.AMBIGUOUS
                },
            )
        ],
        BK,
        "build_failure",
    ),
    # --- CDEvents v0.4 (context.version, subject.type, pipelineRun's url; v0.5 has uri).
    Case(
        "cdevents/pipelinerun.finished.v0.4.json",
        [
            build(
                "cdevents",
                "success",
                pipeline="api-release",
                url="https://dashboard.example.com/#/namespaces/ci/pipelineruns/api-release-8x2kq",
                extra={"run_id": "api-release-8x2kq"},
            )
        ],
    ),
    # build.finished has no outcome: ambiguous without a hint (the built image's rules are
    # told), the hint's outcome with one.
    Case(
        "cdevents/build.finished.v0.4.json",
        [
            cdevents_build(
                "unknown",
                ambiguous=sources.cdevents.AMBIGUOUS,
                image="ghcr.io/acme/api",
            )
        ],
    ),
    Case("cdevents/build.finished.v0.4.json", [cdevents_build("success")], hint="build_success"),
    Case("cdevents/build.finished.v0.4.json", [cdevents_build("failure")], hint="build_failure"),
    Case(
        "cdevents/artifact.published.v0.4.json",
        [image("cdevents", "image.pushed", "ghcr.io/acme/api", tag="1.4.0", digest=HARBOR_V1)],
    ),
    # --- Docker Hub 2014-2019: push_data.images (v1 ids) and float timestamps, ignored.
    Case(
        "dockerhub/push.2015-images.json",
        [image("dockerhub", "image.pushed", "docker.io/acme/api", tag="1.4.0")],
    ),
    # --- Distribution: 2.0 named the tag only in the manifest URL; 2.1-2.3 sent none.
    Case(
        "distribution/push.envelope.v2.0.json",
        [registry_v2("1.4.0")],
    ),
    Case("distribution/push.envelope.v2.1.json", [registry_v2(None)]),
    # --- JFrog: the 2021 Docker-domain envelope without jpd_origin: the receiver's registry.
    Case(
        "jfrog/docker.pushed.envelope-2021.json",
        [
            image(
                "jfrog",
                "image.pushed",
                "art.example.com/docker-local/api",
                tag="1.4.0",
                digest=HARBOR_V1,
            )
        ],
        {"X-Bumper-Registry": "art.example.com"},
    ),
    # --- Nexus 3.1+ component event (the component's id only, no componentId).
    Case(
        "nexus/rm-repository-component.created.docker.json",
        [image("nexus", "image.pushed", "nexus.example.com:8443/team/api", tag="1.4.0")],
        {
            "X-Nexus-Webhook-Id": "rm:repository:component",
            "X-Bumper-Registry": "nexus.example.com:8443",
        },
    ),
    # --- ECR: events with artifact/manifest media types; a Helm chart's config says chart.
    Case(
        "ecr/image-action.push.media-types.json",
        [
            image(
                "ecr",
                "image.pushed",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api",
                tag="1.4.0",
                digest=HARBOR_V1,
            )
        ],
    ),
    Case(
        "ecr/image-action.push.helm-chart.json",
        [
            ImageEvent(
                type="image.pushed",
                image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/charts/api",
                tag="1.4.0",
                digest=GHCR_CHART,
                source="ecr",
                artifact="chart",
            )
        ],
    ),
    # --- Jenkins Notification plugin's old releases: last phase FINISHED, no scm.
    Case(
        "jenkins/notification.finished.old-plugin.json",
        [
            build(
                "jenkins",
                "failure",
                pipeline="api",
                url="https://jenkins.example.com/job/api/20/",
                extra={"run_id": "job/api/20/"},
            )
        ],
    ),
    # --- PR comments: a /bumper command on a pull (merge) request; anything else is dropped.
    Case(
        "github/issue_comment.created.pull-request.json",
        [
            PullRequestComment(
                forge="github",
                repository="acme/config",
                number=7,
                author="alice",
                command="/bumper hold",
                author_id=91000002,
                comment_id=1890001234,
                url="https://github.com/acme/config/pull/7#issuecomment-1890001234",
            )
        ],
        {"X-GitHub-Event": "issue_comment"},
    ),
    Case("github/issue_comment.created.issue.json", [], {"X-GitHub-Event": "issue_comment"}),
    Case(
        "gitlab/note-hook.merge-request.json",
        [
            PullRequestComment(
                forge="gitlab",
                repository="acme/platform/config",
                number=12,
                author="alice",
                command="/bumper pin 1.2.5",
                author_id=4201,
                head_branch="bumper/api-0/api-1a2b3c4d",
                comment_id=88231,
                url="https://gitlab.example.com/acme/platform/config/-/merge_requests/12#note_88231",
            )
        ],
        {"X-Gitlab-Event": "Note Hook"},
    ),
    Case("gitlab/note-hook.issue.json", [], {"X-Gitlab-Event": "Note Hook"}),
    # GitLab before 9.3: the Job Hook was the "Build Hook"; before 11 it had no pipeline_id
    # nor project: the run is commit.id (the pipeline), the repository repository.homepage.
    Case(
        "gitlab/build-hook.9.x.failed.json",
        [
            build(
                "gitlab",
                "failure",
                commit=SHA,
                ref="refs/heads/main",
                repository="acme/api",
                extra={"run_id": 2366, "job": "test"},
            )
        ],
        {"X-Gitlab-Event": "Build Hook"},
    ),
    # --- Tekton: a result named url is the repository only when it is a clone URL.
    *[
        Case(
            f"tekton/{name}",
            [
                build(
                    "tekton",
                    "success",
                    commit=RUN_SHA,
                    repository=repository,
                    pipeline="api-deploy",
                    extra={"run": "api-deploy-x7k2p"},
                )
            ],
            {
                "Ce-Specversion": "1.0",
                "Ce-Type": "dev.tekton.event.pipelinerun.successful.v1",
                "Ce-Id": "1",
                "Ce-Source": "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/api-deploy-x7k2p",
            },
        )
        for name, repository in (
            ("pipelinerun.successful.url-result.json", "acme/api"),
            ("pipelinerun.successful.url-only.json", None),
            ("pipelinerun.successful.git-clone-url.json", "acme/api"),
        )
    ],
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_shape_parses_to_expected_events(case: Case) -> None:
    sender = sources.SENDERS[case.sender]
    headers = dict(case.headers)
    if case.hint is not None:
        headers[EVENT_HINT_HEADER] = sender.check_hint(case.hint)
    body = (FIXTURES / case.file).read_bytes()
    assert sender.parse(headers, body) == case.expected


def test_every_own_fixture_has_a_case_and_a_source() -> None:
    files = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")}
    assert files == {case.file for case in CASES}
    listed = (FIXTURES / "SOURCES.md").read_text()
    missing = [name for name in sorted(files) if f"`{name}`" not in listed]
    assert missing == [], "not named in tests/sources/fixtures/SOURCES.md"


@pytest.mark.parametrize(
    ("sender", "query", "message"),
    [
        ("quay", "token=x&event=build_sucess", "event='build_sucess' is not a quay event"),
        ("quay", "event=build_success&event=build_failure", "at most one event="),
        ("github", "event=build_success", "github deliveries take no event hint"),
        ("buildkite", "event=passed", "event='passed' is not a buildkite event"),
        ("cdevents", "event=build_start", "event='build_start' is not a cdevents event"),
    ],
)
def test_a_hint_the_sender_does_not_allow_is_a_one_line_400(
    sender: str, query: str, message: str
) -> None:
    with pytest.raises(WebhookRejected) as refused:
        hint = hint_from_query(query)
        assert hint is not None
        sources.SENDERS[sender].check_hint(hint)
    assert (refused.value.status, refused.value.reason) == (400, "unknown-event-hint")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_queries_without_event_and_oversized_ones() -> None:
    assert hint_from_query("token=abc") is None
    assert hint_from_query("") is None
    with pytest.raises(WebhookRejected):
        hint_from_query("a=" + "x" * 3000)
    with pytest.raises(WebhookRejected):
        hint_from_query("&".join(f"k{i}=v" for i in range(30)))


@pytest.mark.parametrize(
    ("resource", "chart"),
    [
        ({"tag": "1.0.0", "resource_url": "https://h.example.com/library/api:1.0.0"}, "api"),
        (
            {"tag": "1.0.0", "resource_url": "https://h.example.com/chartrepo/x/charts/a.tgz?q"},
            "api",
        ),
        (
            {
                "tag": "not a version!",
                "resource_url": "https://h.example.com/chartrepo/x/charts/a.tgz",
            },
            "api",
        ),
        (
            {"tag": "1.0.0", "resource_url": "https://h.example.com/chartrepo/x/charts/a.tgz"},
            "../x",
        ),
    ],
    ids=["image-url", "query", "bad-version", "bad-chart-name"],
)
def test_a_harbor_chart_upload_that_does_not_fit_is_dropped(
    resource: dict[str, str], chart: str
) -> None:
    import json

    body = {
        "type": "UPLOAD_CHART",
        "event_data": {"resources": [resource], "repository": {"name": chart}},
    }
    assert sources.SENDERS["harbor"].parse({}, json.dumps(body).encode()) == []
