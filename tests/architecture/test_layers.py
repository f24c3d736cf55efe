"""The layers hold: import-linter's contracts (``.importlinter``, run by ``make lint``) still
cover every package, and no module takes part in an import cycle.

Cycles are found on grimp's graph, the one ``lint-imports`` checks: every import statement
counts, including those inside functions (a hidden cycle is still a cycle) and those under
``if TYPE_CHECKING:``: they never run, but a reader still has to follow the circle, and a
record shared by two modules belongs in a third (see ``worker/records.py``).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / ".importlinter"
# What each "imports only ..." contract allows inside bumper; every other sibling is forbidden.
ONLY = {
    "core-is-pure": {"bumper.core", "bumper.errors"},
    "sources-are-parsers": {"bumper.sources", "bumper.core", "bumper.errors"},
}


def contract(name: str) -> Mapping[str, str]:
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS, encoding="utf-8")
    return parser[f"importlinter:contract:{name}"]


def listed(value: str) -> set[str]:
    return {line.strip() for line in value.splitlines() if line.strip()}


def bumper_siblings() -> set[str]:
    package = ROOT / "bumper"
    found = {f"bumper.{p.stem}" for p in package.glob("*.py") if not p.stem.startswith("__")}
    found |= {f"bumper.{p.parent.name}" for p in package.glob("*/__init__.py")}
    return found


@pytest.mark.parametrize("name", sorted(ONLY))
def test_an_only_contract_forbids_every_other_package(name: str) -> None:
    forbidden = listed(contract(name)["forbidden_modules"])
    missing = bumper_siblings() - ONLY[name] - forbidden
    assert missing == set(), f"add to [{name}] in .importlinter: {sorted(missing)}"
    assert "worker" in forbidden


def cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    nodes = sorted(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(nodes)) for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                nxt = edges[node][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def project_cycles(*packages: str) -> list[list[str]]:
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False, cache_dir=None)
    own = {m for m in graph.modules if m.split(".")[0] in packages}
    return cycles(graph, own)


def test_no_module_is_part_of_an_import_cycle() -> None:
    assert project_cycles("bumper", "worker") == []


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_cycle_check_sees_function_and_type_checking_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_package(
        tmp_path,
        {
            "cyc/__init__.py": "",
            "cyc/a.py": "from cyc import b\n",
            "cyc/b.py": "def later():\n    from cyc import c\n",
            "cyc/c.py": "import cyc.a\n",
            "cyc/d.py": "import typing\nif typing.TYPE_CHECKING:\n    from cyc import e\n",
            "cyc/e.py": "from cyc import d\n",
            "cyc/f.py": "from cyc import a\n",  # imports into a cycle, but is not on one
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = sorted(project_cycles("cyc"))
    assert found == [["cyc.a", "cyc.b", "cyc.c"], ["cyc.d", "cyc.e"]]


def test_lint_imports_refuses_a_broken_contract(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {
            "layered/__init__.py": "",
            "layered/core.py": "def f():\n    from layered import web\n",
            "layered/web.py": "",
            "contracts.ini": """\
                [importlinter]
                root_package = layered

                [importlinter:contract:pure]
                name = core is pure
                type = forbidden
                source_modules = layered.core
                forbidden_modules = layered.web
                """,
        },
    )
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", "contracts.ini", "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "layered.core -> layered.web" in done.stdout
