"""``bumper version``: print the installed version."""

from __future__ import annotations

import argparse

import bumper

EXAMPLES = """\
bumper version             # the same as bumper --version
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("version", help="print the version")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(bumper.__version__)
    return 0
