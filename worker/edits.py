"""The file side of a bump: find the image's references under a target's path globs, and
rewrite them to the chosen tag/digest, in a checkout.

This is the worker's seam onto the editor's finder/yamledit: everything the bump flow needs
from file editing goes through ``find`` and ``apply``. Until ``bumper.edittree`` covers the
worker's needs, the implementation here handles ``image: <ref>`` scalars (workloads, compose,
most charts' values) line by line, byte-exact outside the replaced reference.

Paths come from ``Checkout.path`` so they cannot leave the checkout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from bumper import gitrepo
from bumper.core import changes, refs

YAML_SUFFIXES = (".yaml", ".yml")
_IMAGE_LINE = re.compile(
    r"""^(?P<lead>\s*(?:-\s+)?["']?image["']?\s*:\s*)(?P<q>["']?)(?P<ref>[^\s"'#]+)(?P=q)""",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Found:
    """One reference to the image in a file."""

    path: str
    line: int
    ref: refs.Reference


def glob_match(pattern: str, path: str) -> bool:
    """Whether ``path`` matches a path glob: ``*``/``?``/``[..]`` within a segment, ``**`` as
    a whole segment for any number of segments (including none)."""
    return _match(pattern.split("/"), path.split("/"))


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])


def files(checkout: gitrepo.Checkout, globs: list[str]) -> list[str]:
    """Tracked YAML files of the checkout matching any glob, sorted."""
    listed = checkout.run("ls-files", "-z").split("\0")
    return sorted(
        name
        for name in listed
        if name.endswith(YAML_SUFFIXES) and any(glob_match(g, name) for g in globs)
    )


def _refs_in(text: str, image: str) -> list[tuple[re.Match[str], refs.Reference]]:
    found = []
    for match in _IMAGE_LINE.finditer(text):
        try:
            ref = refs.parse(match.group("ref"))
        except refs.InvalidReference:
            continue
        if ref.name == image:
            found.append((match, ref))
    return found


def find(checkout: gitrepo.Checkout, globs: list[str], image: str) -> list[Found]:
    """Every reference to ``image`` under ``globs``."""
    result = []
    for name in files(checkout, globs):
        text = _read(checkout.path(name))
        for match, ref in _refs_in(text, image):
            result.append(Found(name, text.count("\n", 0, match.start()) + 1, ref))
    return result


def apply(
    checkout: gitrepo.Checkout, globs: list[str], image: str, tag: str, digest: str | None
) -> list[changes.FileChange]:
    """Rewrite every reference to ``image`` to ``tag`` (and ``digest``); the changes made."""
    made: list[changes.FileChange] = []
    for name in files(checkout, globs):
        path = checkout.path(name)
        text = _read(path)
        pieces: list[str] = []
        cursor = 0
        for match, ref in _refs_in(text, image):
            old = match.group("ref")
            new = _rewrite(old, ref, tag, digest)
            if new == old:
                continue
            start, end = match.span("ref")
            pieces += [text[cursor:start], new]
            cursor = end
            line = text.count("\n", 0, start) + 1
            made.append(changes.FileChange(name, old, new, line))
        if pieces:
            path.write_bytes(("".join(pieces) + text[cursor:]).encode("utf-8"))
    return made


def _rewrite(old: str, ref: refs.Reference, tag: str, digest: str | None) -> str:
    """The new reference text, keeping how the file spelled the name (``nginx`` stays short)."""
    name_text = old.split("@", 1)[0]
    if ref.tag is not None:
        name_text = name_text[: -(len(ref.tag) + 1)]
    return f"{name_text}:{tag}" + (f"@{digest}" if digest else "")


def _read(path: Path) -> str:
    # newline="" keeps CRLF files byte-exact.
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()
