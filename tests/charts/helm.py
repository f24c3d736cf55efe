"""The test bed's helm binary, run with a private home (no registry logins, no repo cache)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = {"bumper": REPO / "charts" / "bumper", "bumper-agent": REPO / "charts" / "bumper-agent"}
CASES = Path(__file__).parent / "cases"


class Helm:
    def __init__(self, bins: Path, home: Path) -> None:
        self.bin = str(bins / "helm")
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.bin, *args], capture_output=True, text=True, env=self.env, check=False
        )
        if check:
            assert done.returncode == 0, (args, done.stderr)
        return done

    def template(self, chart: str, case: str | None = None, *extra: str) -> str:
        """``helm template rel <chart>`` in namespace ``bumper`` with a case's values file."""
        args = ["template", "rel", chart, "--namespace", "bumper"]
        if case is not None:
            args += ["--values", str(CASES / f"{case}.yaml")]
        return self.run(*args, *extra).stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def chart_of(case: str) -> str:
    """Case files are named ``<chart>--<case>.yaml``."""
    return case.split("--")[0]
