"""`bumper worker` and `bumper run` refuse bad input with one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bumper(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bumper", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_with_an_invalid_config_exits_2_with_the_first_error(tmp_path: Path) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\nimages:\n  - name: api\n")
    done = bumper("worker", "--burst", cwd=tmp_path, env={"BUMPER_CONFIG_FILE": str(config)})
    assert done.returncode == 2
    assert done.stderr.startswith("bumper: error:") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_run_outside_a_checkout_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    done = bumper("run", "--port", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "examples/quickstart/bumper.yaml not found" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".quickstart").exists()
