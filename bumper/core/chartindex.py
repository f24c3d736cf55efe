"""A classic Helm repository's ``index.yaml``: the versions of one chart, read from the parse
events without building the document.

A public repository's index can be tens of megabytes (every version of every chart, each
with its metadata), and it comes from the internet. So only ``entries.<chart>[*].version``
is kept: the parser streams (``bumper.core.yaml.limits.stream``, constant memory), aliases are
never expanded, the nesting followed is bounded by ``Limits.max_depth`` and the number of
versions by ``MAX_VERSIONS``; the caller bounds the bytes. Versions that are not chart
versions (``bumper.core.charts.validate_version``) are dropped.

Pure: no I/O. A text that is not YAML, or whose ``entries`` is not a mapping, raises
``PermanentError`` (reason ``registry-error``) with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from bumper.core import charts
from bumper.core.yaml import limits
from bumper.errors import InvalidReference, ParseLimitExceeded, PermanentError

MAX_VERSIONS = 20_000
# the path of a version: root mapping → "entries" → "<chart>" → list item → "version"
_VERSION_DEPTH = 4
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)


@dataclass(slots=True)
class _Frame:
    """One open collection: a mapping (expecting a key or a value) or a sequence."""

    mapping: bool
    key_next: bool = True
    key: str | None = None
    is_key: bool = False  # a complex key (a collection as a key): its value follows it


def versions(data: bytes, chart: str, bounds: limits.Limits = limits.DEFAULT) -> list[str]:
    """The versions ``data`` lists for ``chart``, in the index's order, each once."""
    found: dict[str, None] = {}
    try:
        for version in _scan(limits.stream(data), chart, bounds):
            try:
                found.setdefault(charts.validate_version(version))
            except InvalidReference:
                continue
            if len(found) >= MAX_VERSIONS:
                break
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise PermanentError(f"index.yaml is not YAML{line}", reason="registry-error") from None
    return list(found)


def _scan(events: Any, chart: str, bounds: limits.Limits) -> Any:
    """Yield each scalar at ``entries.<chart>[*].version`` of the first document."""
    stack: list[_Frame] = []
    for event in events:
        kind = type(event)
        if kind is yaml.DocumentEndEvent:
            return
        if kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
            if not stack.pop().is_key:
                _value_done(stack)
            continue
        if kind not in (yaml.ScalarEvent, yaml.AliasEvent, *_OPEN):
            continue
        top = stack[-1] if stack else None
        if top is not None and top.mapping and top.key_next:  # a key
            top.key = event.value if kind is yaml.ScalarEvent else None
            top.key_next = False
            if kind in _OPEN:  # a complex key: followed as a value that is never matched
                stack.append(_Frame(mapping=kind is yaml.MappingStartEvent, is_key=True))
            continue
        if kind is yaml.ScalarEvent:
            if _is_version(stack, chart):
                yield event.value
            _value_done(stack)
        elif kind is yaml.AliasEvent:
            _value_done(stack)
        else:
            _entries_shape(stack, chart, kind)
            stack.append(_Frame(mapping=kind is yaml.MappingStartEvent))
            if len(stack) > bounds.max_depth:
                raise ParseLimitExceeded(
                    f"over the YAML parse limits: nested deeper than {bounds.max_depth} levels"
                )


def _value_done(stack: list[_Frame]) -> None:
    if stack and stack[-1].mapping:
        stack[-1].key_next = True


def _is_version(stack: list[_Frame], chart: str) -> bool:
    return (
        len(stack) == _VERSION_DEPTH
        and stack[0].key == "entries"
        and stack[1].key == chart
        and not stack[2].mapping
        and stack[3].mapping
        and stack[3].key == "version"
    )


def _entries_shape(stack: list[_Frame], chart: str, kind: Any) -> None:
    """``entries`` must be a mapping; anything else is not a Helm repository index."""
    if len(stack) == 1 and stack[0].mapping and stack[0].key == "entries":
        if kind is not yaml.MappingStartEvent:
            raise PermanentError(
                "index.yaml: entries is not a mapping (not a Helm repository index)",
                reason="registry-error",
            )
