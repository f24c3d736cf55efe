"""``WWW-Authenticate`` challenges (RFC 7235) as registries send them, parsed with bounds.

``Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`` →
``Challenge("bearer", {"realm": ..., "service": ..., "scope": ...})``. A header may hold several
challenges; ``pick`` prefers Bearer over Basic. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEADER = 4096
MAX_PARAMS = 16
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})\s*(,|$)')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic"
    params: dict[str, str] = field(default_factory=dict)


def parse(header: str) -> list[Challenge]:
    """Every challenge in ``header`` (at most ``MAX_HEADER`` characters are read)."""
    text = header[:MAX_HEADER]
    found: list[Challenge] = []
    position = 0
    while position < len(text) and len(found) < MAX_PARAMS:
        scheme = _SCHEME.match(text, position)
        if scheme is None:
            break
        position = scheme.end()
        params: dict[str, str] = {}
        while len(params) < MAX_PARAMS:
            param = _PARAM.match(text, position)
            if param is None:
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            position = param.end()
        found.append(Challenge(scheme.group(1).lower(), params))
        position = _skip_separators(text, position)
    return found


def _skip_separators(text: str, position: int) -> int:
    while position < len(text) and text[position] in ", \t":
        position += 1
    return position


def pick(header: str) -> Challenge | None:
    """The challenge to answer: Bearer with a realm, else Basic, else None."""
    challenges = parse(header)
    for challenge in challenges:
        if challenge.scheme == "bearer" and challenge.params.get("realm"):
            return challenge
    return next((c for c in challenges if c.scheme == "basic"), None)
