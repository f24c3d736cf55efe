"""The ``bumper`` command.

Each sub-command lives in its own module in this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` (``args -> int`` exit code), and an
``EXAMPLES`` string (command lines, one per line). Modules are discovered, so adding a command
never touches this file. Its ``--help`` shows the module docstring as the description and
``EXAMPLES``, in plain text (``plain``: no reST markup); tests/cli/test_help.py checks every
command.

Exit codes: 0 done, 1 "nothing matched" where a command defines it, 2 any error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from types import ModuleType

import bumper
from bumper.errors import BumperError

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # :mod:`bumper.x` -> bumper.x
_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`")


def plain(text: str) -> str:
    """reST inline markup as plain text: ``x``, `x` and :role:`x` become x."""
    text = _ROLE.sub(r"\1", text)
    return _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)


def _document(parser: argparse.ArgumentParser, module: ModuleType) -> None:
    """Description, examples and every help string of one command, in plain text."""
    parser.description = plain(textwrap.dedent(module.__doc__ or "").strip())
    examples = getattr(module, "EXAMPLES", "")
    if examples:
        parser.epilog = "examples:\n" + textwrap.indent(examples.rstrip(), "  ")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain(action.help)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that command's module is imported when it has one
    (start-up time matters: ``set-image`` runs once per bump and in big loops)."""
    parser = argparse.ArgumentParser(
        prog="bumper",
        description=plain(__doc__.splitlines()[0]),
        epilog="examples:\n  bumper check-config bumper.yaml\n  bumper log --image hello\n"
        "  bumper COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bumper {bumper.__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    wanted = command.replace("-", "_") if command else None
    for name in [wanted] if wanted in names else names:
        module = importlib.import_module(f"{__name__}.{name}")
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None
        register = getattr(module, "register", None)
        if register is not None:
            before = set(subparsers.choices)
            register(subparsers)
            for added in set(subparsers.choices) - before:
                _document(subparsers.choices[added], module)
    for choice in subparsers._choices_actions:
        choice.help = plain(choice.help or "")
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
