"""``bumper check-config [FILE] [--offline]``: find every misconfiguration before a start.

Each problem is one line, ``FILE:LINE: path: message`` (``path`` like
``images[1].policy.semver``) whose message says the fix; a warning reads
``FILE:LINE: path: warning: message``. Checked, besides the file's own rules
(``bumper.core.config``: types, policies, a ``mode`` the repo's forge can do):

- receivers (``bumper.configcheck``): an unknown sender type, a secret that is unset,
  unreadable, blank or too short where the check runs, scopes against their senders, and a
  warning for senders that can only put their token in the URL;
- repos: credentials and signing keys readable;
- targets (``worker.targetcheck``), unless ``--offline``: each repo is cloned with its
  configured credentials and each target's paths must select a file that holds the rule's
  image. ``--offline`` skips that and says so on stderr.

Run it where the processes run (their secrets are checked as they would read them). Exit 2
when there is any error, 0 with a summary otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bumper import configcheck, configfile, settings
from bumper.core import config

EXAMPLES = """\
bumper check-config --offline examples/bumper.yaml
bumper check-config bumper.yaml    # where the processes run: secrets, and each repo cloned
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="find every misconfiguration in bumper.yaml before a start",
    )
    parser.add_argument(
        "file", nargs="?", type=Path, help="the file (default: BUMPER_CONFIG_FILE or bumper.yaml)"
    )
    parser.add_argument(
        "--offline", action="store_true", help="do not clone repos: skip the target-file check"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file or settings.load().config_file
    base = path.resolve().parent
    result, issues = configfile.check(path, lambda cfg: configcheck.all_issues(cfg, base))
    if result is not None and args.offline:
        print(f"{path}: offline: target files not checked (no repo cloned)", file=sys.stderr)
    elif result is not None:
        from worker import targetcheck  # git and the finder: only when it runs

        found = targetcheck.problems(result, base)
        if found:
            document, _ = configfile.parse(path.read_text(encoding="utf-8"))
            issues += [
                config.Issue(i.loc, i.message, configfile.line_of(document, i.loc)) for i in found
            ]
            result = None
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
