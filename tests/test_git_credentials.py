"""A git token never reaches a process's argv, a URL, ``.git/config`` or a log line (issue 13,
items 11 and 12).

A URL with inline ``user:token@`` is refused where it is configured (bumper.yaml, the agent's
config), with a message that does not quote it. A token given the supported way (a credentials
file) reaches git only through its environment: a real clone, fetch and push against a git
smart-HTTP server that demands the token, with a ``git`` on PATH that records its argv.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bumper import configfile, gitrepo
from bumper.agent import config as agent_config
from bumper.agent import source
from bumper.errors import ConfigError
from tests.agent.configrepo import ConfigRepo
from tests.agent.githttp import GitHttp
from worker import remotes

TOKEN = "tok-5ecret-2b3c4d5e6f"
USER = "x-access-token"
SECRET_FORMS = (TOKEN, base64.b64encode(f"{USER}:{TOKEN}".encode()).decode())


@pytest.fixture
def argv_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every git command run from here on appends its argv (NUL-separated) to this file."""
    real = shutil.which("git")
    assert real is not None
    bin_dir, log = tmp_path / "bin", tmp_path / "git-argv.log"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\0" "$0" "$@" >> "{log}"\necho >> "{log}"\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log.touch()
    return log


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttp]:
    """``<url>/config.git``: a bare repo with a ``main`` branch, served only with TOKEN."""
    work = ConfigRepo(tmp_path / "seed")
    work.write("apps/api.yaml", "image: ghcr.io/acme/api:1.0.0\n")
    work.commit("seed")
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(work.path), str(served / "config.git")],
        check=True,
    )
    http = GitHttp(served, USER, TOKEN)
    yield http
    http.shutdown()
    http.server_close()


def bumper_yaml(tmp_path: Path, url: str) -> Path:
    (tmp_path / "token").write_text(TOKEN + "\n")
    path = tmp_path / "bumper.yaml"
    path.write_text(
        "apiVersion: bumper/v1\n"
        "repos:\n"
        f"  - {{name: config, forge: git, url: '{url}', credentials: {{file: token}}}}\n"
    )
    return path


def leaks(text: str) -> list[str]:
    return [form for form in SECRET_FORMS if form in text]


@pytest.mark.parametrize(
    "url",
    [
        f"http://{USER}:{TOKEN}@127.0.0.1:9/config.git",
        f"https://{TOKEN}@github.com/acme/config",
        f"ssh://git:{TOKEN}@example.com/config.git",
    ],
)
def test_a_repo_url_with_inline_credentials_is_refused_without_quoting_them(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        configfile.load(bumper_yaml(tmp_path, url))
    message = str(refused.value)
    assert "repos[0].url" in message and "inline" in message and "credentials" in message
    assert len(message.splitlines()) == 1 and leaks(message) == []
    with pytest.raises(ConfigError) as agent_refused:
        agent_config.load({"repo_url": url})
    message = str(agent_refused.value)
    assert "repo_url" in message and "git_token_file" in message and leaks(message) == []


def test_an_ssh_login_name_is_not_a_credential(tmp_path: Path) -> None:
    for url in ("git@github.com:acme/config.git", "ssh://git@example.com/config.git"):
        assert configfile.load(bumper_yaml(tmp_path, url)).repos[0].url == url
        assert agent_config.load({"repo_url": url}).repo_url == url


def test_no_bumper_yaml_puts_the_workers_token_on_a_command_line_or_in_git_config(
    tmp_path: Path, server: GitHttp, argv_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The token as a credentials file, and inline in the URL: the second is refused before
    any git runs (it used to reach ``git clone``'s argv and ``.git/config``)."""
    caplog.set_level(logging.DEBUG)
    inline = server.url.replace("://", f"://{USER}:{TOKEN}@")
    stored: list[str] = []

    def edit(checkout: gitrepo.Checkout) -> str:
        checkout.path("apps/api.yaml").write_text("image: ghcr.io/acme/api:1.1.0\n")
        stored.extend(p.read_text() for p in (tmp_path / "cache").rglob("config"))
        return "bump api to 1.1.0"

    published = []
    for url in (f"{server.url}/config.git", f"{inline}/config.git"):
        try:
            repo = configfile.load(bumper_yaml(tmp_path, url)).repos[0]
        except ConfigError:
            continue
        cache = gitrepo.RepoCache(tmp_path / "cache")
        credentials = remotes.credentials(repo, tmp_path)
        with cache.checkout(remotes.clone_url(repo, tmp_path), "main", credentials) as checkout:
            published.append(checkout.publish(base="main", edit=edit))
    assert published and published[0] is not None and published[0].pushed
    assert f"Basic {SECRET_FORMS[1]}" in server.seen_auth  # the token was used
    assert stored and leaks("".join(stored)) == [], ".git/config holds the token"
    assert leaks(argv_log.read_text()) == [], "a git command line holds the token"
    assert "clone" in argv_log.read_text() and "push" in argv_log.read_text()
    assert leaks(caplog.text) == []


def test_no_agent_config_puts_its_tokens_on_a_command_line_or_in_git_config(
    tmp_path: Path, server: GitHttp, argv_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent's read token as a file, and inline in ``repo_url`` (refused); the forge token
    that pushes a revert, passed by the agent's runner."""
    caplog.set_level(logging.DEBUG)
    (tmp_path / "token").write_text(TOKEN + "\n")
    inline = server.url.replace("://", f"://{USER}:{TOKEN}@")
    fetched = []
    for url in (f"{server.url}/config.git", f"{inline}/config.git"):
        try:
            cfg = agent_config.load({"repo_url": url, "git_token_file": tmp_path / "token"})
        except ConfigError:
            continue
        auth = source.GitAuth(token_file=cfg.git_token_file)
        src = source.GitSource(cfg.repo_url, cfg.branch, tmp_path / "agent", auth=auth)
        head = src.fetch()
        src.push_revert(head, head, "main", "revert", token=TOKEN)  # the forge token pushes
        fetched.append(src.fetch() != head)
    stored = "".join(p.read_text() for p in (tmp_path / "agent").rglob("config"))
    assert stored and leaks(stored) == [], ".git/config holds the token"
    assert leaks(argv_log.read_text()) == [], "a git command line holds the token"
    assert fetched == [True] and "push" in argv_log.read_text()
    assert leaks(caplog.text) == []
