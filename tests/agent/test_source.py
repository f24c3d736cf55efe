"""Git source: incremental fetch, export, and required signatures (SSH allowed signers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bumper.agent import source
from bumper.errors import SignatureError, TransientError
from tests.agent.configrepo import ConfigRepo
from tests.agent.githttp import GitHttp


def keypair(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def test_fetch_follows_the_branch_and_exports_its_tree(tmp_path: Path) -> None:
    repo = ConfigRepo(tmp_path / "repo")
    repo.write("a.yaml", "x: 1\n")
    first = repo.commit("one")
    src = source.GitSource(url=str(repo.path), branch="main", cache=tmp_path / "cache")
    assert src.fetch() == first
    repo.write("b.yaml", "y: 2\n")
    second = repo.commit("two")
    assert src.fetch() == second
    assert src.has(first)
    out = src.export(first, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["a.yaml"]


def test_unreachable_remote_is_transient_and_redacted(tmp_path: Path) -> None:
    src = source.GitSource(
        url="https://user:hunter2@127.0.0.1:9/none.git", branch="main", cache=tmp_path / "c"
    )
    with pytest.raises(TransientError) as caught:
        src.fetch()
    assert "hunter2" not in str(caught.value)


def test_signatures_required_when_allowed_signers_given(tmp_path: Path) -> None:
    good, other = keypair(tmp_path, "good"), keypair(tmp_path, "other")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"test@example.com {Path(str(good) + '.pub').read_text()}")
    repo = ConfigRepo(tmp_path / "repo")
    repo.write("a.yaml", "x: 1\n")
    src = source.GitSource(
        url=str(repo.path),
        branch="main",
        cache=tmp_path / "cache",
        trust=source.Trust(allowed_signers=signers),
    )
    signed = repo.commit("signed", sign_key=good)
    src.fetch()
    src.verify(signed)
    unsigned = repo.commit("unsigned")
    src.fetch()
    with pytest.raises(SignatureError, match="not signed"):
        src.verify(unsigned)
    stranger = repo.commit("stranger", sign_key=other)
    src.fetch()
    with pytest.raises(SignatureError, match="allowed key"):
        src.verify(stranger)


def test_https_token_is_sent_as_a_header_and_never_stored(tmp_path: Path) -> None:
    repo = ConfigRepo(tmp_path / "serve" / "cfg")
    repo.write("a.yaml", "x: 1\n")
    head = repo.commit("one")
    server = GitHttp(tmp_path / "serve", "x-access-token", "t0ken-123")
    token = tmp_path / "token"
    token.write_text("t0ken-123\n")
    try:
        src = source.GitSource(
            url=f"{server.url}/cfg",
            branch="main",
            cache=tmp_path / "cache",
            auth=source.GitAuth(token_file=token),
        )
        assert src.fetch() == head
        token.write_text("wrong")
        with pytest.raises(TransientError) as caught:
            src.fetch()
        assert "wrong" not in str(caught.value)
    finally:
        server.shutdown()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert b"t0ken-123" not in stored


def test_gpg_signatures_against_allowed_public_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "signer-gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        _gpg_round_trip(tmp_path, monkeypatch)
    finally:
        for gnupg in (home, tmp_path / "cache" / "gnupg"):  # gpg-agent daemons must not linger
            subprocess.run(
                ["gpgconf", "--kill", "all"],
                env={**os.environ, "GNUPGHOME": str(gnupg)},
                capture_output=True,
                check=False,
            )


def _gpg_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpg = ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
    for uid in ("Allowed <allowed@example.com>", "Other <other@example.com>"):
        subprocess.run([*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"], check=True)
    allowed = tmp_path / "allowed.asc"
    exported = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", "allowed@example.com"],
        capture_output=True,
        check=True,
    ).stdout
    allowed.write_bytes(exported)
    repo = ConfigRepo(tmp_path / "repo")
    repo.write("a.yaml", "x: 1\n")
    repo.git("add", "-A")
    repo.git("-c", "user.signingkey=allowed@example.com", "commit", "-q", "-S", "-m", "ok")
    signed = repo.git("rev-parse", "HEAD")
    repo.git(
        "-c",
        "user.signingkey=other@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-S",
        "-m",
        "other",
    )
    stranger = repo.git("rev-parse", "HEAD")
    monkeypatch.delenv("GNUPGHOME")
    src = source.GitSource(
        url=str(repo.path),
        branch="main",
        cache=tmp_path / "cache",
        trust=source.Trust(gpg_keys=allowed),
    )
    assert src.fetch() == stranger
    src.verify(signed)
    with pytest.raises(SignatureError, match="allowed key"):
        src.verify(stranger)
