"""Git source over SSH with a deploy key: real OpenSSH client and git against a real SSH server.

The server (tests/support/ssh_git_server.py) runs the real ``git-upload-pack``. The client is
/usr/bin/ssh as the product invokes it (``GIT_SSH_COMMAND``, which passes ``-F /dev/null``). A
shim on PATH puts ``-F <tmp config>`` before the product's options: it stands for a user's
~/.ssh/config, which the product must ignore (the last ``-F`` wins), and keeps a product that
forgot ``-F /dev/null`` away from the real ~/.ssh (ssh takes ``~`` from passwd, not ``$HOME``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from bumper.agent import source
from bumper.errors import TransientError
from tests.agent.configrepo import ConfigRepo
from tests.agent.test_source import keypair
from tests.support.ssh_git_server import SshGitServer


@dataclass
class Served:
    server: SshGitServer
    repo: ConfigRepo  # the working copy commits are made in
    bare: Path  # what the server serves; pushed to from ``repo``
    deploy: Path  # authorized private key
    stranger: Path  # a private key the server does not know
    tmp: Path

    def commit(self, name: str) -> str:
        self.repo.write(name, f"{name}: 1\n")
        sha = self.repo.commit(name)
        self.repo.push(str(self.bare))
        return sha

    def source(self, key: Path, known_hosts: Path | None, cache: str = "cache") -> source.GitSource:
        return source.GitSource(
            url=self.server.url("cfg.git"),
            branch="main",
            cache=self.tmp / cache,
            auth=source.GitAuth(ssh_key_file=key, ssh_known_hosts=known_hosts),
        )

    def known_hosts(self, line: str) -> Path:
        path = self.tmp / "known_hosts"
        path.write_text(line)
        return path


# Resolved once, before any test puts its shim first on PATH.
REAL_SSH = shutil.which("ssh")


def ssh_defaults(tmp: Path, user_known_hosts: Path) -> None:
    """The config the shim hands ssh in place of ~/.ssh/config and /etc/ssh/ssh_config."""
    (tmp / "ssh_config").write_text(
        f"UserKnownHostsFile {user_known_hosts}\n"  # where accept-new records host keys
        "GlobalKnownHostsFile /dev/null\n"
    )


def ssh_shim(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put an ``ssh`` first on PATH that runs the real client with ``-F <tmp>/ssh_config``."""
    assert REAL_SSH, "the OpenSSH client (ssh) is required"
    shim = tmp / "bin" / "ssh"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {Path(REAL_SSH).resolve()} -F {tmp / "ssh_config"} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no agent keys, only the deploy key
    ssh_shim(tmp_path, monkeypatch)
    ssh_defaults(tmp_path, tmp_path / "default_known_hosts")
    repo = ConfigRepo(tmp_path / "work")
    bare = tmp_path / "serve" / "cfg.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    deploy, stranger = keypair(tmp_path, "deploy"), keypair(tmp_path, "stranger")
    server = SshGitServer(tmp_path / "serve", [Path(f"{deploy}.pub")])
    try:
        yield Served(server, repo, bare, deploy, stranger, tmp_path)
    finally:
        server.close()


def refs(src: source.GitSource) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(src.mirror), "for-each-ref"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def assert_no_secret(error: BaseException, key: Path) -> None:
    message = str(error)
    body = [ln for ln in key.read_text().splitlines() if not ln.startswith("-----")]
    assert body and not [ln for ln in body if ln in message], "private key text in the error"


def test_deploy_key_fetches_the_branch_then_only_what_is_new(served: Served) -> None:
    first = served.commit("a.yaml")
    known_hosts = served.known_hosts(served.server.known_hosts_line())
    src = served.source(served.deploy, known_hosts)
    assert src.fetch() == first
    second = served.commit("b.yaml")
    assert src.fetch() == second
    assert src.has(first)
    out = src.export(second, served.tmp / "out")
    assert sorted(p.name for p in out.iterdir()) == ["a.yaml", "b.yaml"]
    assert served.server.commands == ["git-upload-pack '/cfg.git'"] * 2
    # Strict checking reads the given file and writes nothing anywhere.
    assert known_hosts.read_text() == served.server.known_hosts_line()
    assert not (served.tmp / "default_known_hosts").exists()


