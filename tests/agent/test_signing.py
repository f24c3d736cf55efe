"""The agent's signature policy (issue 13, item 12) on a real git repo with real SSH signatures.

The end-to-end version (the agent process restarted between passes, its base commit read back
from the status ConfigMap) is tests/agent/test_scenarios.py::test_signature_policy_survives_
restarts_and_refuses_a_rewind_and_an_unsigned_commit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from bumper.agent import signers, signing, source
from bumper.errors import SignatureError
from tests.agent.configrepo import ConfigRepo
from tests.agent.test_source import keypair

DAY = 86400.0


class MemoryStore:
    """The ledger's ConfigMap, kept in memory; a new ``Ledger`` on it is a restarted agent."""

    def __init__(self) -> None:
        self.data: dict[str, str] | None = None
        self.writes = 0

    def read(self) -> Mapping[str, str] | None:
        return self.data

    def write(self, data: Mapping[str, str]) -> None:
        self.data = dict(data)
        self.writes += 1


class Signed:
    """A config repo, a fetched source trusting ``good``'s key, and a policy over them."""

    def __init__(self, tmp_path: Path, valid: str = "") -> None:
        self.good, self.other = keypair(tmp_path, "good"), keypair(tmp_path, "other")
        key = Path(f"{self.good}.pub").read_text()
        self.signers = tmp_path / "allowed_signers"
        self.signers.write_text(f"test@example.com {valid + ' ' if valid else ''}{key}")
        self.repo = ConfigRepo(tmp_path / "repo")
        self.src = source.GitSource(
            url=str(self.repo.path),
            branch="main",
            cache=tmp_path / "cache",
            trust=source.Trust(allowed_signers=self.signers),
        )
        self.store = MemoryStore()

    def commit(self, message: str, key: Path | None = None) -> str:
        self.repo.write(f"{message}.yaml", f"name: {message}\n")
        return self.repo.commit(message, sign_key=key)

    def policy(self, clock: float | None = None, **options: int | bool) -> signing.Policy:
        ledger = signing.Ledger(self.store, (lambda: clock) if clock else time.time)
        return signing.Policy(self.src, ledger, **options)  # type: ignore[arg-type]


def test_a_rewind_to_an_older_signed_commit_is_refused_unless_allowed(tmp_path: Path) -> None:
    s = Signed(tmp_path)
    old = s.commit("one", s.good)
    applied = s.commit("two", s.good)
    assert s.src.fetch() == applied
    s.policy().admit(applied, "")
    s.repo.git("reset", "--hard", old)  # the attacker force-pushes the branch back
    assert s.src.fetch() == old
    with pytest.raises(SignatureError, match="does not descend from the last applied") as caught:
        s.policy().admit(old, applied)
    assert caught.value.reason == "rewind"
    s.policy(allow_rewind=True).admit(old, applied)
    s.policy().admit(applied, applied)  # the live commit itself is no rewind


def test_every_new_commit_is_verified_not_only_the_tip(tmp_path: Path) -> None:
    s = Signed(tmp_path)
    applied = s.commit("one", s.good)
    unsigned = s.commit("two")
    stranger = s.commit("three", s.other)
    tip = s.commit("four", s.good)
    s.src.fetch()
    with pytest.raises(SignatureError, match=f"commit {unsigned[:12]} is not signed") as caught:
        s.policy().admit(tip, applied)
    assert f"between {applied[:12]} and the tip {tip[:12]}" in str(caught.value)
    s.src.verify(tip)  # the tip alone is fine: checking only it was the hole
    with pytest.raises(SignatureError, match=f"{stranger[:12]} is not signed by an allowed key"):
        s.policy().admit(tip, unsigned)
    s.policy().admit(tip, stranger)


def test_an_unsigned_commit_on_a_merged_branch_is_refused(tmp_path: Path) -> None:
    s = Signed(tmp_path)
    applied = s.commit("one", s.good)
    s.repo.git("checkout", "-q", "-b", "side")
    side = s.commit("side")
    s.repo.git("checkout", "-q", "main")
    s.commit("two", s.good)
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={s.good}"]
    s.repo.git(*sign, "merge", "-q", "--no-ff", "--no-edit", "-S", "side")
    merge = s.src.fetch()
    s.src.verify(merge)
    with pytest.raises(SignatureError, match=f"{side[:12]} is not signed"):
        s.policy().admit(merge, applied)


def test_commits_verified_per_tip_are_capped(tmp_path: Path) -> None:
    s = Signed(tmp_path)
    applied = s.commit("one", s.good)
    for name in ("two", "three", "four"):
        tip = s.commit(name, s.good)
    s.src.fetch()
    with pytest.raises(SignatureError, match="more than 2 new commits") as caught:
        s.policy(max_commits=2).admit(tip, applied)
    assert caught.value.reason == "too-many-commits"
    s.policy(max_commits=3).admit(tip, applied)


def ssh_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m%d%H%MZ")


def test_an_expired_key_is_refused_on_a_backdated_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    s = Signed(tmp_path, valid=f'valid-before="{ssh_time(now - DAY)}"')
    earlier = s.commit("before-expiry", s.good)
    s.src.fetch()
    s.policy(clock=now - 3 * DAY).admit(earlier, "")  # first seen while the key was valid
    # After expiry, the holder of the old key backdates a commit to before it.
    backdated = ssh_time(now - 2 * DAY)[:8]
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{backdated}T12:00:00Z")
    monkeypatch.setenv("GIT_AUTHOR_DATE", f"{backdated}T12:00:00Z")
    forged = s.commit("backdated", s.good)
    s.src.fetch()
    with pytest.raises(SignatureError, match=f"{forged[:12]} is not signed by an allowed key"):
        s.src.verify(forged)
    with pytest.raises(SignatureError, match=f"{forged[:12]}"):
        s.policy().admit(forged, earlier)
    # A restarted agent still knows it first saw ``earlier`` before the expiry.
    s.policy().admit(earlier, "")
    assert s.store.writes == 2


@pytest.mark.parametrize(
    ("options", "at", "kept"),
    [
        ('valid-before="20300101"', "2029-12-31", True),
        ('valid-before="20300101"', "2030-01-02", False),
        ('valid-after="20300101Z"', "2029-12-31", False),
        ('namespaces="git",valid-after="202001010000Z"', "2030-06-01", True),
        ('valid-before="soon"', "2029-01-01", False),
    ],
)
def test_allowed_signers_are_judged_at_the_given_time(options: str, at: str, kept: bool) -> None:
    line = f"dev@example.com {options} ssh-ed25519 AAAAC3Nza dev"
    when = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC).timestamp()
    text = signers.valid_at(f"# comment\n{line}\n", when)
    assert bool(text) is kept
    if kept:
        assert "valid-" not in text and text.endswith("ssh-ed25519 AAAAC3Nza dev\n")
        assert ('namespaces="git"' in text) is ("namespaces" in options)
