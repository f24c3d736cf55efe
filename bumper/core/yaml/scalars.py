"""Scalar-level YAML facts the editor needs: where a scalar's characters are, and how to write one.

``content_span`` finds the characters of a single-line plain or quoted scalar in the source
(after any anchor or tag, inside the quotes), or of a double-quoted one continued over lines
with escaped line breaks (``escaped_chars`` maps its characters to the source). ``render``
writes a new value in the style of the old one, quoting a plain value that a YAML 1.1 or 1.2
reader would take as anything other than a string (``1.10``, ``1e3``, ``012``, ``yes``,
``on``, ``null``, dates...).

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

PLAIN = ""
SINGLE = "'"
DOUBLE = '"'
BLOCK = ("|", ">")  # literal and folded block scalars

# Implicit types of YAML 1.1 (PyYAML, Helm's go-yaml v2 era) and of the YAML 1.2 core schema.
_NON_STRING_PLAIN = re.compile(
    r"""(?x)
    # null and booleans (1.1 and 1.2)
    ~|null|Null|NULL
    |y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    # 1.1 integers: binary, octal, decimal, hex, sexagesimal (underscores allowed)
    |[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    # 1.2 integers not covered above
    |[-+]?[0-9]+|0o[0-7]+
    # 1.1 floats
    |[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    # 1.2 floats (1e3 is a float in 1.2 only)
    |[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    # 1.1 timestamps
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
      (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?
    # merge and value keys
    |<<|=
    """
)
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./@+-][A-Za-z0-9_./@:+=-]*")
_PLAIN_BAD_START = set("-?:,[]{}#&*!|>'\"%@`")


def reads_as_string(plain: str) -> bool:
    """True when a plain scalar reads as a string under both YAML 1.1 and 1.2."""
    return bool(plain) and not _NON_STRING_PLAIN.fullmatch(plain)


def needs_quotes(value: str) -> bool:
    """True when ``value`` written plain would not read back as the same string."""
    if not value or _NON_STRING_PLAIN.fullmatch(value):
        return True
    if value[0] in _PLAIN_BAD_START or value.endswith(":"):
        return True
    # Conservative: only a small, flow-safe alphabet is ever written plain.
    return not _PLAIN_SAFE.fullmatch(value)


def render(value: str, style: str) -> str:
    """``value`` as scalar source text in ``style``; plain turns double-quoted when it must."""
    if style == SINGLE:
        return "'" + value.replace("'", "''") + "'"
    if style == DOUBLE or needs_quotes(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def quoted_content(value: str, style: str) -> str:
    """What ``value`` looks like between the quotes of ``style`` (plain: itself)."""
    if style == SINGLE:
        return value.replace("'", "''")
    if style == DOUBLE:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    return value


def one_line_value(node: Any) -> str:
    """The value a one-line scalar holds: a block scalar's one line without its line break."""
    value: str = node.value
    return value.rstrip("\n") if style_of(node) in BLOCK else value


def _block_span(text: str, node: Any) -> tuple[int, int] | None:
    """The one content line of a block scalar (``image: >-`` then the reference), or None.

    Only a block holding exactly one non-empty line, with no spaces around it and nothing but
    line breaks after, is an editable value: its characters are then verbatim in the source.
    """
    value = one_line_value(node)
    if not value or "\n" in value or value != value.strip():
        return None
    header_end = text.find("\n", node.start_mark.index, node.end_mark.index)
    if header_end == -1:
        return None
    begin = text.find(value, header_end, node.end_mark.index)
    if begin == -1 or text[header_end:begin].strip(" \r\n"):
        return None
    end = begin + len(value)
    return (begin, end) if not text[end : node.end_mark.index].strip(" \r\n") else None


def style_of(node: Any) -> str:
    style = node.style or PLAIN
    return str(style)


def content_span(text: str, node: Any) -> tuple[int, int] | None:
    """Offsets of the scalar's characters (inside quotes), or None if not a one-line scalar.

    ``node`` is a composed scalar node whose marks index ``text``. Its span may start with an
    anchor or a tag (``&a !!str v``); the value sits at the end, so it is located from there.
    """
    start, end = node.start_mark.index, node.end_mark.index
    style = style_of(node)
    value: str = node.value
    if style in BLOCK:
        return _block_span(text, node)
    if style == PLAIN:
        if start == end:
            return (start, start) if value == "" else None
        begin = end - len(value)
        if begin >= start and text[begin:end] == value:
            return begin, end
        return None
    if style not in (SINGLE, DOUBLE) or text[end - 1 : end] != style:
        return None
    content = quoted_content(value, style)
    begin = end - 1 - len(content)
    if begin - 1 >= start and text[begin - 1] == style and text[begin : end - 1] == content:
        return begin, end - 1
    if style == DOUBLE and "\\\n" in text[start:end]:
        opening = text.find(DOUBLE, start, end - 1)  # an anchor or a tag holds no quote
        chars = escaped_chars(text[opening + 1 : end - 1])
        if opening != -1 and chars is not None and "".join(c for c, _, _ in chars) == value:
            return opening + 1, end - 1
    return None


# A double-quoted scalar continued over lines with escaped line breaks: "\" at a line's end
# joins the next line, whose leading blanks are dropped (YAML 1.2, 7.3.1).
_ESCAPED_BREAK = re.compile(r"\\\r?\n[ \t]*")


def escaped_chars(source: str) -> list[tuple[str, int, int]] | None:
    """The characters a double-quoted scalar's ``source`` (between its quotes) stands for,
    each with its ``(start, end)`` in ``source``, when it uses only escaped line breaks and
    the escapes ``\\"`` and ``\\\\``; None otherwise (an unescaped line break folds to a
    space, other escapes are not worth mapping: no reference needs them)."""
    chars: list[tuple[str, int, int]] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char in "\r\n":
            return None
        if char != "\\":
            chars.append((char, index, index + 1))
            index += 1
            continue
        brk = _ESCAPED_BREAK.match(source, index)
        if brk is not None:
            index = brk.end()
        elif source[index + 1 : index + 2] in ('"', "\\"):
            chars.append((source[index + 1], index, index + 2))
            index += 2
        else:
            return None
    return chars