def test_unauthorized_key_fails_clearly_and_fetches_nothing(served: Served) -> None:
    first = served.commit("a.yaml")
    known_hosts = served.known_hosts(served.server.known_hosts_line())
    fresh = served.source(served.stranger, known_hosts, cache="fresh")
    with pytest.raises(TransientError) as caught:
        fresh.fetch()
    assert caught.value.reason == "git"
    assert "git fetch failed" in str(caught.value)
    assert "Permission denied (publickey)" in str(caught.value)
    assert_no_secret(caught.value, served.stranger)
    assert refs(fresh) == "" and not fresh.has(first)

    # A mirror that already has the branch keeps its old tip when a later fetch is refused.
    good = served.source(served.deploy, known_hosts, cache="shared")
    assert good.fetch() == first
    second = served.commit("b.yaml")
    refused = served.source(served.stranger, known_hosts, cache="shared")
    with pytest.raises(TransientError, match=r"Permission denied \(publickey\)"):
        refused.fetch()
    assert refs(refused).split()[0] == first
    assert not refused.has(second)
    assert not [p for p in refused.mirror.rglob("*") if p.name.endswith(".lock")]
    assert served.server.commands == ["git-upload-pack '/cfg.git'"]  # only the deploy key's


def test_known_hosts_with_another_host_key_refuses_the_server(served: Served) -> None:
    first = served.commit("a.yaml")
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh")
    line = f"[127.0.0.1]:{served.server.port} {impostor.decode().strip()}\n"
    src = served.source(served.deploy, served.known_hosts(line))
    with pytest.raises(TransientError) as caught:
        src.fetch()
    assert "Host key verification failed" in str(caught.value)
    assert_no_secret(caught.value, served.deploy)
    assert refs(src) == "" and not src.has(first)
    assert served.server.commands == []  # ssh hung up before authenticating or running git


def swap_host_key(served: Served) -> None:
    """Replace the server by one with a new host key on the same address (a man in the middle)."""
    port = served.server.port
    served.server.close()
    served.server = SshGitServer(served.bare.parent, [Path(f"{served.deploy}.pub")], port=port)


def test_without_known_hosts_the_first_host_key_is_trusted_and_remembered(
    served: Served,
) -> None:
    """The product's default without ``ssh_known_hosts``: StrictHostKeyChecking=accept-new.

    Trust on first use: whatever key answers first is accepted and kept in the source's cache
    dir (not the home directory, which may be read-only); a later change of key is refused.
    """
    first = served.commit("a.yaml")
    src = served.source(served.deploy, None)
    assert src.fetch() == first
    remembered = (src.cache / "known_hosts").read_text()
    assert served.server.host_public_key in remembered
    assert not (served.tmp / "default_known_hosts").exists()
    swap_host_key(served)
    with pytest.raises(TransientError, match="Host key verification failed"):
        src.fetch()


def test_the_users_ssh_config_is_not_read(served: Served) -> None:
    """A ~/.ssh/config (here the shim's ``-F`` file) cannot redirect or break the fetch."""
    (served.tmp / "ssh_config").write_text("ProxyCommand /bin/false\nPort 1\n")
    known_hosts = served.known_hosts(served.server.known_hosts_line())
    first = served.commit("a.yaml")
    assert served.source(served.deploy, known_hosts).fetch() == first


def test_server_runs_nothing_but_git_on_served_repos(served: Served) -> None:
    """The support server itself: other commands and paths outside its root are refused."""
    known_hosts = served.known_hosts(served.server.known_hosts_line())
    ssh = ["ssh", "-i", str(served.deploy), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    ssh += ["-o", f"UserKnownHostsFile={known_hosts}", "-p", str(served.server.port)]
    for command in ("cat /etc/passwd", "git-upload-pack '/../work'", "git-upload-pack '/'"):
        done = subprocess.run(
            [*ssh, "git@127.0.0.1", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (done.returncode, "refused" in done.stderr) == (128, True), done.stderr
    assert len(served.server.commands) == 3


def test_the_agent_warns_once_when_ssh_has_no_known_hosts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bumper.agent.config import AgentConfig
    from bumper.agent.main import build

    key = tmp_path / "deploy-key"
    key.write_text("not read at start\n")
    token = tmp_path / "token"
    token.write_text("kube-token\n")
    common: dict[str, Any] = {
        "repo_url": "ssh://git@127.0.0.1:1/repo.git",
        "server": "https://127.0.0.1:1",
        "token_file": token,
    }
    with caplog.at_level(logging.WARNING, logger="bumper.agent"):
        build(AgentConfig(**common, ssh_key_file=key, cache_dir=tmp_path / "a"))
    warned = [r.getMessage() for r in caplog.records if "ssh_known_hosts" in r.getMessage()]
    assert len(warned) == 1 and "not verified" in warned[0]
    caplog.clear()
    hosts = tmp_path / "known_hosts"
    hosts.write_text("")
    with caplog.at_level(logging.WARNING, logger="bumper.agent"):
        build(
            AgentConfig(**common, ssh_key_file=key, ssh_known_hosts=hosts, cache_dir=tmp_path / "b")
        )
    assert not [r for r in caplog.records if "ssh_known_hosts" in r.getMessage()]
