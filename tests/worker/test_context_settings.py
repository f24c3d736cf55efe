"""worker.context: the settings are parsed again only when a BUMPER_* variable changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import settings
from worker import context


def test_settings_are_parsed_once_until_a_bumper_variable_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\nimages: []\n")
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    parsed = []
    real_load = settings.load

    def counting_load() -> settings.Settings:
        parsed.append(1)
        return real_load()

    monkeypatch.setattr(settings, "load", counting_load)
    context.current.cache_clear()
    try:
        first = context.current()
        assert context.current() is first
        assert len(parsed) == 1
        monkeypatch.setenv("UNRELATED", "1")
        assert context.current() is first
        assert len(parsed) == 1
        monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "0.25")
        changed = context.current()
        assert changed is not first
        assert changed.settings.coalesce_seconds == 0.25
        assert len(parsed) == 2
    finally:
        context.current.cache_clear()
