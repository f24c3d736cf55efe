"""``bumper scan`` / ``set-image`` over trees with bad files (issue 16): exit codes that tell
"nothing found" from "error", FIFOs skipped instead of hanging, and one file too big for the
memory a run has skipped while the others are still scanned and edited. The memory-limited
runs are real subprocesses under ``RLIMIT_AS``."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bumper.cli import main
from bumper.core.yaml import limits

DEPLOY = "containers:\n  - name: api\n    image: ghcr.io/acme/api:1.0\n"
MEMORY_LIMIT = 500 * 2**20  # the bound: a 50 MB file must not need more
LARGE_TIMEOUT = 900  # the 50 MB runs take 10-20 s on an idle machine


def test_exit_codes_tell_nothing_found_from_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "found").mkdir()
    (tmp_path / "found" / "a.yaml").write_text(DEPLOY)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.yaml").write_text("kind: ConfigMap\ndata: {a: b}\n")
    assert main(["scan", str(tmp_path / "found")]) == 0
    assert main(["scan", str(tmp_path / "empty")]) == 1
    assert main(["scan", str(tmp_path / "missing")]) == 2
    big = tmp_path / "found" / "big.yaml"
    big.write_bytes(b"a: b\n" * (limits.DEFAULT.max_bytes // 5 + 1))
    capsys.readouterr()
    assert main(["scan", str(tmp_path / "found")]) == 3
    out, err = capsys.readouterr()
    assert "ghcr.io/acme/api:1.0" in out
    assert [line for line in err.splitlines() if "big.yaml" in line] == [
        f"bumper: skipped {big}: over the YAML parse limits: {big.stat().st_size} bytes, "
        f"more than {limits.DEFAULT.max_bytes}"
    ]


def _run(
    args: list[str], memory: int | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "bumper", *args],
        capture_output=True,
        text=True,
        timeout=timeout,  # a guard against a hang, not a timing: a loaded machine is slow
        preexec_fn=limit,
        check=False,
    )


def test_a_fifo_is_skipped_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(DEPLOY)
    os.mkfifo(tmp_path / "pipe.yaml")  # nobody ever writes: reading it would block forever
    result = _run(["scan", str(tmp_path), "--json"])
    assert result.returncode == 3, result.stderr
    assert [row["image"] for row in json.loads(result.stdout)] == ["ghcr.io/acme/api"]
    assert "pipe.yaml: not a regular file" in result.stderr
    named = _run(["scan", str(tmp_path / "pipe.yaml")])
    assert named.returncode == 3 and "not a regular file" in named.stderr


def _generated(path: Path, megabytes: int) -> int:
    """A generated multi-document manifest of ``megabytes`` MB (the issue's 50 MB file), as
    ``kubectl get -o yaml`` dumps are: Deployments carrying their last-applied configuration,
    a JSON string of about 1.6 kB. Returns how many."""
    labels = {f"label-{i}": f"value-{i}" for i in range(60)}
    applied = json.dumps({"kind": "Deployment", "metadata": {"labels": labels}})
    doc = (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\n"
        "  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '"
        + applied.replace("{", "{{").replace("}", "}}")
        + "'\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
        "          image: ghcr.io/acme/app:1.0\n"
    )
    with path.open("w") as handle:
        written, n = 0, 0
        while written < megabytes * 10**6:
            written += handle.write(doc.format(n=n))
            n += 1
    return n


def test_a_50_mb_file_is_scanned_and_edited_under_500_mb(tmp_path: Path) -> None:
    count = _generated(tmp_path / "generated.yaml", 50)
    (tmp_path / "deploy.yaml").write_text(DEPLOY)
    scan = _run(["scan", str(tmp_path)], MEMORY_LIMIT, LARGE_TIMEOUT)
    assert scan.returncode == 0, scan.stderr[-2000:]
    assert scan.stdout.count("ghcr.io/acme/app:1.0") == count
    assert "ghcr.io/acme/api:1.0" in scan.stdout
    edit = _run(
        ["set-image", str(tmp_path), "--image", "ghcr.io/acme/app", "--tag", "2.0"],
        MEMORY_LIMIT,
        LARGE_TIMEOUT,
    )
    assert edit.returncode == 0, edit.stderr[-2000:]
    text = (tmp_path / "generated.yaml").read_text()
    assert text.count("image: ghcr.io/acme/app:2.0\n") == count
    assert "app:1.0" not in text


def _dense(path: Path, megabytes: int) -> int:
    """A generated manifest of ``megabytes`` MB dense with references: tiny Deployments of
    one image each (about 290,000 in 50 MB), where memory that grows per reference shows."""
    doc = (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: app\n"
        "          image: ghcr.io/acme/app:1.0\n"
    )
    with path.open("w") as handle:
        written, n = 0, 0
        while written < megabytes * 10**6:
            written += handle.write(doc.format(n=n))
            n += 1
    return n


# 15 MB, not 50: memory that grows per reference shows as well (the code before streaming died
# with MemoryError scanning it under DENSE_LIMIT), at a third of the time. By hand, 50 MB dense
# (288,000 references): scan 117 MB and set-image 118 MB peak RSS, against 498 and 876 MB before.
DENSE_MEGABYTES = 15
DENSE_LIMIT = 200 * 2**20  # address space; the streamed runs peak near 60 MB RSS here


@pytest.mark.timeout(4 * LARGE_TIMEOUT)  # a guard against a hang, not a timing
def test_a_file_dense_with_references_is_scanned_and_edited_in_bounded_memory(
    tmp_path: Path,
) -> None:
    # Scan prints each group's references as it goes, and set-image edits the file group by
    # group into a temporary file beside it: neither holds a record per reference of the file.
    count = _dense(tmp_path / "dense.yaml", DENSE_MEGABYTES)
    scan = _run(["scan", str(tmp_path), "--json"], DENSE_LIMIT, LARGE_TIMEOUT)
    assert scan.returncode == 0, scan.stderr[-2000:]
    rows = json.loads(scan.stdout)
    assert len(rows) == count
    assert {(row["image"], row["tag"], row["kind"]) for row in rows} == {
        ("ghcr.io/acme/app", "1.0", "pod-container")
    }
    assert [row["line"] for row in rows[:2]] == [11, 22] and rows[-1]["line"] == count * 11
    del rows, scan
    before = (tmp_path / "dense.yaml").read_bytes()
    edit = _run(
        ["set-image", str(tmp_path), "--image", "ghcr.io/acme/app", "--tag", "2.0"],
        DENSE_LIMIT,
        LARGE_TIMEOUT,
    )
    assert edit.returncode == 0, edit.stderr[-2000:]
    assert edit.stdout.count("\tpod-container\t1.0 -> 2.0\n") == count
    after = (tmp_path / "dense.yaml").read_bytes()
    assert after == before.replace(
        b"image: ghcr.io/acme/app:1.0\n", b"image: ghcr.io/acme/app:2.0\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dense.yaml"]


def test_an_oversized_document_is_skipped_under_a_memory_limit_and_the_others_are_processed(
    tmp_path: Path,
) -> None:
    # One document over max_bytes (16 MiB) between two small ones, and another file.
    big = "---\nkind: ConfigMap\ndata:\n" + "".join(
        f"  key-{n}: {'v' * 80}\n" for n in range(limits.DEFAULT.max_bytes // 90 + 1)
    )
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(DEPLOY.replace("api:1.0", "app:1.0") + big + "---\n" + DEPLOY)
    (tmp_path / "deploy.yaml").write_text(DEPLOY)
    scan = _run(["scan", str(tmp_path), "--json"], MEMORY_LIMIT)
    assert scan.returncode == 3, scan.stderr[-2000:]
    rows = [(row["file"], row["image"], row["line"]) for row in json.loads(scan.stdout)]
    assert rows == [
        (str(tmp_path / "deploy.yaml"), "ghcr.io/acme/api", 3),
        (str(mixed), "ghcr.io/acme/app", 3),
        (str(mixed), "ghcr.io/acme/api", big.count("\n") + 7),
    ]
    skipped = [line for line in scan.stderr.splitlines() if "mixed.yaml" in line]
    assert skipped == [
        f"bumper: skipped {mixed}: document at line 4: over the YAML parse limits: "
        f"{len(big)} bytes, more than {limits.DEFAULT.max_bytes}; the other documents were "
        "scanned"
    ]
    assert "Traceback" not in scan.stderr
    # set-image edits what it can read, the other documents of mixed.yaml included, and
    # names the document it skipped (the worker refuses a bump past it: "unreadable").
    edit = _run(
        ["set-image", str(tmp_path), "--image", "ghcr.io/acme/api", "--tag", "2.0"], MEMORY_LIMIT
    )
    assert edit.returncode == 0, edit.stderr[-2000:]
    assert "mixed.yaml: document at line 4: over the YAML parse limits" in edit.stderr
    assert "ghcr.io/acme/api:2.0" in (tmp_path / "deploy.yaml").read_text()
    after = mixed.read_text()
    assert after.endswith("image: ghcr.io/acme/api:2.0\n") and "app:1.0" in after
    assert big in after


def test_a_file_that_runs_out_of_memory_is_skipped_and_the_others_are_scanned(
    tmp_path: Path,
) -> None:
    # Under every parse limit (480,000 nodes), but more than this run's memory allows:
    # MemoryError is one skipped file with a one-line reason, not a traceback ending the run.
    lines = "".join(f"k{n}: {{a: [1, 2, 3], b: {{c: d}}}}\n" for n in range(40_000))
    (tmp_path / "a-heavy.yaml").write_text(lines)
    (tmp_path / "b-deploy.yaml").write_text(DEPLOY)
    scan = _run(["scan", str(tmp_path), "--json"], 150 * 2**20)
    assert "Traceback" not in scan.stderr, scan.stderr[-2000:]
    assert scan.returncode == 3, scan.stderr
    assert [row["file"] for row in json.loads(scan.stdout)] == [str(tmp_path / "b-deploy.yaml")]
    assert "a-heavy.yaml: out of memory while parsing" in scan.stderr
