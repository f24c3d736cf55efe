"""Commit statuses and revert pull requests against the forge simulator (real git over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

from bumper.agent import forge, source
from tests.support.forgesim import ForgeSim


def test_commit_status_and_revert_pull_request(forgesim: ForgeSim, tmp_path: Path) -> None:
    forgesim.create_repo("acme/config", {"app.yaml": "image: app:1.0\n"})
    good = forgesim.repo("acme/config").git.sha("main")
    assert good is not None
    bad = forgesim.commit_files("acme/config", "main", {"app.yaml": "image: app:2.0\n"}, "bump")
    token = tmp_path / "token"
    token.write_text(forgesim.token)
    src = source.GitSource(
        url=forgesim.clone_url("acme/config"),
        branch="main",
        cache=tmp_path / "cache",
        auth=source.GitAuth(token_file=token),
    )
    assert src.fetch() == bad
    client = forge.Forge(
        kind="github", api_url=forgesim.github_api_url, repo="acme/config", token=forgesim.token
    )
    assert client.commit_status(bad, "failure", "rolled back: web not ready")
    repo = forgesim.repo("acme/config")
    assert [(s.sha, s.state, s.context) for s in repo.statuses] == [
        (bad, "failure", "bumper-agent")
    ]
    src.push_revert(bad, good, "bumper/revert-x", "Revert to good", forgesim.token)
    reason = "web: not ready\n\n## pod message from the cluster"
    url = client.open_revert(bad, good, "bumper/revert-x", reason)
    assert url
    (change,) = repo.changes.values()
    assert (change.head, change.base, change.state) == ("bumper/revert-x", "main", "open")
    # the cluster's words are quoted on one line: no Markdown block of theirs in the PR
    assert change.body.endswith("healthy:\n\nweb: not ready ## pod message from the cluster\n")
    assert repo.git.read_file("bumper/revert-x", "app.yaml") == "image: app:1.0\n"
    assert repo.git.is_ancestor(bad, repo.git.sha("bumper/revert-x") or "")


def test_gitlab_status_and_merge_request(forgesim: ForgeSim, tmp_path: Path) -> None:
    forgesim.create_repo("group/config", {"app.yaml": "image: app:1.0\n"})
    repo = forgesim.repo("group/config")
    good = repo.git.sha("main")
    assert good is not None
    bad = forgesim.commit_files("group/config", "main", {"app.yaml": "image: app:2.0\n"}, "bump")
    client = forge.Forge(
        kind="gitlab",
        api_url=forgesim.gitlab_url + "/api/v4",
        repo="group/config",
        token=forgesim.token,
    )
    assert client.commit_status(bad, "pending", "waiting for the rollout")
    assert client.commit_status(bad, "failure", "rolled back")
    sent = [json.loads(r.body) for r in forgesim.requests("POST") if "/statuses/" in r.path]
    assert [(b["state"], b["name"]) for b in sent] == [
        ("running", "bumper-agent"),
        ("failed", "bumper-agent"),
    ]
    assert [s.sha for s in repo.statuses] == [bad, bad]
    src = source.GitSource(
        url=forgesim.clone_url("group/config"),
        branch="main",
        cache=tmp_path / "cache",
        auth=source.GitAuth(token_file=_token(tmp_path, forgesim.token), username="oauth2"),
    )
    src.fetch()
    src.push_revert(bad, good, "bumper/revert-y", "Revert to good", forgesim.token)
    assert client.open_revert(bad, good, "bumper/revert-y", "web: not ready")
    (change,) = repo.changes.values()
    assert (change.head, change.base) == ("bumper/revert-y", "main")
    assert repo.git.read_file("bumper/revert-y", "app.yaml") == "image: app:1.0\n"


def _token(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "token"
    path.write_text(value)
    return path


def test_forge_outage_never_raises(tmp_path: Path) -> None:
    client = forge.Forge(kind="gitlab", api_url="http://127.0.0.1:9", repo="g/p", token="t")
    assert client.commit_status("a" * 40, "success", "ok") is False
    assert client.open_revert("a" * 40, "b" * 40, "br", "why") is None
