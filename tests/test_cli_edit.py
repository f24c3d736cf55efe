"""``bumper scan`` and ``bumper set-image`` end to end on real files in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bumper.cli import main

DEPLOY = (
    "spec:\n  template:\n    spec:\n      containers:\n"
    "        - name: api\n          image: ghcr.io/acme/api:1.0\n"
)
VALUES = "image:\n  repository: ghcr.io/acme/api\n  tag: '1.0'\nother:\n  image: redis:7\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "apps" / "api").mkdir(parents=True)
    (tmp_path / "apps" / "api" / "deploy.yaml").write_text(DEPLOY)
    (tmp_path / "apps" / "values.yml").write_text(VALUES)
    (tmp_path / "apps" / "notes.txt").write_text("image: ghcr.io/acme/api:0.1\n")
    (tmp_path / "apps" / "chart.yaml").write_text("a: {{ .Values.x }}\n  b: [\n")
    return tmp_path


def test_scan_json_lists_every_reference(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tree / "apps"), "--json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    keys = ["artifact", "confidence", "digest", "file", "image", "kind", "line", "note", "tag"]
    keys += ["invalid", "templated", "uses"]
    assert [sorted(r) for r in rows] == [sorted(keys)] * 3
    assert {(r["artifact"], r["confidence"], r["templated"], r["uses"]) for r in rows} == {
        ("image", "known", False, 1)
    }
    assert [(Path(r["file"]).name, r["line"], r["kind"], r["image"], r["tag"]) for r in rows] == [
        ("deploy.yaml", 6, "pod-container", "ghcr.io/acme/api", "1.0"),
        ("values.yml", 3, "image-fields", "ghcr.io/acme/api", "1.0"),
        ("values.yml", 5, "image-string", "docker.io/library/redis", "7"),
    ]
    assert all(r["digest"] is None for r in rows)
    assert "chart.yaml" in err and "template" in err


def test_set_image_dry_run_prints_a_diff_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (tree / "apps" / "values.yml").read_text()
    code = main(
        ["set-image", str(tree), "--image", "ghcr.io/acme/api", "--tag", "1.1", "--dry-run"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "-          image: ghcr.io/acme/api:1.0\n+          image: ghcr.io/acme/api:1.1\n" in out
    assert "-  tag: '1.0'\n+  tag: '1.1'\n" in out
    assert (tree / "apps" / "values.yml").read_text() == before


def test_set_image_writes_and_is_idempotent(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = "sha256:" + "d" * 64
    args = ["set-image", str(tree / "apps"), "--image", "ghcr.io/acme/api", "--tag", "2.0"]
    assert main([*args, "--digest", digest]) == 0
    assert (tree / "apps" / "api" / "deploy.yaml").read_text() == DEPLOY.replace(
        "1.0", f"2.0@{digest}"
    )
    assert (tree / "apps" / "values.yml").read_text() == VALUES.replace("'1.0'", f"'2.0@{digest}'")
    assert (tree / "apps" / "notes.txt").read_text().endswith("0.1\n")
    capsys.readouterr()
    assert main([*args, "--digest", digest]) == 0  # already current
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--image", "ghcr.io/acme/nothing", "--tag", "1"], 1, "no reference"),
        (["--image", "ghcr.io/acme/api"], 2, "give --tag"),
        (["--image", "ghcr.io/acme/api", "--tag", "bad tag"], 2, "invalid tag"),
        (["--image", "ghcr.io/acme/api", "--digest", "sha256:12"], 2, "digest"),
        (["--image", "Upper/Case", "--tag", "1"], 2, "lower-case"),
    ],
)
def test_set_image_exit_codes(
    tree: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert main(["set-image", str(tree), *args]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_skipped_not_fatal(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "apps" / "latin1.yaml").write_bytes(b"image: ghcr.io/acme/api:1.0 # caf\xe9\n")
    assert main(["set-image", str(tree), "--image", "ghcr.io/acme/api", "--tag", "1.1"]) == 0
    err = capsys.readouterr().err
    assert "latin1.yaml" in err and "not UTF-8" in err
    assert (tree / "apps" / "latin1.yaml").read_bytes().endswith(b"caf\xe9\n")
    assert "1.1" in (tree / "apps" / "values.yml").read_text()
