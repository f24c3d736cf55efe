"""The agent's tar extraction, on both paths: tarfile's ``data`` filter (Python >= 3.11.4) and
the own check that Pythons without it use (Debian bookworm's 3.11.2, the images' Python).

Each hostile archive is unpacked both ways where this Python has the filter, and the results
must be equal: the fallback refuses, leaves out and sanitises exactly what the filter does.
On a Python without the filter only the fallback runs, against the same expectations (the
images' test runs this file on the image's own Python)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bumper.agent import source as git
from bumper.agent import untar
from tests.agent.configrepo import ConfigRepo

Member = tuple[str, bytes, str, int]
MODES = [True, False] if untar.HAS_DATA_FILTER else [False]


@pytest.fixture(params=MODES, ids=lambda f: "data-filter" if f else "fallback")
def filtered(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(untar, "HAS_DATA_FILTER", request.param)
    return bool(request.param)


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> Member:
    return (name, kind, link, mode)


def archive(*members: Member) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link, mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, mode
            data = f"content of {name}\n".encode() if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def unpack(data: bytes, dest: Path) -> list[tuple[str, str]]:
    skipped: list[tuple[str, str]] = []
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        untar.extract(tar, str(dest), skipped)
    return skipped


def tree(dest: Path) -> dict[str, str]:
    """Every path under ``dest``: file mode and content, or a link's target."""
    seen: dict[str, str] = {}
    for path in sorted(dest.rglob("*")):
        rel = str(path.relative_to(dest))
        if path.is_symlink():
            seen[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            seen[rel] = f"{stat.S_IMODE(path.stat().st_mode):o} {path.read_text()!r}"
        else:
            seen[rel] = "dir"
    return seen


LINKS = archive(
    member("apps/", tarfile.DIRTYPE, mode=0o775),
    member("apps/web.yaml"),
    member("apps/host.yaml", tarfile.SYMTYPE, "/etc/hostname"),
    member("apps/up.yaml", tarfile.SYMTYPE, "../../outside.yaml"),
    member("apps/same.yaml", tarfile.SYMTYPE, "web.yaml"),
    member("apps/hard.yaml", tarfile.LNKTYPE, "../outside.yaml"),
    member("apps/hard-in.yaml", tarfile.LNKTYPE, "apps/web.yaml"),
    member("esc", tarfile.SYMTYPE, ".."),
    member("esc/x.yaml"),  # esc was left out: this is a plain path inside the tree
    member("/abs.yaml"),  # leading slashes are stripped, as the filter does
    member("tool.sh", mode=0o4777),  # setuid and world-write go; the owner's exec stays
    member("data.txt", mode=0o666),
)


def test_links_out_of_the_tree_are_left_out_and_named(tmp_path: Path, filtered: bool) -> None:
    skipped = unpack(LINKS, tmp_path / "out")
    assert skipped == [
        ("apps/host.yaml", "a symbolic link to an absolute path: left out"),
        ("apps/up.yaml", "a symbolic link to a path outside the repository: left out"),
        ("apps/hard.yaml", "a symbolic link to a path outside the repository: left out"),
        ("esc", "a symbolic link to a path outside the repository: left out"),
    ]
    got = tree(tmp_path / "out")
    assert got == {
        "abs.yaml": "644 'content of /abs.yaml\\n'",
        "apps": "dir",
        "apps/hard-in.yaml": "644 'content of apps/web.yaml\\n'",
        "apps/same.yaml": "-> web.yaml",
        "apps/web.yaml": "644 'content of apps/web.yaml\\n'",
        "data.txt": "644 'content of data.txt\\n'",
        "esc": "dir",
        "esc/x.yaml": "644 'content of esc/x.yaml\\n'",
        "tool.sh": "755 'content of tool.sh\\n'",
    }
    assert not (tmp_path / "outside.yaml").exists()


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(archive(member("../escape.yaml")), id="dot-dot"),
        pytest.param(archive(member("a/../../escape.yaml")), id="dot-dot-inside"),
        pytest.param(
            archive(member("in", tarfile.SYMTYPE, "."), member("in/../../escape.yaml")),
            id="through-an-inside-link",
        ),
        pytest.param(archive(member("dev", tarfile.CHRTYPE)), id="device"),
        pytest.param(archive(member("pipe", tarfile.FIFOTYPE)), id="fifo"),
    ],
)
def test_members_outside_the_tree_or_special_stop_the_export(
    tmp_path: Path, filtered: bool, hostile: bytes
) -> None:
    with pytest.raises(tarfile.TarError):
        unpack(hostile, tmp_path / "out")
    assert not (tmp_path / "escape.yaml").exists()


def test_the_agents_export_on_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitSource.export with real git on the path Python < 3.11.4 takes."""
    monkeypatch.setattr(untar, "HAS_DATA_FILTER", False)
    repo = ConfigRepo(tmp_path / "repo")
    repo.write("apps/web.yaml", "kind: ConfigMap\n")
    os.symlink("/etc/hostname", repo.path / "apps" / "host.yaml")
    os.symlink("web.yaml", repo.path / "apps" / "same.yaml")
    repo.git("add", "-A")
    sha = repo.commit("links")
    source = git.GitSource(url=str(repo.path), branch="main", cache=tmp_path / "cache")
    assert source.fetch() == sha
    skipped: list[tuple[str, str]] = []
    out = source.export(sha, tmp_path / "tree", skipped)
    assert skipped == [("apps/host.yaml", "a symbolic link to an absolute path: left out")]
    assert (out / "apps" / "same.yaml").read_text() == "kind: ConfigMap\n"
    assert not (out / "apps" / "host.yaml").is_symlink()
