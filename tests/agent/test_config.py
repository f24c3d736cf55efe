"""Configuration precedence: flags > BUMPER_AGENT_* env > the YAML file (the chart's ConfigMap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper.agent import config
from bumper.errors import ConfigError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "agent.yaml"
    file.write_text("repo_url: https://git.example/cfg\nbranch: file\ninterval: 5\npaths: [a]\n")
    monkeypatch.setenv("BUMPER_AGENT_BRANCH", "env")
    monkeypatch.setenv("BUMPER_AGENT_INTERVAL", "6")
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
