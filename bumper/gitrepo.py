"""Config-repo checkouts: a cached mirror per repo, a clean work tree per job, commit and push.

- ``RepoCache.checkout(url, branch)`` lends a job one of the cache's work trees of that URL
  (one per job running at the same time, each held with ``flock``), fetches it (never
  re-clones) and resets it to the branch: no stray edit or file of an earlier job survives,
  and only the files that changed since are written, where a fresh clone wrote every file.
  A work tree is cloned again when its last user died holding it (kill -9, OOM) or a git
  process was cut off in it (a timeout), since either may have left git's own lock files.
  ``RepoCache.mirror(url)`` keeps a bare mirror of a URL for callers that want one.
- ``Checkout.path(rel)`` confines every path to the work tree: absolute paths, ``..``, paths
  into ``.git`` and symlinks that resolve outside are rejected.
- ``Checkout.publish(...)`` is the race-safe write: reset to the remote base, apply the edit,
  commit as the bot author (signed when configured), push; a push rejected because the branch
  moved (a race: ``PushRejected``) re-fetches and re-applies the edit, so a concurrent writer's
  commit is never lost or overwritten. A push the remote refuses for good (a pre-receive or
  update hook, a protected branch, no right to push: ``PushRefused``) is never retried; the
  hook's own words, on one line, become the job's failure message.

Must not: talk to a forge API (``bumper.scm`` does), or decide what to edit (the caller's edit
function does). Credentials reach git through the environment (``GIT_CONFIG_*``), never through
the command line or the URL, and git's stderr is scrubbed of ``user:password@`` before it is
shown.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from bumper.core.changes import inline
from bumper.errors import (
    GitError,
    PathEscape,
    PermanentError,
    PushRefused,
    PushRejected,
    TransientError,
)

SigningFormat = Literal["openpgp", "ssh", "x509"]


@dataclass(frozen=True)
class Identity:
    """The bot author and committer of every commit Bumper makes."""

    name: str = "bumper[bot]"
    email: str = "bumper@localhost"


@dataclass(frozen=True)
class CommitSigner:
    """Commit signing through git itself (``gpg.format``): ``openpgp`` takes a key id,
    ``ssh`` a private-key path (or ``key::...`` literal), ``x509`` a gpgsm key id.

    Extension point: ``program`` replaces the signer (``gpg.<format>.program``), so an HSM, a
    KMS or sigstore's gitsign plugs in without code changes here.
    """

    format: SigningFormat
    key: str
    program: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # e.g. (("GNUPGHOME", path),) for a private keyring

    def git_config(self) -> dict[str, str]:
        config = {"commit.gpgsign": "true", "gpg.format": self.format, "user.signingkey": self.key}
        if self.program:
            config[f"gpg.{self.format}.program"] = self.program
        return config


@dataclass(frozen=True)
class Credentials:
    """HTTP credentials for the remote, sent as a Basic ``Authorization`` header."""

    username: str
    password: str = field(repr=False)

    def git_config(self) -> dict[str, str]:
        pair = f"{self.username}:{self.password}".encode()
        return {"http.extraHeader": "Authorization: Basic " + base64.b64encode(pair).decode()}


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_PERMANENT_HINTS = (
    "authentication failed",
    "repository not found",
    "does not appear to be a git repository",
    "does not exist",
    "could not read username",
    "permission denied",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
    "the requested url returned error: 404",
    "couldn't find remote ref",
    "remote branch",
)
# git's words for a ref the remote did not take (``--porcelain``: "!<TAB>src:dst<TAB>[rejected]
# (fetch first)"; without it: " ! [remote rejected] HEAD -> main (pre-receive hook declined)").
_REF_STATUS = re.compile(
    r"^(?:!\t[^\t]*\t| ?! )\[(?P<kind>remote rejected|rejected)\][^(\n]*\((?P<why>[^)\n]*)\)",
    re.MULTILINE,
)
# The branch moved under us: re-fetch, re-apply, push again.
_RACES = {
    "non-fast-forward": "non-fast-forward",
    "fetch first": "fetch-first",
    "stale info": "stale-info",
}
# The server lost a race between two pushes to the same ref: also worth another try.
_SERVER_RACES = ("failed to update ref", "failed to lock", "cannot lock ref", "incorrect old value")
# A push refused without a ref status: the credentials may read but not write.
_PUSH_DENIED = ("permission denied", "permission to", "returned error: 403")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REMOTE_WORDS_LIMIT = 400


def scrub(text: str) -> str:
    """``text`` without any ``user:password@`` in URLs: git echoes remote URLs in errors."""
    return _USERINFO.sub("***@", text)


def classify(args: list[str], stderr: str) -> GitError:
    """A ``GitError`` carrying a retry hint: auth and missing repos are permanent, a push the
    remote refused is ``PushRefused``, a push that lost a race is ``PushRejected``."""
    text = scrub(stderr.strip())[-4000:]
    lowered = text.lower()
    message = f"git {args[0]} failed: {text[-2000:] or 'no output'}"
    if args[0] == "push":
        refusal = push_refusal(text)
        if refusal is not None:
            return refusal
    if any(hint in lowered for hint in _PERMANENT_HINTS):
        return GitError(message, reason="git-permanent")
    return GitError(message, reason="git-transient")


def push_refusal(text: str) -> PushRejected | PushRefused | None:
    """What git's output says about a refused push: a race (``PushRejected``, with git's word
    for it as ``cause``), a refusal for good (``PushRefused``), or None when it says neither.
    One refusal outweighs any race: no retry can get that ref past the hook."""
    statuses = [(m["kind"], m["why"].strip().lower()) for m in _REF_STATUS.finditer(text)]
    refused = [why for kind, why in statuses if not _is_race(kind, why)]
    words = remote_words(text)
    if refused:
        return PushRefused(_refused_message(refused[0], words))
    if statuses:
        kind, why = statuses[0]
        cause = _RACES.get(why, "remote-lock" if kind == "remote rejected" else why)
        return PushRejected(f"push rejected ({why}): the branch moved", cause=cause)
    if any(hint in text.lower() for hint in _PUSH_DENIED):
        return PushRefused(_refused_message("permission denied", words))
    return None


def _is_race(kind: str, why: str) -> bool:
    if kind == "rejected":
        return why in _RACES
    return any(hint in why for hint in _SERVER_RACES)


def remote_words(text: str) -> str:
    """What the remote's hooks printed (git's ``remote:`` lines), as one bounded line."""
    lines = []
    for line in text.splitlines():
        if line.startswith("remote:"):
            said = _ANSI.sub("", line[len("remote:") :]).strip()
            if said:
                lines.append(said)
    return inline(" | ".join(lines), REMOTE_WORDS_LIMIT)


def _refused_message(why: str, words: str) -> str:
    return f"push refused by the remote ({why})" + (f": {words}" if words else "")


def as_job_error(error: GitError) -> PermanentError | TransientError:
    """The job-level error for a git failure: permanent ones fail, others retry later."""
    if isinstance(error, PushRefused):
        return PermanentError(str(error), reason="push-refused")
    if error.reason == "git-permanent":
        return PermanentError(str(error), reason="git")
    return TransientError(str(error), delay=5.0, reason=error.reason)


class Git:
    """Runs git with a fixed environment: no prompts, extra config from ``GIT_CONFIG_*``."""

    def __init__(
        self,
        config: dict[str, str] | None = None,
        *,
        timeout: float = 300.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.config = dict(config or {})
        self.timeout = timeout
        self.extra_env = dict(extra_env or {})
        # A remote's hook may echo what it received; our own credentials never leave in an error.
        self.secrets = tuple(v for k, v in self.config.items() if k.lower() == "http.extraheader")
        # A git process cut off mid-way (timeout, an exception such as RQ's job timeout) may
        # leave its lock files behind: its work tree is not lent again (``RepoCache.checkout``).
        self.interrupted = False

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_ASKPASS": "true"})
        env["GIT_CONFIG_COUNT"] = str(len(self.config))
        for index, (key, value) in enumerate(self.config.items()):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def run(
        self, args: list[str], cwd: Path, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired as error:
            self.interrupted = True
            raise GitError(
                f"git {args[0]} timed out after {self.timeout:.0f}s", reason="git-transient"
            ) from error
        except BaseException:
            self.interrupted = True
            raise
        if check and done.returncode != 0:
            raise classify(args, self.redact(f"{done.stderr}\n{done.stdout}"))
        return done

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            for part in (secret, secret.rsplit(" ", 1)[-1]):
                if len(part) >= 8:
                    text = text.replace(part, "***")
        return text

    def out(self, args: list[str], cwd: Path) -> str:
        return self.run(args, cwd).stdout.strip()


def _ignore(cause: str) -> None:
    pass


def confine(root: Path, rel: str | os.PathLike[str]) -> Path:
    """``root / rel`` if it stays inside ``root`` after resolving symlinks; else ``PathEscape``."""
    text = os.fspath(rel).replace("\\", "/")
    parts = PurePosixPath(text).parts
    if not parts or text.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", text):
        raise PathEscape(f"path {text!r} is not a relative path inside the checkout")
    if ".git" in parts:
        raise PathEscape(f"path {text!r} points into .git")
    base = root.resolve()
    full = base.joinpath(*parts)
    if not full.resolve().is_relative_to(base):
        raise PathEscape(f"path {text!r} leaves the checkout through a symlink")
    return full


@dataclass(frozen=True)
class Published:
    """What ``publish`` pushed: the commit, the branch and how many attempts it took."""

    sha: str
    branch: str
    attempts: int
    pushed: bool = True  # False: the side branch already held exactly this change


class Checkout:
    """A clean work tree of one repo for one job; ``origin`` is the real remote."""

    def __init__(
        self,
        root: Path,
        git: Git,
        *,
        identity: Identity,
        signing: CommitSigner | None,
        on_race: Callable[[str], None] | None = None,
    ):
        self.root = root
        self.git = git
        self.identity = identity
        self.signing = signing
        # Called with ``PushRejected.cause`` before each re-push (the worker counts them).
        self.on_race = on_race or _ignore
        # The ref the work tree was last reset to, while nobody has looked at a file since:
        # publish's first try need not reset a tree that is exactly its base already.
        self._pristine_at: str | None = None

    def path(self, rel: str | os.PathLike[str]) -> Path:
        self._pristine_at = None  # a caller holding a path may have changed the file
        return confine(self.root, rel)

    def run(self, *args: str) -> str:
        return self.git.out(list(args), self.root)

    def remote_sha(self, branch: str) -> str | None:
        """The branch's current commit on the remote, or None when it does not exist."""
        line = self.run("ls-remote", "origin", f"refs/heads/{branch}")
        return line.split()[0] if line else None

    def local_sha(self, branch: str) -> str | None:
        """The branch as of the last fetch (``refs/remotes/origin/<branch>``), or None."""
        found = self.git.run(
            ["rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"],
            self.root,
            check=False,
        )
        return found.stdout.strip() or None

    def fetch(self, *branches: str) -> None:
        specs = [f"+refs/heads/{b}:refs/remotes/origin/{b}" for b in branches]
        self.run("fetch", "--quiet", "--no-tags", "origin", *specs)

    def reset(self, ref: str) -> None:
        """Make the work tree exactly ``ref``: no stray edits or files survive from a try."""
        self._pristine_at = None
        self.run("checkout", "--quiet", "--force", "-B", "bumper-work", ref)
        self.run("clean", "-fdxq")
        self._pristine_at = ref

    def head(self) -> str:
        return self.run("rev-parse", "HEAD")

    def commit(self, message: str) -> str | None:
        """Commit every change as the bot; None when the tree did not change."""
        self._pristine_at = None
        self.run("add", "--all")
        if self.git.run(["diff", "--cached", "--quiet"], self.root, check=False).returncode == 0:
            return None
        config: dict[str, str] = {
            "user.name": self.identity.name,
            "user.email": self.identity.email,
        }
        git = self.git
        if self.signing is not None:
            config.update(self.signing.git_config())
            git = Git(self.git.config, timeout=self.git.timeout, extra_env=dict(self.signing.env))
        flags = [item for key, value in config.items() for item in ("-c", f"{key}={value}")]
        args = [*flags, "commit", "--quiet", "--no-verify", "-F", self._message_file(message)]
        try:
            git.run(args, self.root)
        finally:
            self.git.interrupted |= git.interrupted
        return self.head()

    def _message_file(self, message: str) -> str:
        path = self.root.parent / f"{self.root.name}.msg"
        path.write_text(message if message.endswith("\n") else message + "\n", encoding="utf-8")
        return str(path)

    def push(self, branch: str, *, lease: str | None | Literal[False] = False) -> None:
        """Push HEAD to ``branch``. ``lease=False``: fast-forward only; a sha or None: force,
        but only if the remote branch is still at that sha (None: still absent)."""
        args = ["push", "--quiet", "--porcelain", "origin"]
        if lease is not False:
            args.append(f"--force-with-lease=refs/heads/{branch}:{lease or ''}")
        self.run(*args, f"HEAD:refs/heads/{branch}")

    def _same_change(self, branch: str, remote: str, base: str) -> bool:
        """Whether the remote side branch (at ``remote``) is our HEAD already: same parent and
        same tree. Re-pushing it would only restart the PR's checks for nothing."""
        if self.local_sha(branch) != remote:
            self.fetch(branch)
            if self.local_sha(branch) != remote:
                return False
        parent = self.git.run(
            ["rev-parse", "--verify", "--quiet", f"{remote}^"], self.root, check=False
        )
        if parent.stdout.strip() != self.run("rev-parse", f"refs/remotes/origin/{base}"):
            return False
        return self.run("rev-parse", f"{remote}^{{tree}}") == self.run("rev-parse", "HEAD^{tree}")

    def delete_branch(self, branch: str) -> bool:
        """Delete ``branch`` on the remote; False if it was already gone."""
        if self.remote_sha(branch) is None:
            return False
        self.run("push", "--quiet", "origin", f":refs/heads/{branch}")
        return True

    def publish(
        self,
        *,
        base: str,
        edit: Callable[[Checkout], str | None],
        branch: str | None = None,
        attempts: int = 5,
    ) -> Published | None:
        """Reset to the remote ``base``, run ``edit`` (returns the commit message, or None when
        there is nothing to change), commit and push to ``branch`` (default: ``base``, fast
        forward). A side ``branch`` is rebuilt from ``base`` each time and force-pushed with a
        lease. A rejected push re-fetches and re-applies the edit, up to ``attempts`` times."""
        target = branch or base
        races: list[str] = []
        for attempt in range(1, attempts + 1):
            # A fresh checkout already holds every remote branch (the mirror was just
            # fetched), so the first try needs no network; a retry looks again.
            if attempt > 1:
                self.fetch(base)
            lease: str | None | Literal[False] = False
            if target != base:
                lease = self.remote_sha(target) if attempt > 1 else self.local_sha(target)
            if attempt > 1 or self._pristine_at != f"refs/remotes/origin/{base}":
                self.reset(f"refs/remotes/origin/{base}")
            message = edit(self)
            if message is None:
                return None
            sha = self.commit(message)
            if sha is None:
                return None
            if lease and self._same_change(target, lease, base):
                return Published(sha=lease, branch=target, attempts=attempt, pushed=False)
            try:
                self.push(target, lease=lease)
            except PushRejected as rejected:  # a race; a PushRefused is never retried
                races.append(rejected.cause)
                self.on_race(rejected.cause)
                continue
            return Published(sha=sha, branch=target, attempts=attempt)
        raise TransientError(
            f"push to {target!r} was rejected {attempts} times ({', '.join(races)}): "
            "the branch keeps moving",
            delay=2.0,
            reason="push-race",
        )


