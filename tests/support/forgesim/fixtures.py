"""pytest fixtures for the forge simulator (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.forgesim.sim import ForgeSim


@pytest.fixture
def forgesim(tmp_path: Path) -> Iterator[ForgeSim]:
    """A fresh simulator per test: no repos yet, one user ``bumper-bot`` with ``sim.token``."""
    sim = ForgeSim(tmp_path / "forgesim").start()
    yield sim
    sim.stop()
