"""What the finder's walk produces and knows: :class:`Found` references, the :class:`Slot`
scalars that hold them, :class:`Insert` points, and the :class:`DocumentWalk` state of one
composed document (``compose_all`` composes with the fast, type-blind loader, within the
parse limits of ``yaml.limits``).

Shared by ``finder`` (the entry point), ``finder_kinds`` (location kinds), ``markers`` (comment
markers) and ``yaml.blocks`` (YAML inside block scalars); it imports none of them, so they
form no cycle. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import yaml

from bumper.core.yaml import limits, scalars

# The base loader skips implicit type resolution (a Python call per scalar); types are judged
# only where they matter, by ``scalars.reads_as_string``. libyaml comes in PyYAML's wheels;
# the pure-Python parser gives the same nodes, slower.
_BaseLoader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_DEFAULT_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The base loader, with the per-node resolver hooks reduced to a dict lookup."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return _DEFAULT_TAGS[kind]

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


BOM = "\ufeff"
PathKey = str | int


@dataclasses.dataclass(frozen=True, slots=True)
class Slot:
    """One scalar holding a reference or a part of it. ``start:end`` is inside any quotes."""

    start: int
    end: int
    style: str  # "" plain, "'" or '"'
    value: str
    doc: int
    path: tuple[PathKey, ...]
    line: int  # 1-based
    uses: int = 1  # how many places the scalar is read from: its anchor and every alias of it

    @property
    def is_null(self) -> bool:
        return self.style == scalars.PLAIN and self.value in ("", "~", "null", "Null", "NULL")


@dataclasses.dataclass(frozen=True, slots=True)
class Insert:
    """Where a missing key can be added: ``before + value + after`` goes in at ``at``."""

    at: int
    before: str
    after: str


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """One image reference. ``ref_slot`` holds ``name[:tag][@digest]`` (from ``ref_offset``);
    split forms use ``tag_slot`` / ``digest_slot`` instead, ``name_slots`` only locate the name.
    ``artifact`` says what is referenced: ``"image"``, or ``"chart"`` (``finder_charts``).
    """

    artifact: ClassVar[str] = "image"

    image: str
    tag: str | None
    digest: str | None
    kind: str
    line: int
    ref_slot: Slot | None = None
    ref_offset: int = 0
    tag_slot: Slot | None = None
    digest_slot: Slot | None = None
    name_slots: tuple[Slot, ...] = ()
    digest_in_tag: bool = False  # a digest may be written as "tag@digest" in the tag field
    tag_insert: Insert | None = None  # kustomize: where "newTag:" goes when it is missing
    digest_insert: Insert | None = None
    digest_bare: bool = False  # the digest field holds only the hex (``sha:``), no "sha256:"
    confidence: str = "known"  # "known" location, or "generic": an ``image`` key of any kind
    templated: bool = (
        False  # holds a placeholder (``${VAR}``, ``{{ }}``, ``<image>``): never edited
    )
    note: str = ""  # what a reader should know (a tag left to the chart's appVersion...)
    invalid: bool = False  # a container's image that is not a valid reference: never edited
    pinned: bool = False  # found by its digest-pinned shape alone: edited only with a digest

    @property
    def editable(self) -> bool:
        """Whether an edit may touch it: not templated, and a valid reference."""
        return not (self.templated or self.invalid)

    @property
    def uses(self) -> int:
        """Places the reference is read from: more than one when aliases follow its anchor."""
        return max((s.uses for s in (*self.slots, *self.name_slots)), default=1)

    @property
    def slots(self) -> tuple[Slot, ...]:
        """The scalars an edit of the tag or digest may change."""
        return tuple(s for s in (self.ref_slot, self.tag_slot, self.digest_slot) if s is not None)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """Ranges an edit may replace; an insertion point is an empty range."""
        inserts = [i for i in (self.tag_insert, self.digest_insert) if i is not None]
        return tuple((s.start, s.end) for s in self.slots) + tuple((i.at, i.at) for i in inserts)

    @property
    def doc(self) -> int:
        return (self.ref_slot or self.tag_slot or self.digest_slot or self.name_slots[0]).doc


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """Why a text was not scanned. ``over_limits``: it is over the parse limits, so it may
    hold references nobody has seen; callers that must see every reference refuse it."""

    reason: str
    over_limits: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Scan:
    found: tuple[Found, ...]
    skipped: Skipped | None = None
    warnings: tuple[str, ...] = ()  # one line each, e.g. a duplicate key


@dataclasses.dataclass(slots=True)
class DocumentWalk:
    """What a walk knows while it visits one document."""

    text: str
    doc: int
    offset: int  # added to every mark index (the BOM, or a block scalar's place)
    root: Any
    found: list[Found] = dataclasses.field(default_factory=list)
    scalars_by_line: dict[int, list[Slot]] = dataclasses.field(default_factory=dict)
    remap: Any = None  # for YAML embedded in a block scalar: inner index -> outer index
    markers: bool = False  # index value scalars by line (only when the text has a marker)
    uses: dict[int, int] = dataclasses.field(default_factory=dict)  # id(scalar) -> reads
    warnings: list[str] = dataclasses.field(default_factory=list)
    api_version: str = ""  # the document's own apiVersion and kind ("" when it has none)
    kind: str = ""

    def slot(self, node: Any, path: tuple[PathKey, ...]) -> Slot | None:
        """A Slot for a one-line string scalar ``node``, or None."""
        if node is None or node.id != "scalar":
            return None
        span = scalars.content_span(self.text, node)
        if span is None:
            return None
        start, end = self.position(span[0]), self.position(span[1])
        if start is None or end is None:
            return None
        if self.remap is not None:
            line = self.remap.line(span[0])
        elif node.style in scalars.BLOCK:  # its end mark is past the content's line
            line = self.text.count("\n", 0, span[0]) + 1
        else:
            line = node.end_mark.line + 1
        value = scalars.one_line_value(node)
        uses = self.uses.get(id(node), 1)
        return Slot(start, end, scalars.style_of(node), value, self.doc, path, line, uses)

    def position(self, index: int) -> int | None:
        if self.remap is not None:
            mapped: int | None = self.remap.outer(index)
            return mapped
        return index + self.offset


def compose_all(text: str) -> list[Any]:
    """Every document of ``text`` as nodes; ``ParseLimitExceeded`` past ``limits.DEFAULT``."""
    return limits.compose_all(text, _Loader)
