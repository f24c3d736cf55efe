"""The ``bumper`` command.

Each sub-command lives in its own module in this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` (``args -> int`` exit code). Modules are
discovered, so adding a command never touches this file.

Exit codes: 0 done, 1 "nothing matched" where a command defines it, 2 any error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from bumper.errors import BumperError


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that command's module is imported when it has one
    (start-up time matters: ``set-image`` runs once per bump and in big loops)."""
    parser = argparse.ArgumentParser(prog="bumper", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    wanted = command.replace("-", "_") if command else None
    for name in [wanted] if wanted in names else names:
        module = importlib.import_module(f"{__name__}.{name}")
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    if command is not None and wanted in names and command not in subparsers.choices:
        return build_parser()
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words and not words[0].startswith("-") else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits 2 on usage errors already; keep its code.
        return int(exit_.code or 0)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except BumperError as error:
        print(f"bumper: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"bumper: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
