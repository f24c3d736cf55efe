"""Fetch one branch of the config repo incrementally, verify commit signatures, export trees.

A bare mirror under the cache dir is fetched with read-only credentials: an HTTPS token (sent
as an ``http.extraHeader`` through git's environment, never on a command line or in a URL) or
an SSH deploy key. When allowed signers (SSH) or allowed GPG keys are configured, a commit
without a good signature from one of them is refused; which commits must be verified, and
when each was first seen, is ``signing``'s policy. Messages never contain credentials.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bumper import secrets
from bumper.agent import signers, untar
from bumper.errors import ConfigError, SignatureError, TransientError

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_CANNOT_READ = "fatal: Could not read from remote repository."
_GIT_ADVICE = ("Please make sure you have the correct access rights", "and the repository exists.")


@dataclass(frozen=True)
class GitAuth:
    token_file: Path | None = None
    username: str = "x-access-token"
    ssh_key_file: Path | None = None
    ssh_known_hosts: Path | None = None


@dataclass(frozen=True)
class Trust:
    """Allowed signers; verification is on when either is given."""

    allowed_signers: Path | None = None
    gpg_keys: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.allowed_signers is not None or self.gpg_keys is not None


def redact(text: str) -> str:
    """Strip user-info from URLs (``https://user:token@host`` → ``https://host``)."""
    return _USERINFO.sub("", text)


@dataclass
class GitSource:
    url: str
    branch: str
    cache: Path
    auth: GitAuth = field(default_factory=GitAuth)
    trust: Trust = field(default_factory=Trust)
    timeout: float = 120.0

    def __post_init__(self) -> None:
        self.mirror = self.cache / "mirror.git"
        self._gnupg = self.cache / "gnupg"
        self._trust_ready = False

    # -- git plumbing -----------------------------------------------------------------------

    def _ssh_command(self, key: Path) -> str:
        """ssh with the deploy key only, and no user or system ssh config.

        ``-F /dev/null``: a ~/.ssh/config (an IdentityFile, a ProxyCommand) must not change
        what the agent connects to or with. Without ``ssh_known_hosts`` the first host key is
        trusted (accept-new) and kept in the cache dir, so that later fetches check it: the
        home directory may be read-only, and ssh then silently checks nothing at all.
        """
        ssh = f"ssh -F /dev/null -i '{key}' -o IdentitiesOnly=yes -o BatchMode=yes"
        if self.auth.ssh_known_hosts is not None:
            known, checking = self.auth.ssh_known_hosts, "yes"
        else:
            known, checking = self.cache / "known_hosts", "accept-new"
        return f"{ssh} -o UserKnownHostsFile='{known}' -o StrictHostKeyChecking={checking}"

    def _env(
        self, push_token: str | None = None, signers_file: Path | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        env.update(
            GIT_AUTHOR_NAME="bumper-agent",
            GIT_AUTHOR_EMAIL="bumper-agent@localhost",
            GIT_COMMITTER_NAME="bumper-agent",
            GIT_COMMITTER_EMAIL="bumper-agent@localhost",
        )
        config: list[tuple[str, str]] = [("protocol.file.allow", "always")]
        token = push_token
        if token is None and self.auth.token_file is not None:
            token = secrets.read_file(self.auth.token_file, "git token")
        if token is not None:
            basic = base64.b64encode(f"{self.auth.username}:{token}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        if self.auth.ssh_key_file is not None:
            env["GIT_SSH_COMMAND"] = self._ssh_command(self.auth.ssh_key_file)
        signers_file = signers_file or self.trust.allowed_signers
        if signers_file is not None:
            config.append(("gpg.ssh.allowedSignersFile", str(signers_file)))
        if self.trust.gpg_keys is not None:
            env["GNUPGHOME"] = str(self._gnupg)
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        return env

    def _git(
        self,
        *args: str,
        check: bool = True,
        push_token: str | None = None,
        signers_file: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", "--git-dir", str(self.mirror), *args],
                capture_output=True,
                text=True,
                env=self._env(push_token, signers_file),
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise TransientError(f"git {args[0]} timed out", reason="git-timeout") from error
        if check and done.returncode != 0:
            detail = _failure_detail(done.stderr) or f"exit {done.returncode}"
            raise TransientError(f"git {args[0]} failed: {redact(detail)}", delay=15, reason="git")
        return done

    # -- public -----------------------------------------------------------------------------

    def fetch(self) -> str:
        """Fetch the branch (incremental after the first time); return its tip commit."""
        if not (self.mirror / "HEAD").exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--quiet", "--bare", str(self.mirror)],
                check=True,
                capture_output=True,
                env=self._env(),
            )
        ref = f"refs/heads/{self.branch}"
        self._git("fetch", "--quiet", "--no-tags", self.url, f"+{ref}:{ref}")
        sha = self._git("rev-parse", "--verify", f"{ref}^{{commit}}").stdout.strip()
        if not SHA.match(sha):
            raise TransientError(f"unexpected commit id from git: {sha[:80]!r}")
        return sha

    def verify(self, sha: str, *, at: float | None = None) -> None:
        """Raise ``SignatureError`` unless ``sha`` carries a good signature from an allowed key.

        ``at`` (Unix time, default now) is when the agent first saw the commit: an SSH key is
        judged valid or expired (``valid-after``/``valid-before``) at that time, never at the
        date the commit claims. gpg judges a GPG key's expiry now, which is stricter still.
        """
        if not self.trust.enabled:
            return
        self._prepare_trust()
        allowed = self._signers_at(time.time() if at is None else at)
        done = self._git("verify-commit", "--raw", sha, check=False, signers_file=allowed)
        if done.returncode == 0:
            return
        raw = done.stderr
        if "no signature" in raw.lower() or not raw.strip():
            raise SignatureError(f"commit {sha[:12]} is not signed; signatures are required")
        raise SignatureError(
            f"commit {sha[:12]} is not signed by an allowed key (valid when the agent first saw it)"
        )

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``new`` descends from ``old`` (False when ``old`` is not in the mirror)."""
        return self._git("merge-base", "--is-ancestor", old, new, check=False).returncode == 0

    def new_commits(self, tip: str, since: str | None, limit: int) -> list[str]:
        """Commits reachable from ``tip`` but not from ``since`` (all its history when None),
        newest first, at most ``limit``; merges' other parents included."""
        exclude = [f"^{since}"] if since and self.has(since) else []
        listed = self._git("rev-list", f"--max-count={limit}", tip, *exclude, "--")
        return listed.stdout.split()

    def _signers_at(self, when: float) -> Path | None:
        """The allowed-signers file as of ``when`` (``signers.valid_at``), in the cache dir."""
        if self.trust.allowed_signers is None:
            return None
        try:
            text = signers.valid_at(self.trust.allowed_signers.read_text(), when)
        except (OSError, UnicodeDecodeError) as error:
            where = self.trust.allowed_signers
            raise ConfigError(f"cannot read allowed signers file {where}: {error}") from error
        name = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = self.cache / f"allowed_signers.{name}"
        if not path.exists():
            path.write_text(text)
        return path

    def export(self, sha: str, dest: Path, skipped: list[tuple[str, str]] | None = None) -> Path:
        """Write the tree of ``sha`` to a fresh ``dest`` directory (via ``git archive``).

        A symbolic link to an absolute path or out of the tree is left out (never written,
        so nothing reads through it) and appended to ``skipped`` as ``(path, reason)``: one
        such link must not stop every sync of the repository."""
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        proc = subprocess.Popen(
            ["git", "--git-dir", str(self.mirror), "archive", "--format=tar", sha],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env(),
        )
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                untar.extract(archive, str(dest), skipped)
        except tarfile.TarError as error:
            raise TransientError(f"cannot export {sha[:12]}: {error}") from error
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise TransientError(f"git archive {sha[:12]} failed: {redact(err.strip())}")
        return dest

    def push_revert(self, bad: str, good: str, branch: str, message: str, token: str) -> None:
        """Push a commit on top of ``bad`` whose tree is ``good``'s to ``branch``.

        It uses the forge token (the read-only git credentials cannot push); raises
        ``TransientError`` when the push is refused.
        """
        tree = self._git("rev-parse", f"{good}^{{tree}}").stdout.strip()
        commit = self._git("commit-tree", tree, "-p", bad, "-m", message).stdout.strip()
        self._git(
            "push",
            "--quiet",
            "--force",
            self.url,
            f"{commit}:refs/heads/{branch}",
            push_token=token,
        )

    def has(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def _prepare_trust(self) -> None:
        if self._trust_ready:
            return
        if self.trust.gpg_keys is not None:
            self._gnupg.mkdir(mode=0o700, parents=True, exist_ok=True)
            done = subprocess.run(
                ["gpg", "--batch", "--quiet", "--import", str(self.trust.gpg_keys)],
                capture_output=True,
                env={**os.environ, "GNUPGHOME": str(self._gnupg)},
                check=False,
            )
            if done.returncode != 0:
                raise ConfigError(f"cannot import allowed GPG keys from {self.trust.gpg_keys}")
        if self.trust.allowed_signers is not None and not self.trust.allowed_signers.is_file():
            raise ConfigError(f"allowed signers file {self.trust.allowed_signers} is missing")
        self._trust_ready = True


def _failure_detail(stderr: str) -> str:
    """The line of git's stderr that says why it failed.

    When the transport (ssh) fails, git ends with a generic "Could not read from remote
    repository." and two lines of advice; the reason ("Permission denied (publickey).",
    "Host key verification failed.") is the line before them, so it is kept in front.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln not in _GIT_ADVICE]
    if len(lines) >= 2 and lines[-1] == _CANNOT_READ:
        return f"{lines[-2]} ({lines[-1]})"
    return lines[-1] if lines else ""
