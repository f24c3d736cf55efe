"""Parse limits for YAML (and JSON, which the same parser reads) from a config repo: the one
place they are defined and checked.

A config-repo writer controls every byte the agent, the worker and the CLI parse. Without
bounds, 600 bytes of nested aliases ("billion laughs") expand to hundreds of millions of
nodes the moment anything walks the data (the agent's content hash, a JSON dump, an apply),
and a flat list of a few million items costs gigabytes once composed. ``check`` streams the
parser's events (libyaml: constant memory, about a third of the cost of composing) and stops
at the first limit crossed, before anything is built; ``compose_all`` and ``load_all`` parse
only text that passed. Every limit counts aliases *expanded*: an alias stands for every node
of its anchor, and an alias inside a repeated anchor counts every time it is repeated.

The defaults sit far above real manifests: the largest file of the real-world corpus
(Argo CD's ``install.yaml``: 1.9 MB, 59 documents, 64,000 nodes, nesting 35 levels, 97 aliases
in the file with the most) passes with room to spare, and at about 400 bytes per composed node
``max_nodes`` keeps one file's parse near 200 MB (the agent's chart allows 384 MiB).

Pure: no I/O. ``ParseLimitExceeded`` is the error, its message one line; callers name the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from bumper.errors import ParseLimitExceeded

_Parser: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # libyaml's event parser
_Safe: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one file (or one rendered stream of ``helm template`` / ``kustomize build``)."""

    max_bytes: int = 16 * 2**20
    """Size of one text parsed at once (UTF-8 bytes when read from a file): 16 MiB, 8x the
    corpus's largest file. The finder parses a larger stream document by document
    (``bumper.core.finder_documents``), so for it this bounds one document."""
    max_file_bytes: int = 64 * 2**20
    """Size of a config-repo file the finder and editor read (scanned document by document):
    64 MiB. An edit holds the file about five times over (bytes, text, edited text, written
    bytes), so a 50 MB generated manifest stays within a few hundred MB."""
    max_documents: int = 10_000
    """``---`` documents in one file or stream (the corpus's most: 103)."""
    max_nodes: int = 500_000
    """Nodes (scalars, mappings, sequences; aliases expanded) in one file: bounds memory."""
    max_alias_nodes: int = 100_000
    """Nodes that aliases stand for, expanded: a billion-laughs file needs hundreds of millions;
    a ``<<: *defaults`` merge or a shared list of env vars needs a few hundred."""
    max_depth: int = 128
    """Nesting of mappings and sequences (aliases expanded): the corpus's deepest is 38, and
    everything downstream that recurses (JSON, deepcopy, drift checks) stays far from
    Python's recursion limit."""


DEFAULT = Limits()


def check_size(size: int, limits: Limits = DEFAULT) -> None:
    """Refuse a file of ``size`` bytes before it is read, when it is over ``max_bytes``."""
    if size > limits.max_bytes:
        raise ParseLimitExceeded(
            f"over the YAML parse limits: {size} bytes, more than {limits.max_bytes}"
        )


def check_file_size(size: int, limits: Limits = DEFAULT) -> None:
    """Refuse a file of ``size`` bytes before it is read, when it is over ``max_file_bytes``."""
    if size > limits.max_file_bytes:
        raise ParseLimitExceeded(
            f"over the YAML parse limits: {size} bytes, more than {limits.max_file_bytes}"
        )


def check(text: str, limits: Limits = DEFAULT, *, nesting: bool = True) -> None:
    """Raise ``ParseLimitExceeded`` if ``text`` is over any of ``limits``.

    ``nesting=False`` is for a consumer that never recurses over the nodes (the finder walks
    with a stack, and libyaml itself refuses more than 1,000 levels): the depth is not checked,
    and a text that cannot be over the other limits skips the event pass (see ``_cannot_exceed``).
    Text that is not YAML passes: the parse that follows reports the syntax error as usual.
    """
    check_size(len(text), limits)
    if not nesting and _cannot_exceed(text, limits):
        return
    bounds = limits if nesting else dataclasses.replace(limits, max_depth=1_000_000)
    try:
        _count(yaml.parse(text, Loader=_Parser), bounds)
    except yaml.YAMLError:
        return


