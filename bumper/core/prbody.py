"""A PR body made of sections, kept within the forge's body limit.

A ``Section`` is a plain markdown string with an optional title and a priority (higher: kept
longer). ``compose`` joins the sections in the order given, then the mandatory tail (Bumper's
hidden target marker). When the text would exceed ``limit`` characters, the lowest-priority
section is shortened first, then the next, until it fits. A section is only ever shortened
between blocks: a table, a fenced code block, a ``<details>`` element or one other line is kept
whole or left out whole, so a cut never leaves an open fence, half a table or an unclosed
``<details>``. A shortened section ends with a visible note saying so.

Limits (characters, as the forges count them):

- GitHub: a pull request body of at most 65,536 characters (larger: 422 "body is too long
  (maximum is 65536 characters)");
- GitLab: a merge request description of at most 1 megabyte (1,048,576 characters).

Pure: strings in, strings out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

GITHUB_LIMIT = 65_536
GITLAB_LIMIT = 1_048_576
LIMITS = {"github": GITHUB_LIMIT, "gitlab": GITLAB_LIMIT}
DEFAULT_LIMIT = GITHUB_LIMIT

KEEP = 100  # the opening line and the table of files: shortened only as a last resort
TABLE = 90
DECISION = 80
EVIDENCE = 70
SOURCE = 50
EXTRA = 30  # sections supplied by others (rendered effect, ...) unless they say otherwise
RELEASE_NOTES = 20

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Section:
    """One part of a body: ``text`` is markdown; ``title`` (if any) becomes a ``###`` heading."""

    text: str
    title: str = ""
    priority: int = EXTRA

    def render(self, text: str | None = None) -> str:
        body = (self.text if text is None else text).strip("\n")
        return f"### {self.title}\n\n{body}" if self.title else body


def limit_for(forge: str) -> int:
    """The body limit of ``forge`` (github, gitlab); GitHub's, the smaller, for anything else."""
    return LIMITS.get(forge, DEFAULT_LIMIT)


def compose(sections: Sequence[Section], tail: str = "", *, limit: int = DEFAULT_LIMIT) -> str:
    """The sections (empty ones skipped) and ``tail``, at most ``limit`` characters long."""
    present = [s for s in sections if s.text.strip()]
    texts = [s.render() for s in present]
    order = sorted(range(len(present)), key=lambda i: (present[i].priority, -i))
    for index in order:
        over = _length(texts, tail) - limit
        if over <= 0:
            break
        texts[index] = _shorten(present[index], over, limit)
    body = _join(texts, tail)
    if len(body) > limit:  # only a tail or titles longer than the limit get here
        body = body[: max(0, limit - len(tail) - 1)] + "\n" + tail
    return body[:limit]


def _join(texts: Sequence[str], tail: str) -> str:
    parts = [t for t in texts if t] + ([tail] if tail else [])
    return _SEPARATOR.join(parts) + "\n"


def _length(texts: Sequence[str], tail: str) -> int:
    return len(_join(texts, tail))


def truncation_note(title: str, omitted: int, limit: int) -> str:
    what = f"“{title}”" if title else "This part"
    return (
        f"> **Truncated:** {what} is shortened by {omitted:,} characters to keep this "
        f"description within the forge's {limit:,}-character limit."
    )


def _shorten(section: Section, over: int, limit: int) -> str:
    """``section`` rendered at least ``over`` characters shorter, cut between blocks, with a
    note; only its heading and the note when no prefix of blocks is short enough."""
    full = section.render()
    blocks = blocks_of(section.text)
    kept: list[str] = []
    for count in range(len(blocks), -1, -1):
        kept = blocks[:count]
        body = "\n".join(kept).strip("\n")
        omitted = len(full) - len(section.render(body))
        note = truncation_note(section.title, omitted, limit)
        text = section.render(f"{body}\n\n{note}" if body else note)
        if len(full) - len(text) >= over:
            return text
    return text  # the note alone is still too long: compose's last resort cuts the tail end


def blocks_of(text: str) -> list[str]:
    """``text`` in the blocks a cut may fall between: a fenced code block, a table (adjacent
    lines starting with ``|``), a ``<details>`` element, or any other single line. Joined with
    newlines they give ``text`` back."""
    lines = text.strip("\n").split("\n")
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        end = _block_end(lines, i)
        blocks.append("\n".join(lines[i:end]))
        i = end
    return blocks


def _block_end(lines: Sequence[str], start: int) -> int:
    """The index just after the block starting at ``lines[start]``."""
    line = lines[start]
    fence = _FENCE.match(line)
    if fence:
        closing = re.compile(
            rf"^\s{{0,3}}{re.escape(fence.group(1)[0])}{{{len(fence.group(1))},}}\s*$"
        )
        for end in range(start + 1, len(lines)):
            if closing.match(lines[end]):
                return end + 1
        return len(lines)  # an unclosed fence runs to the end, as markdown renders it
    if line.lstrip().startswith("<details"):
        depth = 0
        for end in range(start, len(lines)):
            depth += lines[end].count("<details") - lines[end].count("</details>")
            if depth <= 0:
                return end + 1
        return len(lines)
    if line.lstrip().startswith("|"):
        end = start + 1
        while end < len(lines) and lines[end].lstrip().startswith("|"):
            end += 1
        return end
    return start + 1
