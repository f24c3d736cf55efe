"""``bumper check-config`` with the repos reachable: the weak-auth warning, a target file that
does not hold its rule's image (a local repo), and a remote repo cloned over HTTP with the
configured credentials (the forge simulator's git smart HTTP, which refuses a wrong token).
The tests of the file's own rules, offline, are in tests/cli/test_check_config.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import cli
from tests.support.forgesim import ForgeSim
from tests.support.hello_config import HELLO_RULE, commit_hello

SECRET = "a-webhook-secret-of-32-characters"


def check(path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = cli.main(["check-config", *flags, str(path)])
    out, err = capsys.readouterr()
    return code, out, err.replace(str(path), "F")


LOCAL = "apiVersion: bumper/v1\nrepos:\n  - {name: config, forge: git, url: ./config-repo}\n"


@pytest.mark.parametrize("sender", ["dockerhub", "quay"])
def test_a_sender_with_only_a_url_token_is_a_warning_not_an_error(
    sender: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECK_TEST_SECRET", SECRET)
    path = tmp_path / "bumper.yaml"
    path.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        f"  - name: hub\n    type: {sender}\n    secret: {{env: CHECK_TEST_SECRET}}\n"
        "  - name: signed\n    type: github\n    secret: {env: CHECK_TEST_SECRET}\n"
    )
    code, out, err = check(path, capsys, "--offline")
    assert code == 0 and "valid" in out, err
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert warnings == [
        f"F:4: receivers[0].type: warning: receiver 'hub': {sender} can only send its secret as "
        "a token in the URL, which proxies and access logs may record; keep the URL private, "
        "rotate the token if it leaks, and prefer a signing sender where the registry offers one"
    ]
    assert SECRET not in out + err


def test_a_target_file_that_does_not_hold_the_image_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_hello(tmp_path / "config-repo", "image: registry.example.com/acme/other:1.0.0\n")
    path = tmp_path / "bumper.yaml"
    path.write_text(LOCAL + HELLO_RULE)
    code, out, err = check(path, capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "F:10: images[0].targets[0].paths: none of the 1 file(s) matching apps/hello.yaml in "
        "repo 'config' (branch main) holds registry.example.com/acme/hello: fix the paths, or "
        "write the image there once by hand",
        "F: 1 error",
    ]
    # the same repo once it holds the image passes
    commit_hello(tmp_path / "config-repo", "image: registry.example.com/acme/hello:1.0.0\n")
    code, out, err = check(path, capsys)
    assert (code, err) == (0, "") and "valid" in out


def remote_config(tmp_path: Path, sim: ForgeSim, token: str) -> Path:
    (tmp_path / "forge-token").write_text(token + "\n")
    path = tmp_path / "bumper.yaml"
    path.write_text(
        "apiVersion: bumper/v1\nrepos:\n  - name: config\n    forge: github\n"
        f"    url: {sim.clone_url('acme/config')}\n    api_url: {sim.github_api_url}\n"
        "    credentials: {file: forge-token}\n" + HELLO_RULE.replace("mode: commit", "mode: pr")
    )
    return path


def test_a_remote_repo_is_cloned_with_the_configured_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forgesim: ForgeSim
) -> None:
    forgesim.create_repo(
        "acme/config", {"apps/hello.yaml": "image: registry.example.com/acme/hello:1.0.0\n"}
    )
    code, out, err = check(remote_config(tmp_path, forgesim, forgesim.token), capsys)
    assert (code, err) == (0, "") and "valid" in out
    # the simulator refuses git without a valid token: this clone sent the configured one
    assert 200 in [r.status for r in forgesim.requests(path=r"/info/refs$")]
    assert forgesim.token not in out


def test_a_remote_repo_it_cannot_read_is_one_error_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forgesim: ForgeSim
) -> None:
    forgesim.create_repo("acme/config", {"apps/hello.yaml": "image: x\n"})
    wrong = "a-wrong-token-0123456789"
    code, out, err = check(remote_config(tmp_path, forgesim, wrong), capsys)
    assert (code, out) == (2, "")
    [problem, total] = err.splitlines()
    assert problem.startswith("F:5: repos[0].url: cannot read repo 'config' (branch main): ")
    assert problem.endswith(
        ": fix url, branch or credentials, or run 'bumper check-config --offline' to skip "
        "this check"
    )
    assert total == "F: 1 error"
    assert wrong not in err and "Traceback" not in err
    assert [r.status for r in forgesim.requests(path=r"/info/refs$")][-1] == 401
    # --offline skips the clone and says so
    code, out, err = check(tmp_path / "bumper.yaml", capsys, "--offline")
    assert code == 0 and err == "F: offline: target files not checked (no repo cloned)\n"
