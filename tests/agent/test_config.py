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


def test_redis_url_is_gone_with_a_pointer_to_its_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, finding 8: the agent reports over the web's API; it holds no Redis URL."""
    assert "redis_url" not in config.AgentConfig.model_fields
    old = tmp_path / "agent.yaml"
    old.write_text("repo_url: https://git.example/cfg\nredis_url: redis://:pw@redis:6379/0\n")
    with pytest.raises(ConfigError, match=r"redis_url is no longer supported.*report_url") as err:
        config.load({}, old)
    assert "pw@" not in str(err.value) and "\n" not in str(err.value)
    for name in ("BUMPER_AGENT__REDIS_URL", "BUMPER_AGENT_REDIS_URL"):
        with monkeypatch.context() as env:
            env.setenv(name, "redis://redis:6379/0")
            with pytest.raises(ConfigError, match="redis_url is no longer supported"):
                config.load({"repo_url": "https://git.example/cfg"})


def test_report_url_needs_its_token_file_and_no_inline_credentials(tmp_path: Path) -> None:
    base = {"repo_url": "https://git.example/cfg"}
    with pytest.raises(ConfigError, match="report_url and report_token_file go together"):
        config.load({**base, "report_url": "https://bumper.example"})
    token = tmp_path / "token"
    with pytest.raises(ConfigError, match="report_url.*inline") as refused:
        config.load(
            {**base, "report_url": "https://u:hunter2@bumper.example", "report_token_file": token}
        )
    assert "hunter2" not in str(refused.value)
    file = tmp_path / "agent.yaml"
    file.write_text("repo_url: x\nreport_url: http://bumper-web:8000\nreport_token_file: tok\n")
    cfg = config.load({}, file)
    assert cfg.report_token_file == tmp_path / "tok"  # relative to the config file


def test_a_short_webhook_secret_stops_the_agent_without_showing_it(tmp_path: Path) -> None:
    """Issue 13, finding 11: the agent's own shared secrets have the receivers' 16-byte floor."""
    from bumper.agent import main

    short = tmp_path / "hook"
    short.write_text("s3cret-15-bytes\n")
    with pytest.raises(ConfigError) as refused:
        main._shared_secret(short, "webhook secret")
    message = str(refused.value)
    assert "too short: 15 bytes, at least 16" in message and str(short) in message
    assert "s3cret" not in message.replace(str(short), "") and "\n" not in message
    short.write_text("   \n")
    with pytest.raises(ConfigError, match="empty or blank"):
        main._shared_secret(short, "webhook secret")
    short.write_text("sixteen-bytes-ok\n")
    assert main._shared_secret(short, "webhook secret") == "sixteen-bytes-ok"
    assert main._shared_secret(None, "webhook secret") is None
