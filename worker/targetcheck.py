"""Do the targets of bumper.yaml exist? Each target's paths must select a file in its repo's
branch, and one of those files must hold the rule's image (any spelling the finder knows).

``problems`` clones each repo once (shallow, the configured branch and credentials, into a
temporary directory removed afterwards) and reads it with ``bumper.edittree``, as a bump does.
``bumper check-config`` runs it for every repo; ``bumper worker`` at start only for repos on
the local file system (``local=True``: no network at start, and a start that needs a forge up
would fail with it).

Must not: write to a repo, follow a link out of the checkout (``edittree`` refuses), or show
a credential (git's output is scrubbed by ``bumper.gitrepo``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from bumper import edittree, gitrepo
from bumper.core import config
from bumper.errors import BumperError
from worker import remotes


def is_local(repo: config.Repo, base: Path) -> bool:
    url = remotes.clone_url(repo, base)
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url) and Path(url).exists()


def problems(
    cfg: config.BumperConfig, base: Path, *, local: bool = False, timeout: float = 120.0
) -> list[config.Issue]:
    """One issue per target whose files are missing or do not hold the image, and one per repo
    that cannot be read (with its reason)."""
    issues: list[config.Issue] = []
    for r_index, repo in enumerate(cfg.repos):
        if local and not is_local(repo, base):
            continue
        uses = [
            (i_index, t_index, rule, target)
            for i_index, rule in enumerate(cfg.images)
            for t_index, target in enumerate(rule.targets)
            if target.repo == repo.name
        ]
        if not uses:
            continue
        with tempfile.TemporaryDirectory(prefix="bumper-check-") as tmp:
            try:
                tree = _clone(repo, base, Path(tmp) / "repo", timeout)
            except BumperError as error:
                message = (
                    f"cannot read repo {repo.name!r} (branch {repo.branch}): "
                    f"{gitrepo.scrub(str(error)).strip().splitlines()[-1]}: fix url, branch or "
                    "credentials, or run 'bumper check-config --offline' to skip this check"
                )
                issues.append(config.Issue(("repos", r_index, "url"), message))
                continue
            for i_index, t_index, rule, target in uses:
                problem = _target_problem(tree, repo, rule, target)
                if problem:
                    loc = ("images", i_index, "targets", t_index, "paths")
                    issues.append(config.Issue(loc, problem))
    return issues


def local_problems(cfg: config.BumperConfig, base: Path) -> list[str]:
    """``problems`` for local repos only, as one line each (for the worker's start)."""
    return [str(issue) for issue in problems(cfg, base, local=True)]


def _clone(repo: config.Repo, base: Path, into: Path, timeout: float) -> Path:
    credentials = remotes.credentials(repo, base)
    git = gitrepo.Git(credentials.git_config() if credentials else None, timeout=timeout)
    url = remotes.clone_url(repo, base)
    args = ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"]
    git.run([*args, "--branch", repo.branch, "--", url, str(into)], into.parent)
    return into


def _target_problem(
    tree: Path, repo: config.Repo, rule: config.Image, target: config.Target
) -> str | None:
    where = f"repo {repo.name!r} (branch {repo.branch})"
    globs = ", ".join(target.paths)
    try:
        selected = edittree.select(tree.resolve(), target.paths).files
        found = edittree.scan_image(tree, target.paths, rule.image) if selected else None
    except BumperError as error:
        return f"{error} in {where}: fix the paths or add the file"
    if not selected or found is None:
        return f"no file in {where} matches {globs}: fix the paths or add the file"
    if not found.files:
        return (
            f"none of the {len(selected)} file(s) matching {globs} in {where} holds "
            f"{rule.image}: fix the paths, or write the image there once by hand"
        )
    return None
