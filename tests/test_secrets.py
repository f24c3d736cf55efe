"""``bumper.secrets``: one base for relative paths, the old current-directory reading with a
warning for one release, and errors that name where a secret was looked for, never its value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bumper import secrets
from bumper.core.config import BumperConfig, SecretRef
from bumper.errors import ConfigError
from bumper.web import receivers

VALUE = "s3cr3t-value-never-shown"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    secrets._warned.clear()


def test_env_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BUMPER_TEST_SECRET", VALUE)
    assert secrets.resolve(SecretRef(env="BUMPER_TEST_SECRET"), base=tmp_path) == VALUE
    monkeypatch.setenv("BUMPER_TEST_SECRET", "")
    with pytest.raises(ConfigError, match="environment variable BUMPER_TEST_SECRET is not set"):
        secrets.resolve(SecretRef(env="BUMPER_TEST_SECRET"), base=tmp_path)


def test_relative_file_is_relative_to_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config_dir, elsewhere = tmp_path / "config", tmp_path / "cwd"
    (config_dir / "keys").mkdir(parents=True)
    elsewhere.mkdir()
    (config_dir / "keys" / "hook").write_text(VALUE + "\r\n")
    (elsewhere / "keys").mkdir()
    (elsewhere / "keys" / "hook").write_text("the-old-reading")
    monkeypatch.chdir(elsewhere)
    ref = SecretRef(file="keys/hook")
    assert secrets.resolve(ref, base=config_dir) == VALUE  # the config dir wins, trailing CRLF cut
    assert caplog.records == []


def test_a_path_only_the_old_reading_finds_works_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (tmp_path / "hook").write_text(VALUE + "\n")
    monkeypatch.chdir(tmp_path)
    ref = SecretRef(file="hook")
    assert secrets.resolve(ref, base=config_dir) == VALUE
    assert secrets.resolve(ref, base=config_dir) == VALUE
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per process, though a worker resolves it on every job
    message = warnings[0].getMessage()
    assert "hook" in message and str(config_dir) in message and "deprecated" in message
    assert "\n" not in message and VALUE not in message


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_and_missing_files_are_config_errors_naming_the_file(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "empty").write_text(content)
    with pytest.raises(ConfigError, match="the secret file .*empty is empty"):
        secrets.resolve(SecretRef(file="empty"), base=tmp_path)
    with pytest.raises(ConfigError, match="cannot read the forge token file .*absent"):
        secrets.read_file(tmp_path / "absent", "forge token")


def test_an_error_never_holds_the_value(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff" + VALUE.encode())
    with pytest.raises(ConfigError) as caught:
        secrets.read_file(binary)
    assert VALUE not in str(caught.value) and "not UTF-8" in str(caught.value)


def _config(secret_file: str) -> BumperConfig:
    receiver = {"name": "gh", "type": "github", "secret": {"file": secret_file}}
    return BumperConfig.model_validate({"apiVersion": "bumper/v1", "receivers": [receiver]})


def test_receivers_resolve_file_secrets_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliberate change: receivers used to read a relative ``file:`` from the CWD."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hook").write_text(VALUE + "\n")
    monkeypatch.chdir(tmp_path)
    loaded = receivers.load_receivers(_config("hook"), base=tmp_path / "config")
    assert loaded["gh"].secret == VALUE


def test_receivers_still_read_the_old_location_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "hook").write_text(VALUE + "\n")
    monkeypatch.chdir(tmp_path)
    loaded = receivers.load_receivers(_config("hook"), base=tmp_path / "config")
    assert loaded["gh"].secret == VALUE
    assert [r.name for r in caplog.records if r.levelno == logging.WARNING] == ["bumper.secrets"]


def test_a_receiver_error_names_the_receiver_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"receiver 'gh': cannot read the secret file .*nope"):
        receivers.load_receivers(_config("nope"), base=tmp_path)
