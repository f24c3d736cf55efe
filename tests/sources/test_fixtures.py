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
                ref="refs/heads/main",
                repository="Codertocat/Hello-World",
                pipeline="CodeQL",
                url="https://github.com/octo-org/octo-repo/runs/1291536064",
                extra={"job": "linters"},
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
                )
            ],
            {"X-GitHub-Event": "check_suite"},
        )
        for name in (
            "check_suite.completed.success.json",
            "check_suite.completed.success.with-organization.json",
        )
    ],
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
