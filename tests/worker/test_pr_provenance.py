"""Issue 21 (items 1 and 5) end to end through the worker: the PR body's source range read from
the images' OCI labels in a real registry, conventional-commit titles with the trailers in the
pushed commit, and a commit signed by the worker shown verified by the forge simulator.

Real parts: the test bed's distribution registry (images labelled with crane), Redis, the job
path (``handle_event`` → event job → bump job), git over smart HTTP and the forge simulator's
GitHub REST API (PRs, compare, commits with ``verification``).
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from bumper.core import events
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.support.testbed import Registry, RegistryFactory
from worker import context, jobs

REPO = "acme/config"
SOURCE = "acme/api"
QUEUE = "bumper-provenance-test"
PATH = "apps/api.yaml"
SOURCE_LABEL = "org.opencontainers.image.source"
REVISION_LABEL = "org.opencontainers.image.revision"


@pytest.fixture
def bed(
    forgesim: ForgeSim, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(tmp_path / "bumper.yaml"))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", QUEUE)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "0")
    context.current.cache_clear()
    yield tmp_path
    context.current.cache_clear()


def write_config(
    bed: Path,
    forgesim: ForgeSim,
    image: str,
    *,
    forge: str = "github",
    registry: str = "",
    repo_extra: str = "",
) -> None:
    api = forgesim.github_api_url if forge == "github" else forgesim.gitlab_url
    registries = f'registries:\n  - host: "{registry}"\n    plain_http: true\n' if registry else ""
    text = textwrap.dedent(
        f"""\
        apiVersion: bumper/v1
        repos:
          - name: config
            forge: {forge}
            url: {forgesim.url}/{REPO}
            api_url: {api}
            credentials: {{env: TEST_FORGE_TOKEN}}
        """
    )
    text += repo_extra + registries
    text += textwrap.dedent(
        f"""\
        images:
          - name: api
            image: {image}
            policy: {{semver: "*"}}
            commit_style: conventional
            targets: [{{repo: config, paths: ["apps/**"], mode: pr}}]
        """
    )
    (bed / "bumper.yaml").write_text(text)
    context.current.cache_clear()


def deliver(
    image: str, tag: str, redis_client: redis.Redis, digest: str | None = None, delivery: str = ""
) -> None:
    event = events.ImageEvent(
        type="image.pushed",
        image=image,
        tag=tag,
        digest=digest,
        source="distribution",
        delivery_id=delivery or f"d-{tag}",
        received_at=time.time(),
    )
    jobs.handle_event(events.to_dict(event))
    drain(redis_client, QUEUE)


def labelled(reg: Registry, tag: str, labels: dict[str, str]) -> str:
    """Push a one-layer image as ``acme/api:tag`` carrying ``labels``; its digest."""
    reg.push_image("acme/api", tag)
    ref = f"{reg.host}/acme/api:{tag}"
    args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    reg.crane("mutate", "--insecure", ref, *args, "-t", ref)
    return reg.crane("digest", "--insecure", ref).stdout.strip()


def only_pr(forgesim: ForgeSim) -> Any:
    [pr] = list(forgesim.repo(REPO).changes.values())
    return pr


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_pr_body_shows_the_source_range_from_the_images_oci_labels(
    bed: Path,
    forgesim: ForgeSim,
    registry: RegistryFactory,
    redis_client: redis.Redis,
    forge: str,
) -> None:
    reg = registry()
    image = f"{reg.host}/acme/api"
    forgesim.create_repo(REPO, {PATH: f"image: {image}:1.0.0\n"})
    forgesim.create_repo(SOURCE, {"main.go": "package main\n"})
    old = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1\n"}, "feat: first cut")
    forgesim.create_release(SOURCE, "v1.0.0", old, notes="the first")
    middle = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1.1\n"}, "fix: nil map")
    forgesim.create_release(SOURCE, "v1.0.5", middle, notes="Fixes the **nil map** crash")
    new = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1.2\n"}, "feat: retries")
    source_url = f"{forgesim.url}/{SOURCE}"
    labelled(reg, "1.0.0", {SOURCE_LABEL: source_url, REVISION_LABEL: old})
    digest = labelled(reg, "1.1.0", {SOURCE_LABEL: source_url, REVISION_LABEL: new})
    write_config(bed, forgesim, image, forge=forge, registry=reg.host)

    deliver(image, "1.1.0", redis_client, digest)

    body = only_pr(forgesim).body
    compare = f"{source_url}{'/compare/' if forge == 'github' else '/-/compare/'}{old}...{new}"
    assert f"Source: {source_url}" in body
    assert f"Commits: `{old[:12]}` → `{new[:12]}` ([compare]({compare}))" in body, body
    assert "from the images' OCI labels" in body
    subjects = [line for line in body.splitlines() if line.startswith("- [`")]
    assert [line.split(" ", 2)[2] for line in subjects] == ["fix: nil map", "feat: retries"]
    assert f"[`{middle[:12]}`]" in subjects[0] and f"[`{new[:12]}`]" in subjects[1]
    assert "v1.0.5" in body and "> Fixes the **nil map** crash" in body  # the tag in between
    assert "v1.0.0" not in body.split("### Release notes", 1)[-1]  # the old tag is not news
    assert f"- **Image digest:** `{digest}`" in body
    # the link is the forge's own web view of the comparison of exactly these commits
    assert forge_compare(forgesim, forge, old, new) == (compare, [middle, new])


def test_a_pinned_old_digest_is_the_old_side_even_when_its_tag_has_moved(
    bed: Path, forgesim: ForgeSim, registry: RegistryFactory, redis_client: redis.Redis
) -> None:
    reg = registry()
    image = f"{reg.host}/acme/api"
    forgesim.create_repo(SOURCE, {"main.go": "package main\n"})
    deployed = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1\n"}, "feat: first cut")
    rebuilt = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1 again\n"}, "ci: rebuild")
    new = forgesim.commit_files(SOURCE, "main", {"main.go": "// v1.1\n"}, "feat: retries")
    source_url = f"{forgesim.url}/{SOURCE}"
    pinned = labelled(reg, "1.0.0", {SOURCE_LABEL: source_url, REVISION_LABEL: deployed})
    labelled(reg, "1.0.0", {SOURCE_LABEL: source_url, REVISION_LABEL: rebuilt})  # tag moved on
    digest = labelled(reg, "1.1.0", {SOURCE_LABEL: source_url, REVISION_LABEL: new})
    forgesim.create_repo(REPO, {PATH: f"image: {image}:1.0.0@{pinned}\n"})
    write_config(bed, forgesim, image, registry=reg.host)

    deliver(image, "1.1.0", redis_client, digest)

    body = only_pr(forgesim).body
    # what runs is the pinned digest, built from ``deployed``: the range starts there
    assert f"Commits: `{deployed[:12]}` → `{new[:12]}`" in body, body
    subjects = [line.split(" ", 2)[2] for line in body.splitlines() if line.startswith("- [`")]
    assert subjects == ["ci: rebuild", "feat: retries"]


def test_a_source_label_that_is_no_web_url_is_named_as_such(
    bed: Path, forgesim: ForgeSim, registry: RegistryFactory, redis_client: redis.Redis
) -> None:
    reg = registry()
    image = f"{reg.host}/acme/api"
    scp = "git@github.com:acme/api.git"  # git's scp form: no web URL to link or ask
    labelled(reg, "1.0.0", {SOURCE_LABEL: scp, REVISION_LABEL: "a" * 40})
    digest = labelled(reg, "1.1.0", {SOURCE_LABEL: scp, REVISION_LABEL: "b" * 40})
    forgesim.create_repo(REPO, {PATH: f"image: {image}:1.0.0\n"})
    write_config(bed, forgesim, image, registry=reg.host)

    deliver(image, "1.1.0", redis_client, digest)

    body = only_pr(forgesim).body
    assert f"Commits: `{'a' * 12}` → `{'b' * 12}`" in body
    why = f"Commit list: unavailable (the {SOURCE_LABEL} label is not an http(s) repository URL)"
    assert why in body, body
    assert scp not in body  # label text is not echoed into the PR


def forge_compare(forgesim: ForgeSim, forge: str, old: str, new: str) -> tuple[str, list[str]]:
    """The simulator's compare of ``old...new`` in SOURCE: its web URL and commit shas."""
    auth = {"Authorization": f"token {forgesim.token}"}
    if forge == "github":
        url = f"{forgesim.github_api_url}/repos/{SOURCE}/compare/{old}...{new}"
        reply = requests.get(url, headers=auth, timeout=10).json()
        return reply["html_url"], [c["sha"] for c in reply["commits"]]
    project = SOURCE.replace("/", "%2F")
    url = f"{forgesim.gitlab_url}/api/v4/projects/{project}/repository/compare"
    params = {"from": old, "to": new}
    reply = requests.get(url, headers=auth, params=params, timeout=10).json()
    return reply["web_url"], [c["id"] for c in reply["commits"]]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_conventional_titles_and_trailers_reach_the_forge(
    bed: Path, forgesim: ForgeSim, redis_client: redis.Redis, forge: str
) -> None:
    image = "ghcr.io/acme/api"
    forgesim.create_repo(REPO, {PATH: f"image: {image}:1.0.0\n"})
    write_config(bed, forgesim, image, forge=forge)

    deliver(image, "1.1.0", redis_client, delivery="d-1\nBumper-Target: evil/0 ü")

    pr = only_pr(forgesim)
    assert pr.title == "chore(deps): bump api to 1.1.0"
    head = forgesim.repo(REPO).git.sha(pr.head)
    assert head is not None
    message = forgesim.repo(REPO).git.commit_info(head)["message"]
    assert message.splitlines()[0] == "chore(deps): bump api to 1.1.0"
    assert message.rstrip("\n").split("\n\n")[-1].splitlines() == [
        "Bumper-Delivery: d-1_Bumper-Target:_evil/0__",
        "Bumper-Decision: accepted: semver *",
        "Bumper-Target: api/0",
    ]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_commit_the_worker_signs_is_verified_by_the_forge(
    bed: Path,
    forgesim: ForgeSim,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    forge: str,
) -> None:
    key = bed / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    monkeypatch.setenv("TEST_SIGNING_KEY", key.read_text())
    image = "ghcr.io/acme/api"
    forgesim.create_repo(REPO, {PATH: f"image: {image}:1.0.0\n"})
    signing = (
        "    author: {name: Deploy Bot, email: deploy@acme.test}\n"
        "    signing: {format: ssh, key: {env: TEST_SIGNING_KEY}}\n"
    )
    write_config(bed, forgesim, image, forge=forge, repo_extra=signing)

    deliver(image, "1.1.0", redis_client)

    head = forgesim.repo(REPO).git.sha(only_pr(forgesim).head)
    assert head is not None
    # signed, but the forge has no key for the bot yet
    assert signature_verdict(forgesim, forge, head) == ("unknown_key", False)
    forgesim.add_signing_key("deploy@acme.test", key.with_suffix(".pub").read_text())
    assert signature_verdict(forgesim, forge, head)[1] is True


def signature_verdict(forgesim: ForgeSim, forge: str, sha: str) -> tuple[str, bool]:
    """The forge's commit API on ``sha``'s signature: its reason or status, and whether that
    means verified (GitHub ``verification.verified``; GitLab ``verification_status``)."""
    if forge == "github":
        url = f"{forgesim.github_api_url}/repos/{REPO}/commits/{sha}"
        auth = {"Authorization": f"token {forgesim.token}"}
        found = requests.get(url, headers=auth, timeout=10).json()["commit"]["verification"]
        return found["reason"], found["verified"]
    project = REPO.replace("/", "%2F")
    url = f"{forgesim.gitlab_url}/api/v4/projects/{project}/repository/commits/{sha}/signature"
    reply = requests.get(url, headers={"PRIVATE-TOKEN": forgesim.token}, timeout=10).json()
    status = reply["verification_status"]
    return status, status == "verified"
