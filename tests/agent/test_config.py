"""Configuration precedence: flags > BUMPER_AGENT__* env > the YAML file (the chart's ConfigMap);
the old BUMPER_AGENT_* names for one release; the file's relative paths are relative to it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bumper import settings
from bumper.agent import config
from bumper.errors import ConfigError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "agent.yaml"
    file.write_text("repo_url: https://git.example/cfg\nbranch: file\ninterval: 5\npaths: [a]\n")
    monkeypatch.setenv("BUMPER_AGENT__BRANCH", "env")
    monkeypatch.setenv("BUMPER_AGENT__INTERVAL", "6")
    cfg = config.load({"interval": 7.0, "branch": None}, file)
    assert (cfg.repo_url, cfg.branch, cfg.interval, cfg.paths) == (
        "https://git.example/cfg",
        "env",
        7.0,
        ["a"],
    )


def test_errors_are_one_line_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repo_url"):
        config.load({})
    bad = tmp_path / "agent.yaml"
    bad.write_text("repo_url: x\nunknown_key: 1\n")
    with pytest.raises(ConfigError, match="unknown_key"):
        config.load({}, bad)
    with pytest.raises(ConfigError, match="forge"):
        config.load({"repo_url": "x", "forge": "github"})


def test_old_env_names_work_for_one_release_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings._warned.clear()
    monkeypatch.setenv("BUMPER_AGENT_REPO_URL", "https://git.example/old")
    monkeypatch.setenv("BUMPER_AGENT_BRANCH", "old")
    monkeypatch.setenv("BUMPER_AGENT__BRANCH", "new")  # the new name wins over the old one
    cfg = config.load({})
    assert (cfg.repo_url, cfg.branch) == ("https://git.example/old", "new")
    config.load({})
    warned = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warned == [
        "BUMPER_AGENT_BRANCH is deprecated and will be ignored in the next release: "
        "use BUMPER_AGENT__BRANCH",
        "BUMPER_AGENT_REPO_URL is deprecated and will be ignored in the next release: "
        "use BUMPER_AGENT__REPO_URL",
    ]


def test_new_env_names_need_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BUMPER_AGENT__REPO_URL", "https://git.example/new")
    monkeypatch.setenv("BUMPER_AGENT__PATHS", '["a", "b"]')
    cfg = config.load({})
    assert (cfg.repo_url, cfg.paths) == ("https://git.example/new", ["a", "b"])
    assert caplog.records == []


def test_relative_paths_in_the_file_are_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    file = tmp_path / "etc" / "agent.yaml"
    file.write_text("repo_url: x\nforge_token_file: forge-token\nca_file: /abs/ca.crt\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = config.load({"webhook_secret_file": Path("hook")}, file)
    assert cfg.forge_token_file == tmp_path / "etc" / "forge-token"
    assert cfg.ca_file == Path("/abs/ca.crt")
    assert cfg.webhook_secret_file == Path("hook")  # a flag's path is the shell's: CWD-relative
