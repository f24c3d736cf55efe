"""One settings path: one environment-variable scheme, old names for one release with a warning,
one generated table (docs/settings.md), and no other module reading settings from os.environ."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from bumper import settings, settingsdoc
from bumper.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# Modules that may touch os.environ, and why: none of them reads a Bumper setting.
ENVIRON_ALLOWED = {
    "bumper/secrets.py": "{env: NAME} secrets named in bumper.yaml",
    "bumper/settings.py": "the settings' own fingerprint of BUMPER_* (a parsed copy kept)",
    "bumper/agent/kube.py": "Kubernetes' in-cluster discovery (KUBERNETES_SERVICE_HOST)",
    "bumper/agent/render.py": "the environment passed on to helm / kustomize",
    "bumper/agent/source.py": "the environment passed on to git",
    "bumper/gitrepo.py": "the environment passed on to git",
    "bumper/quickstart.py": "the environment passed on to the processes it starts",
    "bumper/web/gunicorn_conf.py": "prometheus_client's PROMETHEUS_MULTIPROC_DIR",
    "bumper/web/serving.py": "gunicorn's SCRIPT_NAME (a mounted app: its parser maps paths)",
    "worker/signing.py": "the environment passed on to gpg",
}


def test_docs_table_matches_the_models() -> None:
    written = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert written == settingsdoc.markdown(), (
        "docs/settings.md is stale: python -m bumper.settingsdoc > docs/settings.md"
    )


def test_every_setting_is_described_and_follows_the_scheme() -> None:
    rows = list(settingsdoc.rows())
    assert len(rows) > 60
    for variable, _, _, meaning in rows:
        assert meaning, variable
        name = variable.strip("`")
        assert name.startswith("BUMPER_") and name == name.upper(), name
        section, _, field = name.removeprefix("BUMPER_").rpartition("__")
        assert "__" not in section and "__" not in field, name  # exactly one level of nesting


def _environ_readers(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ("environ", "getenv") for alias in node.names):
                lines.append(node.lineno)
    return lines


def test_nothing_else_reads_settings_from_the_environment() -> None:
    found = {}
    for path in sorted([*ROOT.glob("bumper/**/*.py"), *ROOT.glob("worker/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        lines = _environ_readers(path)
        if lines and relative not in ENVIRON_ALLOWED:
            found[relative] = lines
    assert found == {}, "read settings through bumper.settings (or add a reason to the list)"


def test_the_allowed_list_is_not_stale() -> None:
    for relative in ENVIRON_ALLOWED:
        assert _environ_readers(ROOT / relative), relative


def test_a_bad_value_names_the_variable_but_not_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUMPER_WEB__THREADS", "many-threads-value")
    with pytest.raises(ConfigError) as caught:
        settings.load()
    message = str(caught.value)
    assert message.startswith("settings: BUMPER_WEB__THREADS: ")
    assert "many-threads-value" not in message and "\n" not in message


def test_log_levels_are_checked_and_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUMPER_LOG__LEVEL", "debug")
    assert settings.load_log().level == "DEBUG"
    monkeypatch.setenv("BUMPER_LOG__RQ_LEVEL", "chatty")
    with pytest.raises(ConfigError, match="BUMPER_LOG__RQ_LEVEL"):
        settings.load_log()


def test_run_port_new_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("BUMPER_RUN__PORT", "9091")
    assert settings.load_run().port == 9091
    assert caplog.records == []


def test_run_port_old_name_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings._warned.clear()
    monkeypatch.delenv("BUMPER_RUN__PORT", raising=False)
    monkeypatch.setenv("PORT", "9092")
    monkeypatch.setenv("REDIS_PORT", "6390")
    assert (settings.load_run().port, settings.load_run().redis_port) == (9092, 6390)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "PORT is deprecated and will be ignored in the next release: use BUMPER_RUN__PORT",
        "REDIS_PORT is deprecated and will be ignored in the next release: "
        "use BUMPER_RUN__REDIS_PORT",
    ]


def test_old_names_are_not_read_by_web_and_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A platform's PORT must not make every process warn: only ``bumper run`` reads it."""
    settings._warned.clear()
    monkeypatch.setenv("PORT", "9093")
    settings.load()
    settings.load_log()
    assert caplog.records == []


def test_config_dir_is_the_base_of_relative_paths(tmp_path: Path) -> None:
    loaded = settings.Settings(config_file=tmp_path / "sub" / ".." / "bumper.yaml")
    assert loaded.config_dir() == tmp_path.resolve()
