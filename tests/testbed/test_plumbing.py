"""The test bed's plumbing: the build script's errors and cache hits, teardown by pid, log tails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import testbed, testbed_cluster
from tests.support.testbed import Registry, RegistryFactory
from tests.support.testbed_cluster import BedCluster
from tests.support.testbed_proc import BUILD_SCRIPT, Proc, ProcessDied, http_get, wait_until


def _script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_build_script_refuses_an_old_go_with_a_clear_message(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "go").write_text('#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.22.1\n')
    (fake / "go").chmod(0o755)
    out = _script({"PATH": f"{fake}:/usr/bin:/bin", "BUMPER_TESTBED_CACHE": str(tmp_path / "c")})
    assert out.returncode == 1
    assert "testbed: ERROR: Go >= 1.26 is required, found go1.22.1" in out.stderr
    assert not (tmp_path / "c").exists()  # failed before touching the cache


def test_build_script_hits_the_cache(testbed_bin_dir: Path) -> None:
    out = _script({})
    assert out.returncode == 0, out.stderr
    assert "cache hit" in out.stderr
    assert out.stdout.strip() == str(testbed_bin_dir)


def test_stop_escalates_to_sigkill_by_pid(tmp_path: Path) -> None:
    stubborn = Proc("stubborn", ["sh", "-c", "trap '' TERM; echo up; sleep 60"], tmp_path)
    polite = Proc("polite", ["sleep", "60"], tmp_path)
    # the shell prints "up" only once its trap is installed
    wait_until(lambda: "up" in stubborn.log.read_text(), 10, "the trap")
    stubborn.stop(grace=0.5)
    polite.stop()
    assert stubborn.popen.returncode == -9
    assert polite.popen.returncode == -15


def test_failed_report_carries_each_components_log_tail(tmp_path: Path) -> None:
    proc = Proc("etcd", ["sh", "-c", "echo the-etcd-said-this"], tmp_path)
    proc.popen.wait(timeout=10)
    cluster = BedCluster(
        mode="apiserver",
        workdir=tmp_path,
        bin_dir=tmp_path,
        log_dir=tmp_path,
        kubeconfig=tmp_path / "kubeconfig",
        server="https://127.0.0.1:1",
        ca_file=tmp_path / "ca.crt",
        admin_cert=tmp_path / "admin.crt",
        admin_key=tmp_path / "admin.key",
        procs=[proc],
    )
    sections = _drive_hook(SimpleNamespace(funcargs={"kube_apiserver": cluster}), failed=True)
    assert len(sections) == 1
    title, text = sections[0]
    assert title == "test bed (apiserver) logs"
    assert "the-etcd-said-this" in text and "exited 0" in text
    assert _drive_hook(SimpleNamespace(funcargs={"kube_apiserver": cluster}), failed=False) == []


def _drive_hook(item: Any, failed: bool) -> list[tuple[str, str]]:
    report: Any = SimpleNamespace(failed=failed, sections=[])
    call: Any = SimpleNamespace()
    gen = testbed.pytest_runtest_makereport(item, call)
    next(gen)
    with pytest.raises(StopIteration) as done:
        gen.send(report)
    assert done.value.value is report
    sections: list[tuple[str, str]] = report.sections
    return sections


def test_a_dead_component_ends_the_wait_at_once(tmp_path: Path) -> None:
    proc = Proc("crashy", ["sh", "-c", "echo boom >&2; exit 3"], tmp_path)
    with pytest.raises(ProcessDied, match="crashy exited with 3(.|\n)*boom"):
        wait_until(lambda: proc.check_alive(), 60, "crashy")


def test_registry_moves_to_another_port_when_its_port_is_taken(
    registry: RegistryFactory, tmp_path: Path
) -> None:
    reg = Registry(registry.bins, tmp_path / "reg")
    taken = reg.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        reg.start()
        try:
            assert reg.port != taken
            assert "address already in use" in reg.log.read_text()
            assert http_get(f"{reg.url}/v2/").status_code == 200
        finally:
            reg.stop()


def test_stale_etcd_data_dirs_are_swept_and_live_or_young_ones_kept(tmp_path: Path) -> None:
    prefix = testbed_cluster.ETCD_DATA_PREFIX
    stale, young, live = (tmp_path / f"{prefix}{name:0<8}" for name in ("stale", "young", "live"))
    other = tmp_path / "someone-elses"
    for path in (stale, young, live, other):
        path.mkdir()
    (stale / "member").mkdir()
    hour_ago = time.time() - 3600
    for path in (stale, live, other):
        os.utime(path, (hour_ago, hour_ago))
    sleeper = "import time; time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", sleeper, f"--data-dir={live}"])
    cmdline = Path(f"/proc/{holder.pid}/cmdline")
    try:
        # Popen returns once exec has begun, a moment before the new command line is in place.
        wait_until(lambda: str(live) in cmdline.read_text(errors="replace"), 10, "the holder")
        removed = testbed_cluster.sweep_stale_data_dirs(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert removed == [stale]
    assert [p.exists() for p in (stale, young, live, other)] == [False, True, True, True]


def test_a_failed_start_leaves_no_etcd_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(testbed_cluster, "SHM", shm)
    bins = tmp_path / "bin"
    bins.mkdir()
    (bins / "etcd").write_text("#!/bin/sh\necho 'address already in use' >&2\nexit 1\n")
    (bins / "etcd").chmod(0o755)
    with pytest.raises(RuntimeError, match="address already in use"):
        testbed_cluster.start_cluster("apiserver", bins, tmp_path / "work", attempts=2)
    assert list(shm.iterdir()) == []  # each attempt's dir removed, the first one included
