"""The pull agent on the test bed (kube-apiserver only; ConfigMaps need no controllers) with a
config repo holding a symbolic link to an absolute path: the sync goes on, and the link is
named in the status ConfigMap, the log and a Warning Event. (The alias bomb's end to end is
tests/agent/test_hostile_repo.py, under the chart's memory limit.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.bed import AgentBed, configmap, dump, namespace
from tests.support.testbed import BedCluster

REASON = "a symbolic link to an absolute path: left out"


@pytest.fixture
def bed(kube_apiserver: BedCluster, tmp_path: Path) -> Iterator[AgentBed]:
    bed = AgentBed(kube_apiserver, tmp_path)
    bed.install()
    yield bed


def test_an_absolute_link_is_reported_and_the_rest_still_syncs(bed: AgentBed) -> None:
    bed.repo.write("ns.yaml", dump(namespace(bed.apps)))
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="blue")))
    os.symlink("/etc/hostname", bed.repo.path / "apps" / "host.yaml")
    bed.repo.git("add", "-A")
    head = bed.repo.commit("a link to the agent's own filesystem")
    done = bed.sync()
    assert done.returncode == 0, done.stderr[-3000:]
    status = bed.status()
    assert (status["commit"], status["health"], status["lastError"]) == (head, "Healthy", "")
    assert status["skipped"] == f"apps/host.yaml: {REASON}"
    assert f"apps/host.yaml skipped: {REASON}" in done.stderr
    events = bed.events(bed.state_ns, "FileSkipped")
    assert [e["message"] for e in events] == [f"{head[:12]}: apps/host.yaml: {REASON}"]
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
