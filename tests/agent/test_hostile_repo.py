"""The agent's fetch → export → render → hash path on a hostile config repo, with real git: one
symbolic link to an absolute path no longer stops the sync of everything else, and an alias
bomb ends in a one-line error, within the chart's memory limit (``RLIMIT_AS`` in a child)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import yaml

from bumper.agent import render, runner, signing
from bumper.agent import source as git
from tests.agent.configrepo import ConfigRepo
from tests.agent.test_signing import MemoryStore
from tests.support.hostile_yaml import alias_bomb

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_VALUES = REPO_ROOT / "charts" / "bumper-agent" / "values.yaml"


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def commits(tmp_path: Path, repo: ConfigRepo, paths: tuple[str, ...]) -> runner.GitCommits:
    source = git.GitSource(url=str(repo.path), branch="main", cache=tmp_path / "cache")
    # No signers: the policy only checks that the tip descends from what was applied (nothing).
    policy = signing.Policy(source, signing.Ledger(MemoryStore()))
    spec = render.RenderSpec(paths=paths)
    return runner.GitCommits(source, spec, tmp_path / "checkout", policy, lambda: ("", ""))


def test_absolute_links_anywhere_do_not_stop_the_render_and_are_named(tmp_path: Path) -> None:
    repo = ConfigRepo(tmp_path / "repo")
    repo.write("apps/web.yaml", cm("web"))
    repo.write("apps/db.yaml", cm("db"))
    os.symlink("/etc/hostname", repo.path / "apps" / "host.yaml")
    os.symlink("/etc", repo.path / "docs-etc")  # outside the config path: not reported
    os.symlink("../../outside.yaml", repo.path / "apps" / "up.yaml")
    repo.git("add", "-A")
    sha = repo.commit("links")
    gc = commits(tmp_path, repo, ("apps",))
    assert gc.tip() == sha
    objs = gc.render(sha)
    assert sorted(o["metadata"]["name"] for o in objs) == ["db", "web"]
    assert getattr(objs, "skipped", None) == (
        ("apps/host.yaml", "a symbolic link to an absolute path: left out"),
        ("apps/up.yaml", "a symbolic link to a path outside the repository: left out"),
    )


def chart_memory_limit() -> int:
    """The agent chart's ``resources.limits.memory``, in bytes (``384Mi``)."""
    value = yaml.safe_load(CHART_VALUES.read_text())["resources"]["limits"]["memory"]
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(value[:-2]) * units[value[-2:]]


CHILD = """
import sys
from pathlib import Path
from bumper.agent import manifests, render
from bumper.errors import BumperError
try:
    objs = render.render(Path(sys.argv[1]), render.RenderSpec())
    print([manifests.mark(o, agent="a", namespace="ns")["metadata"]["name"] for o in objs])
except BumperError as error:
    print(f"{error.reason}: {error}")
"""


def test_an_alias_bomb_ends_in_a_clear_error_within_the_charts_memory_limit(
    tmp_path: Path,
) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "ok.yaml").write_text(cm("ok"))
    (tmp_path / "apps" / "bomb.yaml").write_text(alias_bomb())
    limit = chart_memory_limit()
    assert limit == 384 * 2**20  # the chart's; the figures in docs/agent.md assume it

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "apps")],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=120,
        check=False,
    )
    assert "MemoryError" not in done.stderr and done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == (
        "parse-limit: bomb.yaml: over the YAML parse limits: aliases expand to more than "
        "100000 nodes, like an alias bomb (line 12)\n"
    )