def _cannot_exceed(text: str, limits: Limits) -> bool:
    """A screen at C speed: with no ``*`` there is no alias to expand; no YAML text holds more
    than two nodes per character, plus three (``? `` is three nodes in two); and every
    document after the first opens with ``---`` or follows a ``...``."""
    return (
        "*" not in text
        and 2 * len(text) + 3 <= limits.max_nodes
        and text.count("---") + text.count("...") < limits.max_documents
    )


def stream(data: str | bytes) -> Iterator[Any]:
    """The parse events of ``data`` (libyaml's event parser: constant memory), for a consumer
    that keeps a few scalars and never expands an alias, so no alias can make it grow; the
    caller bounds the size (it read at most so many bytes) and the nesting it follows."""
    return iter(yaml.parse(data, Loader=_Parser))


def compose_all(text: str, loader: Any, limits: Limits = DEFAULT) -> list[Any]:
    """Every document of ``text`` composed with ``loader`` (nodes, aliases shared), bounded
    for a consumer that walks the nodes without recursion (``check(nesting=False)``)."""
    check(text, limits, nesting=False)
    return list(yaml.compose_all(text, Loader=loader))


class _Plain(_Safe):  # type: ignore[misc]
    """The safe loader building only what JSON can hold, as Kubernetes reads YAML (go-yaml v2
    through ``sigs.k8s.io/yaml``): an unquoted ``2024-01-01`` stays its text (a ``datetime``
    could not be sent at all), ``!!binary`` is its decoded text, ``!!set`` a mapping to null."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _Safe.yaml_implicit_resolvers.items()
    }


_Plain.add_constructor(_TIMESTAMP, lambda loader, node: loader.construct_scalar(node))
_Plain.add_constructor(
    "tag:yaml.org,2002:binary",
    lambda loader, node: loader.construct_yaml_binary(node).decode("utf-8", "replace"),
)
_Plain.add_constructor(
    "tag:yaml.org,2002:set",
    lambda loader, node: dict.fromkeys(loader.construct_mapping(node)),
)


def load_all(text: str, limits: Limits = DEFAULT) -> list[Any]:
    """Every document of ``text`` as plain data, bounded: JSON's types only (``_Plain``)."""
    check(text, limits)
    return list(yaml.load_all(text, Loader=_Plain))


def _count(events: Any, limits: Limits) -> None:
    """One pass over the events, counting what a composer would build with aliases expanded.

    Per open collection: the node total when it opened and the height of its deepest child.
    Per anchor (reset per document, as anchors are): its expanded size and height.
    """
    anchors: dict[str, tuple[int, int]] = {}
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # [node total at open, deepest child height, anchor]
    nodes = aliased = documents = 0
    for event in events:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            nodes += 1
            height = 0
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        elif kind in _OPEN:
            nodes += 1
            stack.append([nodes, 0, event.anchor])
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            if len(stack) > limits.max_depth:
                _exceeded(f"nested deeper than {limits.max_depth} levels", event)
            continue
        elif kind in _CLOSE:
            opened, child_height, anchor = stack.pop()
            height = child_height + 1
            if anchor is not None:
                anchors[anchor] = (nodes - opened + 1, height)
                open_anchors.discard(anchor)
        elif kind is yaml.AliasEvent:
            if event.anchor in open_anchors:
                _exceeded(f"alias *{event.anchor} is used inside its own anchor", event)
            size, height = anchors.get(event.anchor, (1, 0))
            nodes += size
            aliased += size
            if aliased > limits.max_alias_nodes:
                problem = f"aliases expand to more than {limits.max_alias_nodes} nodes"
                _exceeded(f"{problem}, like an alias bomb", event)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            anchors.clear()
            if documents > limits.max_documents:
                _exceeded(f"more than {limits.max_documents} documents", event)
            continue
        else:
            continue
        if nodes > limits.max_nodes:
            _exceeded(f"more than {limits.max_nodes} nodes", event)
        if stack:
            top = stack[-1]
            if height > top[1]:
                top[1] = height
                if len(stack) + height > limits.max_depth:
                    _exceeded(f"nested deeper than {limits.max_depth} levels", event)


def _exceeded(problem: str, event: Any) -> None:
    mark = getattr(event, "start_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    raise ParseLimitExceeded(f"over the YAML parse limits: {problem}{where}")
