"""The simulator's history endpoints (compare, releases), its body limits and its commit
signature verification, and Bumper's bounded reader of them (``bumper.scm.sourceinfo``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bumper.scm.sourceinfo import SourceReader, SourceUnavailable
from tests.forgesim.conftest import BRANCH, REPO, Api
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.gitstore import git

SOURCE = "acme/api"


@pytest.fixture
def source(forgesim: ForgeSim) -> tuple[ForgeSim, str, str]:
    """acme/api with three commits after v1.0.0, released as v1.1.0 and v1.2.0 (and a draft)."""
    forgesim.create_repo(SOURCE, {"main.go": "package main\n"})
    old = forgesim.repo(SOURCE).git.sha("main")
    assert old
    forgesim.create_release(SOURCE, "v1.0.0", old, notes="first")
    forgesim.commit_files(SOURCE, "main", {"a.go": "a\n"}, "feat: add a")
    mid = forgesim.commit_files(SOURCE, "main", {"b.go": "b\n"}, "fix: b\n\nlong text")
    forgesim.create_release(SOURCE, "v1.1.0", mid, name="One one", notes="## Fixes\n- b")
    new = forgesim.commit_files(SOURCE, "main", {"c.go": "c\n"}, "chore: c")
    forgesim.create_release(SOURCE, "v1.2.0", new, notes="c")
    forgesim.create_release(SOURCE, "v1.3.0", new, notes="not yet", draft=True)
    return forgesim, old, new


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_reader_lists_commits_oldest_first_and_releases_newest_first(
    source: tuple[ForgeSim, str, str], forge: str
) -> None:
    sim, old, new = source
    api = sim.github_api_url if forge == "github" else sim.gitlab_url
    reader = SourceReader(forge, api, sim.token)
    compared = reader.compare(SOURCE, old, new)
    assert [c.subject.splitlines()[0] for c in compared.commits] == [
        "feat: add a",
        "fix: b",
        "chore: c",
    ]
    assert compared.total == 3 and compared.commits[-1].sha == new
    assert all(c.url and c.sha in c.url for c in compared.commits)
    releases = reader.releases(SOURCE, 30)
    tags = [r.tag for r in releases if not r.draft]
    assert tags == ["v1.2.0", "v1.1.0", "v1.0.0"]
    one = next(r for r in releases if r.tag == "v1.1.0")
    assert (one.name, one.notes) == ("One one", "## Fixes\n- b") and one.url


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_reader_says_why_when_the_forge_cannot_answer(
    source: tuple[ForgeSim, str, str], forge: str
) -> None:
    sim, old, _ = source
    api = sim.github_api_url if forge == "github" else sim.gitlab_url
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        SourceReader(forge, api, sim.token).compare(SOURCE, old, "f" * 40)
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        SourceReader(forge, api, sim.token).releases("acme/nope", 5)
    sim.inject(503, r".*", times=1)
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        SourceReader(forge, api, sim.token).compare(SOURCE, old, old)
    with pytest.raises(SourceUnavailable, match="unreachable"):
        SourceReader(forge, "http://127.0.0.1:9", sim.token).releases(SOURCE, 5)


def test_gitlab_compare_and_releases_have_the_documented_fields(
    source: tuple[ForgeSim, str, str],
) -> None:
    sim, old, new = source
    api = Api(sim, "/api/v4", {"PRIVATE-TOKEN": sim.token})
    compared = api("GET", "/projects/acme%2Fapi/repository/compare", **{"from": old, "to": new})
    assert compared.status_code == 200
    body = compared.json()
    assert {"commit", "commits", "diffs", "compare_timeout", "compare_same_ref", "web_url"} <= set(
        body
    )
    assert body["commit"]["id"] == new and body["web_url"].endswith(f"/-/compare/{old}...{new}")
    releases = api("GET", "/projects/acme%2Fapi/releases").json()
    assert [r["tag_name"] for r in releases] == ["v1.2.0", "v1.1.0", "v1.0.0"]  # no draft
    assert {"tag_name", "name", "description", "released_at", "commit", "_links"} <= set(
        releases[0]
    )


def test_bodies_over_the_forges_limits_are_refused(github: Api, gitlab: Api) -> None:
    mr = {"source_branch": BRANCH, "target_branch": "main", "title": "Bump"}
    too_long = gitlab(
        "POST", "/projects/acme%2Fconfig/merge_requests", {**mr, "description": "x" * 1_048_577}
    )
    assert too_long.status_code == 400 and "description" in too_long.json()["message"]
    pr = {"head": f"acme:{BRANCH}", "base": "main", "title": "Bump", "body": "x" * 65_537}
    refused = github("POST", f"/repos/{REPO}/pulls", pr)
    assert refused.status_code == 422
    assert (
        refused.json()["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"
    )
    assert github("POST", f"/repos/{REPO}/pulls", {**pr, "body": "x" * 65_536}).status_code == 201


def test_a_commit_signed_by_a_known_ssh_key_is_verified(forgesim: ForgeSim, tmp_path: Path) -> None:
    forgesim.create_repo(REPO)
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    work = tmp_path / "work"
    subprocess.run(
        ["git", "clone", "-q", forgesim.clone_url(REPO, with_token=True), str(work)], check=True
    )
    config = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "Bot"), ("EMAIL", "bot@example.com"))
    }
    for args in (["-S", "-m", "signed"], ["-m", "unsigned"], ["-S", "-m", "other email"]):
        if args[-1] == "other email":
            env["GIT_COMMITTER_EMAIL"] = "mallory@example.com"
        command = ["git", "-C", str(work), *config, "commit", "-q", "--allow-empty", *args]
        subprocess.run(command, env=env, check=True)
    git(work, "push", "-q", "origin", "HEAD:main")
    api = Api(forgesim, "/api/v3", {"Authorization": f"token {forgesim.token}"})

    def verification(ref: str) -> dict[str, object]:
        commit: dict[str, object] = api("GET", f"/repos/{REPO}/commits/{ref}").json()["commit"]
        return commit["verification"]  # type: ignore[return-value]

    assert verification("main~1")["reason"] == "unsigned"
    assert verification("main~2") == {
        **verification("main~2"),
        "verified": False,
        "reason": "unknown_key",
    }
    gitlab = Api(forgesim, "/api/v4", {"PRIVATE-TOKEN": forgesim.token})
    signatures = "/projects/acme%2Fconfig/repository/commits/{}/signature"
    assert gitlab("GET", signatures.format("main~2")).json()["verification_status"] == "unknown_key"
    forgesim.add_signing_key("bot@example.com", key.with_suffix(".pub").read_text())
    assert verification("main~2")["verified"] is True
    assert verification("main~2")["reason"] == "valid"
    assert verification("main")["reason"] == "bad_email"  # the key is not mallory's
    # GitLab, "Get signature of a commit": the same verdicts in its words; unsigned is a 404
    unsigned = gitlab("GET", signatures.format("main~1"))
    assert (unsigned.status_code, unsigned.json()) == (
        404,
        {"message": "404 GPG Signature Not Found"},
    )
    assert gitlab("GET", signatures.format("main~2")).json() == {
        "signature_type": "SSH",
        "verification_status": "verified",
        "key": None,
        "commit_source": "gitaly",
    }
    assert gitlab("GET", signatures.format("main")).json()["verification_status"] == "other_user"
