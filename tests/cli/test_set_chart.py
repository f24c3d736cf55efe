"""``bumper set-chart`` and the chart rows of ``bumper scan --json`` (issue 16 item 4): the
golden chart cases' files in a tree, edited through the CLI as a user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bumper.cli import main

GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for case, name in [
        ("chart-argocd-application", "apps/argocd.yaml"),
        ("chart-flux-helmrelease", "apps/flux.yaml"),
        ("chart-yaml-dependencies", "charts/argo-cd/Chart.yaml"),
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOLDEN / case / "before.yaml", tmp_path / name)
    return tmp_path


def test_scan_json_lists_charts_beside_images(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(tree / "apps"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    charts = [r for r in rows if r["artifact"] == "chart"]
    assert {r["artifact"] for r in rows} == {"chart", "image"}
    assert charts[0] == {
        "file": str(tree / "apps" / "argocd.yaml"),
        "line": 12,
        "artifact": "chart",
        "kind": "argocd-app-chart",
        "confidence": "known",
        "chart": "sealed-secrets",
        "repository": "https://bitnami-labs.github.io/sealed-secrets",
        "version": "1.16.1",
        "templated": False,
        "uses": 1,
        "note": None,
    }
    assert [(r["kind"], r["chart"], r["version"]) for r in charts[1:]] == [
        ("argocd-app-chart", "podinfo", "6.5.0"),
        ("flux-helmrelease-chart", "podinfo", "6.5.0"),
        ("flux-helmrelease-chart", "podinfo", "3.2.0"),
    ]
    assert charts[1]["repository"] == "oci://ghcr.io/stefanprodan/charts"


def test_set_chart_writes_byte_exactly_and_is_idempotent(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["set-chart", str(tree), "--chart", "podinfo", "--version", "6.5.4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "apps/flux.yaml:22\tflux-helmrelease-chart\t6.5.0 -> 6.5.4" in out
    assert "apps/argocd.yaml:31\targocd-app-chart\t6.5.0 -> 6.5.4" in out
    flux = (GOLDEN / "chart-flux-helmrelease" / "after.yaml").read_bytes()
    assert (tree / "apps" / "flux.yaml").read_bytes() == flux
    assert main(args) == 0  # already current
    assert capsys.readouterr().out == ""


def test_set_chart_repository_narrows(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["set-chart", str(tree), "--chart", "oci://ghcr.io/stefanprodan/charts/podinfo"]
    assert main([*args, "--version", "6.5.4", "--dry-run"]) == 0
    diff = capsys.readouterr().out
    assert "flux.yaml" not in diff  # its HelmRepository is https://stefanprodan.github.io/...
    assert '-    targetRevision: "6.5.0"\n+    targetRevision: "6.5.4"' in diff
    assert (tree / "apps" / "argocd.yaml").read_bytes() == (
        GOLDEN / "chart-argocd-application" / "before.yaml"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--chart", "redis-ha", "--version", "4.30.0"], 0),
        (["--chart", "no-such-chart", "--version", "1.0.0"], 1),
        (["--chart", "redis-ha", "--version", "not a version"], 2),
        (["--chart", "Bad Name!", "--version", "1.0.0"], 2),
    ],
)
def test_set_chart_exit_codes(
    tree: Path, args: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set-chart", str(tree), *args]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("bumper: error: ") and err.count("\n") == 1


def _alias_bomb() -> str:
    """A file naming the chart whose aliases expand past the parse limits."""
    layers = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8))
    return "chart: podinfo\nl0: &l0 [x]\n" + layers


@pytest.mark.parametrize("unreadable", ["outside-link", "alias-bomb"])
def test_set_chart_exit_code_3_when_files_could_not_be_read(
    tmp_path: Path, unreadable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """3, not 1: no reference in the files read, but a file that might hold one was not
    read; each such file named on its own line, nothing written."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "cm.yaml").write_text("kind: ConfigMap\ndata: {a: b}\n")
    if unreadable == "outside-link":
        outside = tmp_path / "outside.yaml"
        shutil.copyfile(GOLDEN / "chart-flux-helmrelease" / "before.yaml", outside)
        (root / "flux.yaml").symlink_to(outside)
        before = outside.read_bytes()
    else:
        (root / "flux.yaml").write_text(_alias_bomb())
        before = (root / "flux.yaml").read_bytes()
    code = main(["set-chart", str(root), "--chart", "podinfo", "--version", "6.5.9"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert (
        [line for line in err.splitlines() if "flux.yaml" in line]
        == [
            line
            for line in err.splitlines()
            if line.startswith(f"bumper: skipped {root}/flux.yaml: ")
        ]
        != []
    )
    assert err.splitlines()[-1] == "bumper: no reference to chart podinfo in the files read"
    assert (root / "flux.yaml").read_bytes() == before and "Traceback" not in err
    (root / "flux.yaml").unlink()
    assert main(["set-chart", str(root), "--chart", "podinfo", "--version", "6.5.9"]) == 1
