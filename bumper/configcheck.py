"""The checks of bumper.yaml that need more than its model: senders, secrets and weak auth.

:mod:`bumper.core.config` validates the file itself (types, names, policies, a ``mode`` its
repo's forge can do). This module adds what needs the senders (``bumper.sources``) and the
process' environment: an unknown sender type, a receiver secret that is unset, unreadable or
refused by its sender, a repo credential or signing key that cannot be read, and a warning for
receivers whose sender offers only a token in the URL. Every problem is a
``bumper.core.config.Issue`` with the key it is about, and its message says the fix.

The same functions back ``bumper check-config`` and the start of each process (``startup``):
the web process checks its receivers, the worker its repos, so a process whose secrets live
elsewhere (the worker has no receiver secrets) is not refused for them. ``startup`` raises a
one-line ``ConfigError`` naming the file, the line, the key and the fix.

Must not: print or log a secret value (messages name the variable or file), or touch a repo
(``worker.targetcheck`` reads target files).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from bumper import configfile, secrets, sources
from bumper.core import config
from bumper.errors import ConfigError
from bumper.sources import scoping

Process = Literal["web", "worker"]


def _secret_issue(loc: config.Loc, error: ConfigError, ref: config.SecretRef) -> config.Issue:
    fix = (
        f"set {ref.env} in the process' environment"
        if ref.env is not None
        else f"create {ref.file} (a path relative to bumper.yaml's directory)"
    )
    return config.Issue(loc, f"{error}: {fix}, or point {config.format_loc(loc)} elsewhere")


def receiver_issues(
    cfg: config.BumperConfig, base: Path, environ: Mapping[str, str] | None = None
) -> list[config.Issue]:
    """Unknown sender types, secrets the web process could not use, weak-auth warnings."""
    from bumper.web import receivers  # no Flask: resolves and checks receiver secrets only

    issues = list(scoping.problems(cfg))
    for index, receiver in enumerate(cfg.receivers):
        sender = sources.SENDERS.get(receiver.type)
        if sender is None:
            known = ", ".join(sorted(sources.SENDERS))
            message = f"unknown sender type {receiver.type!r}: use one of {known}"
            issues.append(config.Issue(("receivers", index, "type"), message))
            continue
        if sender.auth.name == "url-token":
            issues.append(config.Issue(("receivers", index, "type"), _weak(receiver), warning=True))
        if receiver.secret is None:
            continue
        loc: config.Loc = ("receivers", index, "secret")
        try:
            secret = secrets.resolve(receiver.secret, base=base, environ=environ)
        except ConfigError as error:
            issues.append(_secret_issue(loc, error, receiver.secret))
            continue
        try:
            receivers.check_secret(receiver, secret)  # its message says what the sender needs
        except ConfigError as error:
            issues.append(config.Issue(loc, str(error)))
    return issues


def _weak(receiver: config.Receiver) -> str:
    return (
        f"receiver {receiver.name!r}: {receiver.type} can only send its secret as a token in "
        "the URL, which proxies and access logs may record; keep the URL private, rotate the "
        "token if it leaks, and prefer a signing sender where the registry offers one"
    )


def repo_issues(
    cfg: config.BumperConfig, base: Path, environ: Mapping[str, str] | None = None
) -> list[config.Issue]:
    """Repo credentials and signing keys the worker could not read."""
    issues: list[config.Issue] = []
    for index, repo in enumerate(cfg.repos):
        refs: list[tuple[config.Loc, config.SecretRef]] = []
        if repo.credentials is not None:
            refs.append((("repos", index, "credentials"), repo.credentials))
        if repo.signing is not None:
            refs.append((("repos", index, "signing", "key"), repo.signing.key))
        for loc, ref in refs:
            try:
                secrets.resolve(ref, base=base, environ=environ)
            except ConfigError as error:
                issues.append(_secret_issue(loc, error, ref))
    return issues


def default_mode_issues(cfg: config.BumperConfig) -> list[config.Issue]:
    """Targets on a plain git repo that leave ``mode`` at its default, ``pr``: every bump of
    theirs would fail (no pull requests there), so check-config refuses them like a written-out
    ``mode: pr``. The default is not silently turned into ``commit``: pushing straight to the
    branch is a choice the user makes, not one Bumper makes for them."""
    issues: list[config.Issue] = []
    for i_index, rule in enumerate(cfg.images):
        for t_index, target in enumerate(rule.targets):
            repo = cfg.repo(target.repo)
            if repo is None or repo.forge != "git" or "mode" in target.model_fields_set:
                continue
            message = (
                f"mode is not set, so it is pr, but repo {repo.name!r} is forge: git (no pull "
                "requests): every bump would fail; set mode: commit, or use forge: github or gitlab"
            )
            loc = ("images", i_index, "targets", t_index)
            issues.append(config.Issue(loc, message))
    return issues


def all_issues(
    cfg: config.BumperConfig, base: Path, environ: Mapping[str, str] | None = None
) -> list[config.Issue]:
    """What ``bumper check-config`` reports besides the model's own rules."""
    return (
        receiver_issues(cfg, base, environ)
        + repo_issues(cfg, base, environ)
        + default_mode_issues(cfg)
    )


def for_process(
    process: Process, base: Path
) -> Callable[[config.BumperConfig], list[config.Issue]]:
    """The checks one process runs at start: the web process its receivers, the worker its
    repos (each has only its own secrets)."""
    checks = receiver_issues if process == "web" else repo_issues
    return lambda cfg: checks(cfg, base)


def startup(path: Path, process: Process) -> config.BumperConfig:
    """The validated config for ``process``; else a one-line ``ConfigError``: the file, line,
    key and fix of the first problem, and how many more ``bumper check-config`` lists."""
    base = path.resolve().parent
    result, issues = configfile.check(path, for_process(process, base))
    if result is not None:
        return result
    errors = [issue for issue in issues if not issue.warning] or [
        config.Issue((), "invalid configuration")
    ]
    first = errors[0]
    line = f"{first.line}:" if first.line else ""
    more = f" (and {len(errors) - 1} more: run 'bumper check-config')" if len(errors) > 1 else ""
    where = first.path or "(document)"
    raise ConfigError(f"{path}:{line} {where}: {first.message}{more}", path=first.path or None)
