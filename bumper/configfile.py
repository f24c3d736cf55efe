"""Read ``bumper.yaml`` from disk and validate it, locating every problem by path and line.

The model and its rules live in :mod:`bumper.core.config` (pure); this module does the file
I/O and the YAML parsing (ruamel round-trip, so each node knows its line), within the parse
limits of ``bumper.core.yaml.limits`` (an alias bomb is an issue, not a hang). ``load`` is what
processes call; ``check`` is what ``bumper check-config`` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bumper.core import config
from bumper.core.yaml import limits
from bumper.errors import ConfigError, ParseLimitExceeded


def parse(text: str) -> tuple[Any, list[config.Issue]]:
    """The YAML document, or a syntax issue with its line (or the parse limit it is over)."""
    try:
        limits.check(text)
    except ParseLimitExceeded as error:
        return None, [config.Issue((), str(error))]
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text), []
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        return None, [config.Issue((), f"YAML syntax: {problem}", line)]
    except YAMLError as error:
        return None, [config.Issue((), f"YAML syntax: {error}")]


def line_of(document: Any, loc: config.Loc) -> int | None:
    """1-based line of the deepest node of ``loc`` present in the document."""
    line = None
    node = document
    for part in loc:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                line = lc.item(part)[0] + 1
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                line = lc.key(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    if line is None and getattr(document, "lc", None) is not None:
        line = int(document.lc.line) + 1
    return line


Checker = Callable[[config.BumperConfig], list[config.Issue]]


def check_text(
    text: str, more: Checker | None = None
) -> tuple[config.BumperConfig | None, list[config.Issue]]:
    """Validate YAML text: the config, or every issue with its path and line, in file order.

    ``more`` adds checks on a valid config (``bumper check-config`` passes the receivers'
    scope checks, which need the senders); its warnings leave the config valid.
    """
    document, issues = parse(text)
    if issues:
        return None, issues
    result, issues = config.validate(document)
    if result is not None and more is not None:
        issues = more(result)
        if any(not issue.warning for issue in issues):
            result = None
    located = [dataclasses.replace(i, line=line_of(document, i.loc)) for i in issues]
    located.sort(key=lambda i: (i.line or 0, config.format_loc(i.loc)))
    return result, located


def check(
    path: Path, more: Checker | None = None
) -> tuple[config.BumperConfig | None, list[config.Issue]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        return None, [config.Issue((), f"cannot read {path}: {reason}")]
    return check_text(text, more)


def load(path: Path) -> config.BumperConfig:
    """The validated config; :class:`ConfigError` naming the first issue and the count."""
    result, issues = check(path)
    if result is None:
        first = issues[0] if issues else config.Issue((), "invalid configuration")
        more = (
            f" (and {len(issues) - 1} more; run 'bumper check-config')" if len(issues) > 1 else ""
        )
        raise ConfigError(f"{path}: {first}{more}", path=first.path or None)
    return result
