"""Weak receiver secrets stop the web process at start (issue 13, item 11): blank,
whitespace-only and short (under 16 bytes) secrets, with a one-line error naming the receiver
and where the secret was read, never its value. ``create_app`` is what gunicorn preloads:
tests/web/test_gunicorn.py shows that its ``ConfigError`` stops gunicorn before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import create_app
from tests.web.conftest import config_for

SHORT = "only-15-bytes!!"


def test_a_whitespace_only_secret_stops_the_app(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "harbor-secret"
    path.write_text("   \t \n")
    config = config_for(
        [
            {
                "name": "hb",
                "type": "harbor",
                "registry": "harbor.example.com",
                "secret": {"file": str(path)},
            }
        ]
    )
    with pytest.raises(ConfigError) as caught:
        create_app(settings, config)
    assert str(caught.value) == (
        f"receiver 'hb' (secret from file {path}): the receiver secret is empty or blank"
    )


def test_a_short_secret_stops_the_app_naming_its_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUMPER_TEST_SHORT_SECRET", SHORT)
    config = config_for(
        [{"name": "gh", "type": "github", "secret": {"env": "BUMPER_TEST_SHORT_SECRET"}}]
    )
    with pytest.raises(ConfigError) as caught:
        create_app(settings, config)
    message = str(caught.value)
    assert message.startswith(
        "receiver 'gh' (secret from environment variable BUMPER_TEST_SHORT_SECRET): "
        "the receiver secret is too short: 15 bytes, at least 16 are required"
    )
    assert SHORT not in message and "\n" not in message
