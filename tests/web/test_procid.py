"""``bumper.web.procid``: the cached pid is the process's own, in a forked child too, and
prometheus_client's file-backed values named by it still add up across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bumper.web import procid


def test_pid_is_each_processs_own_after_a_fork() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, f"{procid.pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        cached, actual = pipe.read().split()
    os.waitpid(child, 0)
    assert cached == actual == str(child)
    assert procid.pid() == os.getpid() != child


# Run in a fresh interpreter: prometheus_client reads PROMETHEUS_MULTIPROC_DIR when imported.
_FORKED_WRITES = """
import os, sys
from bumper.web import procid
procid.use_for_metric_files()
from prometheus_client import CollectorRegistry, Counter, values
from prometheus_client.multiprocess import MultiProcessCollector
assert values.ValueClass is not values.MutexValue
counter = Counter("forked", "", ["who"], registry=CollectorRegistry())
counter.labels("parent").inc(1)
child = os.fork()
if child == 0:
    counter.labels("child").inc(2)
    counter.labels("parent").inc(10)  # the child's own count, in its own file
    os._exit(0)
os.waitpid(child, 0)
counter.labels("parent").inc(100)
merged = CollectorRegistry()
MultiProcessCollector(merged)
totals = {s.labels["who"]: s.value for m in merged.collect() for s in m.samples
          if s.name == "forked_total"}
files = sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
print(totals["parent"], totals["child"], files == sorted(
    [f"counter_{os.getpid()}.db", f"counter_{child}.db"]))
"""


def test_metric_values_add_up_over_forked_processes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FORKED_WRITES)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["111.0", "2.0", "True"]


def test_nothing_changes_without_a_multiprocess_directory() -> None:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    script = (
        "from bumper.web import procid; procid.use_for_metric_files()\n"
        "from prometheus_client import values; print(values.ValueClass is values.MutexValue)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "True", done.stderr