class RepoCache:
    """One bare mirror per remote URL under ``root``, fetched on use; work trees beside it."""

    def __init__(
        self,
        root: Path,
        *,
        identity: Identity | None = None,
        signing: CommitSigner | None = None,
        timeout: float = 300.0,
        on_race: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.identity = identity or Identity()
        self.signing = signing
        self.timeout = timeout
        self.on_race = on_race

    def _git(self, credentials: Credentials | None) -> Git:
        config = {
            "gc.auto": "0",
            # no `git maintenance run --auto` spawned after every fetch and commit
            "maintenance.auto": "false",
            "core.hooksPath": os.devnull,
            "protocol.file.allow": "always",
        }
        if credentials is not None:
            config.update(credentials.git_config())
        return Git(config, timeout=self.timeout)

    @staticmethod
    def key(url: str) -> str:
        """A stable, path-safe directory name for a URL (its last path part plus a hash)."""
        tail = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:40]
        return (
            f"{tail.removesuffix('.git') or 'repo'}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        )

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        # Several worker processes share the cache: one fetch at a time per mirror.
        with open(self.root / f"{name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def mirror(self, url: str, credentials: Credentials | None = None) -> Path:
        """The up-to-date bare mirror of ``url``: cloned once, fetched afterwards."""
        self.root.joinpath("mirrors").mkdir(parents=True, exist_ok=True)
        name = self.key(url)
        path = self.root / "mirrors" / f"{name}.git"
        git = self._git(credentials)
        with self._locked(f"mirrors/{name}"):
            if (path / "HEAD").exists():
                git.run(["remote", "set-url", "origin", url], path)
                git.run(["fetch", "--quiet", "--prune", "origin"], path)
            else:
                shutil.rmtree(path, ignore_errors=True)
                tmp = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=self.root / "mirrors"))
                try:
                    git.run(["clone", "--quiet", "--mirror", url, str(tmp / "m.git")], self.root)
                    (tmp / "m.git").rename(path)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        return path

    @contextlib.contextmanager
    def checkout(
        self,
        url: str,
        branch: str,
        credentials: Credentials | None = None,
        *,
        identity: Identity | None = None,
        signing: CommitSigner | None = None,
    ) -> Iterator[Checkout]:
        """A clean work tree on ``branch`` whose ``origin`` is ``url``, fetched just now; lent
        for the block (see the module docstring). ``identity``/``signing`` override the cache's
        defaults for this repo."""
        git = self._git(credentials)
        try:
            with self._work_tree(url, git) as work:
                checkout = Checkout(
                    work,
                    git,
                    identity=identity or self.identity,
                    signing=signing or self.signing,
                    on_race=self.on_race,
                )
                if checkout.local_sha(branch) is None:
                    raise PermanentError(
                        f"branch {branch!r} does not exist in {scrub(url)}", reason="git"
                    )
                checkout.reset(f"refs/remotes/origin/{branch}")
                yield checkout
        except GitError as error:
            raise as_job_error(error) from error

    @contextlib.contextmanager
    def _work_tree(self, url: str, git: Git) -> Iterator[Path]:
        """A work tree of ``url`` nobody else holds, fetched (or cloned when new or suspect)."""
        slots = self.root / "trees" / self.key(url)
        slots.mkdir(parents=True, exist_ok=True)
        with _free_slot(slots) as slot:
            work = slots / slot
            in_use = slots / f"{slot}.in-use"
            if in_use.exists() or not (work / ".git" / "HEAD").exists():
                shutil.rmtree(work, ignore_errors=True)  # its last user died in it, or new
                in_use.touch()
                try:
                    git.run(["clone", "--quiet", "--no-checkout", url, str(work)], slots)
                except BaseException:
                    shutil.rmtree(work, ignore_errors=True)
                    raise
            else:
                in_use.touch()
                git.run(["fetch", "--quiet", "--prune", "--no-tags", "origin"], work)
            try:
                yield work
            finally:
                slots.joinpath(f"{slot}.msg").unlink(missing_ok=True)
                if not git.interrupted:
                    in_use.unlink(missing_ok=True)


@contextlib.contextmanager
def _free_slot(slots: Path) -> Iterator[str]:
    """The name of the first work-tree slot under ``slots`` no process holds, held (``flock``,
    released by the kernel even on kill -9) for the block."""
    number = 0
    while True:
        with open(slots / f"{number}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                number += 1
                continue
            try:
                yield str(number)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return
