"""``/bumper`` commands in pull-request comments: finding one in a comment, and reading it.

A comment holds a command when one of its lines (leading spaces allowed) is ``/bumper`` or
starts with ``/bumper `` — the first such line counts, and only within the first
``SCAN_CHARS`` characters and ``SCAN_LINES`` lines of the body, so a hostile comment costs a
bounded scan. Bumper's own replies quote commands in backticks, never at a line's start, so
a reply can never hold a command (no loops, even before the worker ignores its own comments).

Commands (``VERBS``): ``hold``, ``release``, ``pin <tag>``, ``retry``, ``explain``. Anything
else is an ``Unknown`` with a one-line reason that the worker answers together with ``HELP``.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bumper.core import refs
from bumper.errors import InvalidReference

PREFIX = "/bumper"
SCAN_CHARS = 65_536
SCAN_LINES = 200
LINE_LIMIT = 200

Verb = Literal["hold", "release", "pin", "retry", "explain"]
VERBS: tuple[Verb, ...] = ("hold", "release", "pin", "retry", "explain")
# The ones that change what Bumper does: only a commenter with write access may run them.
# ``explain`` only reads the decision log, but the log names tags and deliveries of a private
# config repo, so it asks for the same permission.
HELP = (
    "Bumper understands `/bumper hold`, `/bumper release`, `/bumper pin <tag>`, "
    "`/bumper retry` and `/bumper explain` (write access to this repository is required)."
)


@dataclass(frozen=True)
class Command:
    """A command the worker can run; ``argument`` is the tag of ``pin``."""

    verb: Verb
    argument: str | None = None


@dataclass(frozen=True)
class Unknown:
    """A ``/bumper`` line that is not a command; ``why`` is one line, safe to post back."""

    why: str


def find(body: str) -> str | None:
    """The first ``/bumper`` line of ``body`` (stripped, at most ``LINE_LIMIT`` characters),
    or ``None`` when the comment holds no command."""
    for line in body[:SCAN_CHARS].splitlines()[:SCAN_LINES]:
        stripped = line.strip()
        if stripped == PREFIX or stripped.startswith(PREFIX + " "):
            return stripped[:LINE_LIMIT]
    return None


def parse(line: str) -> Command | Unknown:
    """The command a ``/bumper`` line asks for (see the module docstring)."""
    words = line.split()
    if not words or words[0] != PREFIX:
        return Unknown("not a /bumper command")
    if len(words) == 1:
        return Unknown("no command given")
    verb, args = words[1].lower(), words[2:]
    if verb == "pin":
        if len(args) != 1:
            return Unknown("`pin` takes exactly one tag")
        return Command("pin", args[0])
    for known in VERBS:
        if verb == known:
            if args:
                return Unknown(f"`{known}` takes no argument")
            return Command(known)
    return Unknown(f"unknown command `{_shown(verb)}`")


def check_tag(text: str) -> tuple[str, str | None]:
    """``(tag, digest)`` of a pin's argument, ``<tag>`` or ``<tag>@sha256:<hex>``: only a tag
    of the rule's own image (no image name, no other registry). ``ValueError`` with a line
    that is safe to post back."""
    tag, _, digest = text.partition("@")
    try:
        refs.validate_tag(tag)
        if digest:
            refs.validate_digest(digest)
    except InvalidReference:
        raise ValueError(
            f"`{_shown(text)}` is not a tag of this image (give a tag such as `1.2.3`, "
            "optionally `@sha256:<digest>`)"
        ) from None
    return tag, digest or None


def _shown(text: str) -> str:
    """A user's word as quoted back in a reply: no backticks, bounded."""
    return text.replace("`", "'")[:60]
