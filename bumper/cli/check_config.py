"""``bumper check-config [FILE]``: validate bumper.yaml and report every problem with its place.

Each problem is one line, ``FILE:LINE: path: message`` (``path`` like
``images[1].policy.semver``); a warning reads ``FILE:LINE: path: warning: message``. Besides the
file's own rules, the receivers' scopes are checked against their senders
(``bumper.sources.scoping``). Exit 2 when there is any error, 0 with a summary otherwise
(warnings included).

Receiver secrets are checked as the web process checks them at start (blank, malformed, or
under 16 bytes of shared secret: a problem). A secret that cannot be read here (its variable
is not set where the check runs, its file is elsewhere) is not a problem: it is listed as a
``note:`` line, since the web process checks it where it runs. Messages name the variable or
file, never the value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bumper import configfile, settings
from bumper.core import config
from bumper.errors import ConfigError
from bumper.sources import scoping


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config", help="validate bumper.yaml; list every error with its path"
    )
    parser.add_argument(
        "file", nargs="?", type=Path, help="the file (default: BUMPER_CONFIG_FILE or bumper.yaml)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file or settings.load().config_file
    result, issues = configfile.check(path, scoping.problems)
    notes: list[str] = []
    if result is not None:
        secret_errors, notes = secret_issues(result, path)
        issues = issues + secret_errors
        if secret_errors:
            result = None
    for note in notes:
        print(f"{path}: note: {note}", file=sys.stderr)
    for issue in issues:
        line = f"{issue.line}:" if issue.line else ""
        where = issue.path or "(document)"
        kind = "warning: " if issue.warning else ""
        print(f"{path}:{line} {where}: {kind}{issue.message}", file=sys.stderr)
    if result is None:
        count = sum(not issue.warning for issue in issues)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    print(f"{path}: valid; {summary(result)}")
    return 0


def secret_issues(cfg: config.BumperConfig, path: Path) -> tuple[list[config.Issue], list[str]]:
    """Receiver secrets the web process would refuse (issues), and those not readable here."""
    from bumper.web import receivers  # no Flask: receivers only resolves and checks secrets

    base = path.resolve().parent
    issues: list[config.Issue] = []
    notes: list[str] = []
    for index, receiver in enumerate(cfg.receivers):
        if receiver.secret is None:
            continue
        try:
            secret = receivers.read_secret(receiver, base)
        except ConfigError as error:
            notes.append(f"{error}; not checked here")
            continue
        try:
            receivers.check_secret(receiver, secret or "")
        except ConfigError as error:
            issues.append(config.Issue(("receivers", index, "secret"), str(error)))
    if issues:
        document, _ = configfile.parse(path.read_text(encoding="utf-8"))
        issues = [
            config.Issue(i.loc, i.message, configfile.line_of(document, i.loc)) for i in issues
        ]
    return issues, notes


def summary(cfg: config.BumperConfig) -> str:
    targets = sum(len(image.targets) for image in cfg.images)

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return ", ".join(
        [
            count(len(cfg.receivers), "receiver"),
            count(len(cfg.repos), "repo"),
            count(len(cfg.images), "image rule") + f" ({count(targets, 'target')})",
            count(len(cfg.ci), "ci trigger"),
        ]
    )
