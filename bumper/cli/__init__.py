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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bumper", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
