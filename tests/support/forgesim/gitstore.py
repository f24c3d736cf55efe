"""Bare git repositories for the forge simulator, and the git operations a forge performs on them.

Everything here shells out to the real ``git`` binary: repos are created, served (through
``git http-backend`` as a CGI program) and merged (``git merge-tree --write-tree`` then
``commit-tree`` and a compare-and-swap ``update-ref``) exactly as a forge would, with no work tree.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BOT_ENV = {
    "GIT_AUTHOR_NAME": "Forge Simulator",
    "GIT_AUTHOR_EMAIL": "forgesim@example.invalid",
    "GIT_COMMITTER_NAME": "Forge Simulator",
    "GIT_COMMITTER_EMAIL": "forgesim@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


class GitFailed(RuntimeError):
    """A git command exited non-zero."""


def git(repo: Path, *args: str, input_bytes: bytes | None = None, check: bool = True) -> str:
    """Run ``git -C repo args...`` and return stdout (stripped)."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=input_bytes,
        capture_output=True,
        env={**os.environ, **BOT_ENV},
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitFailed(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode().strip()


@dataclass(frozen=True)
class MergeAttempt:
    """Result of a trial merge: ``tree`` is None when the branches conflict."""

    tree: str | None
    base_sha: str
    head_sha: str


class BareRepo:
    """One bare repository at ``path`` (``<root>/<owner>/<name>.git``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # pure functions of two commit shas, so cached: keeps PR rendering to one git call
        self._merges: dict[tuple[str, str], str | None] = {}
        self._stats: dict[tuple[str, str], tuple[int, int, int, int]] = {}

    @classmethod
    def create(cls, path: Path, files: Mapping[str, str], default_branch: str) -> BareRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", default_branch, str(path)],
            check=True,
            env={**os.environ, **BOT_ENV},
        )
        repo = cls(path)
        if files:
            repo.commit_files(default_branch, files, "Initial commit")
        return repo

    def sha(self, branch: str) -> str | None:
        """The commit a branch points at, or None if it does not exist."""
        out = git(
            self.path, "rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}", check=False
        )
        return out or None

    def resolve(self, rev: str) -> str | None:
        """A branch name, full sha or short sha resolved to a commit sha, or None."""
        for candidate in (f"refs/heads/{rev}", rev):
            out = git(
                self.path, "rev-parse", "-q", "--verify", f"{candidate}^{{commit}}", check=False
            )
            if out:
                return out
        return None

    def branches(self) -> dict[str, str]:
        out = git(
            self.path, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"
        )
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def commit_info(self, sha: str) -> dict[str, str]:
        """Fields of one commit: tree, parents (space separated), author/committer, message."""
        fmt = "%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        out = git(self.path, "show", "-s", f"--format={fmt}", sha)
        keys = ["tree", "parents", "an", "ae", "ad", "cn", "ce", "cd", "message"]
        return dict(zip(keys, out.split("\x00", len(keys) - 1), strict=True))

    def rev_list(self, old: str, new: str) -> list[str]:
        """Commits reachable from ``new`` and not from ``old``, oldest first."""
        out = git(self.path, "rev-list", "--reverse", f"{old}..{new}")
        return [line for line in out.splitlines() if line]

    def tag(self, name: str, sha: str) -> None:
        git(self.path, "update-ref", f"refs/tags/{name}", sha)

    def signer(self, sha: str, allowed_signers: Path) -> tuple[str, str]:
        """git's signature check of a commit against an SSH allowed-signers file: the status
        letter (``G`` good, ``N`` none, ``B`` bad, ``E``/``U`` cannot tell) and the principal."""
        out = git(
            self.path,
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed_signers}",
            "show",
            "-s",
            "--format=%G?%x00%GS",
            sha,
            check=False,
        )
        status, _, principal = out.partition("\x00")
        return status or "E", principal

    def read_file(self, rev: str, path: str) -> str | None:
        out = subprocess.run(
            ["git", "-C", str(self.path), "show", f"{rev}:{path}"],
            capture_output=True,
            check=False,
        )
        return out.stdout.decode() if out.returncode == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(self.path), "merge-base", "--is-ancestor", ancestor, descendant],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def commit_files(
        self, branch: str, files: Mapping[str, str], message: str, start: str | None = None
    ) -> str:
        """Commit ``files`` (path → text) on ``branch``; return the sha. A missing branch is
        created from ``start`` (a branch), or as a root commit when ``start`` is None."""
        old = self.sha(branch)
        parent = old or (self.sha(start) if start else None)
        with tempfile.TemporaryDirectory(prefix="forgesim-") as tmp:
            env_index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            run_env = {**os.environ, **BOT_ENV, **env_index}
            base = ["git", "-C", str(self.path)]
            if parent:
                subprocess.run([*base, "read-tree", parent], env=run_env, check=True)
            for rel, text in files.items():
                blob = (
                    subprocess.run(
                        [*base, "hash-object", "-w", "--stdin"],
                        input=text.encode(),
                        capture_output=True,
                        env=run_env,
                        check=True,
                    )
                    .stdout.decode()
                    .strip()
                )
                subprocess.run(
                    [*base, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"],
                    env=run_env,
                    check=True,
                )
            tree = (
                subprocess.run([*base, "write-tree"], capture_output=True, env=run_env, check=True)
                .stdout.decode()
                .strip()
            )
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        sha = git(self.path, *args)
        if not self.update_ref(branch, sha, old):
            raise GitFailed(f"branch {branch} moved while committing")
        return sha

    def update_ref(self, branch: str, new: str, old: str | None) -> bool:
        """Compare-and-swap a branch; False if it moved meanwhile."""
        expected = old if old else "0" * 40
        proc = subprocess.run(
            ["git", "-C", str(self.path), "update-ref", f"refs/heads/{branch}", new, expected],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def delete_branch(self, branch: str) -> None:
        git(self.path, "update-ref", "-d", f"refs/heads/{branch}", check=False)

    def trial_merge(self, base: str, head: str) -> MergeAttempt | None:
        """Merge ``head`` into ``base`` without touching refs; None if a branch is missing."""
        tips = self.branches()
        base_sha, head_sha = tips.get(base), tips.get(head)
        if base_sha is None or head_sha is None:
            return None
        key = (base_sha, head_sha)
        if key not in self._merges:
            proc = subprocess.run(
                ["git", "-C", str(self.path), "merge-tree", "--write-tree", base_sha, head_sha],
                capture_output=True,
                env={**os.environ, **BOT_ENV},
                check=False,
            )
            ok = proc.returncode == 0
            self._merges[key] = proc.stdout.decode().split("\n", 1)[0].strip() if ok else None
        return MergeAttempt(tree=self._merges[key], base_sha=base_sha, head_sha=head_sha)

    def merge(self, base: str, attempt: MergeAttempt, message: str, squash: bool) -> str | None:
        """Write the merge commit for a clean ``attempt`` and move ``base``; None if base moved."""
        assert attempt.tree is not None
        parents = ["-p", attempt.base_sha] + ([] if squash else ["-p", attempt.head_sha])
        sha = git(self.path, "commit-tree", attempt.tree, *parents, "-m", message)
        return sha if self.update_ref(base, sha, attempt.base_sha) else None

    def diff_stats(self, base_sha: str, head_sha: str) -> tuple[int, int, int, int]:
        """(commits, additions, deletions, changed_files) of head relative to the merge base."""
        key = (base_sha, head_sha)
        if key not in self._stats:
            commits = git(self.path, "rev-list", "--count", f"{base_sha}..{head_sha}")
            numstat = git(self.path, "diff", "--numstat", f"{base_sha}...{head_sha}")
            adds = dels = files = 0
            for line in numstat.splitlines():
                a, d, _ = line.split("\t", 2)
                adds += int(a) if a.isdigit() else 0
                dels += int(d) if d.isdigit() else 0
                files += 1
            self._stats[key] = (int(commits or 0), adds, dels, files)
        return self._stats[key]


def http_backend(
    root: Path,
    *,
    method: str,
    path_info: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    remote_user: str,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run ``git http-backend`` for one smart-HTTP request; return (status, headers, body)."""
    env = {
        **os.environ,
        **BOT_ENV,
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "REMOTE_USER": remote_user,
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.get("content-type", ""),
    }
    for name in ("content-encoding", "git-protocol"):
        if name in headers:
            env["HTTP_" + name.upper().replace("-", "_")] = headers[name]
    if "git-protocol" in headers:
        env["GIT_PROTOCOL"] = headers["git-protocol"]
    proc = subprocess.run(
        ["git", "-c", "http.receivepack=true", "http-backend"],
        input=body,
        capture_output=True,
        env=env,
        check=False,
    )
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status = 200
    out_headers: list[tuple[str, str]] = []
    for line in head.decode(errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            out_headers.append((name.strip(), value.strip()))
    return status, out_headers, payload
