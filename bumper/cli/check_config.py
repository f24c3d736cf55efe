"""``bumper check-config [FILE]``: validate bumper.yaml and report every problem with its place.

Each problem is one line, ``FILE:LINE: path: message`` (``path`` like
``images[1].policy.semver``). Exit 2 when there is any problem, 0 with a summary otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bumper import configfile, settings
from bumper.core import config


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
    result, issues = configfile.check(path)
    if result is None:
        for issue in issues:
            line = f"{issue.line}:" if issue.line else ""
            where = issue.path or "(document)"
            print(f"{path}:{line} {where}: {issue.message}", file=sys.stderr)
        count = len(issues)
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
