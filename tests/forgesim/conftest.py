"""A populated simulator and a raw HTTP client for the simulator's own contract tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.forgesim import ForgeSim

REPO = "acme/config"
BRANCH = "bumper/api"


@dataclass
class Api:
    """Raw requests against one API flavour, authenticated with the simulator's token."""

    sim: ForgeSim
    prefix: str
    auth: dict[str, str]

    def __call__(
        self, method: str, path: str, body: Any = None, _accept: str | None = None, **params: Any
    ) -> requests.Response:
        headers = {**self.auth, **({"Accept": _accept} if _accept else {})}
        return requests.request(
            method,
            self.sim.url + self.prefix + path,
            json=body,
            params=params or None,
            headers=headers,
            timeout=10,
        )


@pytest.fixture
def populated(forgesim: ForgeSim) -> ForgeSim:
    """acme/config with branch bumper/api one commit ahead of main, and user alice."""
    forgesim.create_repo(REPO, {"apps/api.yaml": "image: api:1.0\n"})
    forgesim.add_user("alice")
    forgesim.commit_files(REPO, BRANCH, {"apps/api.yaml": "image: api:1.1\n"}, "bump api")
    return forgesim


@pytest.fixture
def github(populated: ForgeSim) -> Api:
    return Api(populated, "/api/v3", {"Authorization": f"token {populated.token}"})


@pytest.fixture
def gitlab(populated: ForgeSim) -> Api:
    return Api(populated, "/api/v4", {"PRIVATE-TOKEN": populated.token})


def recorded(shared_dir: Path, flavour: str, name: str) -> Any:
    return json.loads((shared_dir / "fixtures/forges/recorded" / flavour / name).read_text())
