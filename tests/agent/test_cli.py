"""``bumper agent`` errors: one line on stderr, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper.cli import main


def test_missing_repo_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUMPER_AGENT__REPO_URL", raising=False)
    monkeypatch.delenv("BUMPER_AGENT_REPO_URL", raising=False)
    assert main(["agent", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repo_url" in err and "Traceback" not in err


def test_unreadable_kubeconfig_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["agent", "--once", "--repo", str(tmp_path), "--kubeconfig", str(tmp_path / "none")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot read kubeconfig" in err and "Traceback" not in err


def test_bad_flag_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--once", "--repo", "x", "--render", "jsonnet"]) == 2
    assert "render" in capsys.readouterr().err
