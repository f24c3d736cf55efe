"""git smart HTTP of the simulator: token auth, real clone/push, chunked uploads, faults."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

from tests.forgesim.conftest import BRANCH, REPO, Api
from tests.support.forgesim import ForgeSim

ENV = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=check)


def with_token(sim: ForgeSim, token: str) -> str:
    return sim.clone_url(REPO).replace("http://", f"http://x-access-token:{token}@")


def test_clone_needs_a_valid_token(populated: ForgeSim, tmp_path: Path) -> None:
    assert git(tmp_path, "clone", "-q", populated.clone_url(REPO), "a", check=False).returncode
    assert git(tmp_path, "clone", "-q", with_token(populated, "wrong"), "b", check=False).returncode
    git(tmp_path, "clone", "-q", with_token(populated, populated.token), "c")
    assert (tmp_path / "c/apps/api.yaml").read_text() == "image: api:1.0\n"
    statuses = [r.status for r in populated.requests(path=r"/info/refs$")]
    assert 401 in statuses and 200 in statuses


def test_push_moves_the_branch_and_the_pr_head(
    github: Api, populated: ForgeSim, tmp_path: Path
) -> None:
    pr = github("POST", "/repos/acme/config/pulls", {"head": BRANCH, "base": "main", "title": "t"})
    git(tmp_path, "clone", "-q", "-b", BRANCH, with_token(populated, populated.token), "w")
    (tmp_path / "w/apps/api.yaml").write_text("image: api:1.2\n")
    git(tmp_path / "w", "commit", "-qam", "bump again")
    git(tmp_path / "w", "push", "-q", "origin", BRANCH)
    pushed = git(tmp_path / "w", "rev-parse", "HEAD").stdout.strip()
    assert populated.repo(REPO).git.sha(BRANCH) == pushed
    after = github("GET", f"/repos/acme/config/pulls/{pr.json()['number']}").json()
    assert after["head"]["sha"] == pushed


def test_large_push_uses_chunked_upload(populated: ForgeSim, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", with_token(populated, populated.token), "w")
    (tmp_path / "w/blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # > http.postBuffer
    git(tmp_path / "w", "add", "blob.bin")
    git(tmp_path / "w", "commit", "-qm", "big")
    git(tmp_path / "w", "push", "-q", "origin", "HEAD:refs/heads/big")
    assert (
        populated.repo(REPO).git.sha("big")
        == git(tmp_path / "w", "rev-parse", "HEAD").stdout.strip()
    )


def test_injected_5xx_fails_one_push(populated: ForgeSim, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", with_token(populated, populated.token), "w")
    (tmp_path / "w/x.txt").write_text("x\n")
    git(tmp_path / "w", "add", "x.txt")
    git(tmp_path / "w", "commit", "-qm", "x")
    populated.inject(503, r"^POST /acme/config\.git/git-receive-pack$")
    failed = git(tmp_path / "w", "push", "-q", "origin", "HEAD:main", check=False)
    assert failed.returncode != 0 and "503" in failed.stderr
    git(tmp_path / "w", "push", "-q", "origin", "HEAD:main")
    assert populated.repo(REPO).git.read_file("main", "x.txt") == "x\n"


def test_unknown_repository_is_404(populated: ForgeSim, tmp_path: Path) -> None:
    url = with_token(populated, populated.token).replace("config", "nope")
    result = git(tmp_path, "clone", "-q", url, "w", check=False)
    assert result.returncode != 0


def test_smart_http_advertisement(populated: ForgeSim) -> None:
    path = "/acme/config.git/info/refs?service=git-upload-pack"
    response = requests.get(populated.url + path, auth=("u", populated.token), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
