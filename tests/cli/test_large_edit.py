"""``bumper set-image`` on a file large enough to be edited group by group
(``core.yaml.streamedit``): written as the whole edit would be, its diff for ``--dry-run``,
and on a refusal nothing written and no temporary file left beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bumper.cli import main
from bumper.core.yaml import editor
from tests.core.test_streamedit import IMAGE, large_stream

SMALL = "containers:\n  - name: app\n    image: ghcr.io/acme/app:1.0\n"


def _tree(tmp_path: Path, text: str) -> Path:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "all.yaml").write_bytes(text.encode())
    (tmp_path / "repo" / "small.yaml").write_text(SMALL)
    (tmp_path / "repo" / "all.yaml").chmod(0o640)
    return tmp_path / "repo"


def test_a_large_file_is_written_as_the_whole_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = large_stream()
    repo = _tree(tmp_path, text)
    whole = editor.set_image(text, IMAGE, tag="2.0")
    assert main(["set-image", str(repo), "--image", IMAGE, "--tag", "2.0"]) == 0
    assert (repo / "all.yaml").read_bytes() == whole.after.encode()
    assert (repo / "all.yaml").stat().st_mode & 0o777 == 0o640
    assert (repo / "small.yaml").read_text() == SMALL.replace("1.0", "2.0")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{repo}/all.yaml:{r.line}\t{r.kind}\t{r.old} -> {r.new}" for r in whole.changes
    ] + [f"{repo}/small.yaml:3\tpod-container\t1.0 -> 2.0"]
    assert sorted(p.name for p in repo.iterdir()) == ["all.yaml", "small.yaml"]


def test_dry_run_prints_a_diff_that_applies_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = large_stream()
    repo = _tree(tmp_path, text)
    args = ["set-image", str(repo / "all.yaml"), "--image", IMAGE, "--tag", "2.0", "--dry-run"]
    assert main(args) == 0
    diff = capsys.readouterr().out
    assert diff.startswith(f"--- a/{repo.as_posix().lstrip('/')}/all.yaml\n")
    assert (repo / "all.yaml").read_bytes() == text.encode()
    assert sorted(p.name for p in repo.iterdir()) == ["all.yaml", "small.yaml"]
    patch = diff.replace(repo.as_posix().lstrip("/") + "/", "")
    (repo / "change.diff").write_text(patch)
    subprocess.run(["git", "apply", "change.diff"], cwd=repo, check=True)
    expected = editor.set_image(text, IMAGE, tag="2.0").after
    assert (repo / "all.yaml").read_bytes() == expected.encode()


def test_a_refusal_in_a_large_file_writes_nothing_and_leaves_no_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = large_stream(refusing_at=600)
    repo = _tree(tmp_path, text)
    assert main(["set-image", str(repo), "--image", IMAGE, "--tag", "2.0"]) == 2
    assert "no tag field" in capsys.readouterr().err
    assert (repo / "all.yaml").read_bytes() == text.encode()
    assert (repo / "small.yaml").read_text() == SMALL
    assert sorted(p.name for p in repo.iterdir()) == ["all.yaml", "small.yaml"]
