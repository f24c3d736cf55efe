"""Semantic versions and npm-style ranges, for tag policies.

Versions are strict SemVer 2.0 (``MAJOR.MINOR.PATCH[-pre][+build]``) with an optional ``v``
or ``V`` prefix, so ``v1.4.0`` and ``1.4.0`` are the same version. Partial tags such as ``1.4``
are not versions: they are usually floating tags that move, and comparing them with fixed ones
would flip-flop.

Ranges follow npm (node-semver) with ``includePrerelease`` semantics::

    range      := set ( "||" set )*             any set may match
    set        := comparator ( [","] comparator )*  all must match (space or comma)
    comparator := [op] partial | "^" partial | "~" partial | "*"
    op         := ">=" | "<=" | ">" | "<" | "=" | "=="
    partial    := ["v"] major ["." minor ["." patch ["-" pre]]]   (minor/patch may be x, X, *)

``^1.2.3`` is ``>=1.2.3 <2.0.0-0``, ``^0.2.3`` is ``>=0.2.3 <0.3.0-0``, ``~1.2.3`` is
``>=1.2.3 <1.3.0-0``, ``1.4`` / ``1.4.x`` is ``>=1.4.0 <1.5.0-0``, ``>1.4`` is ``>=1.5.0-0``
and ``<2`` is ``<2.0.0-0``: a bound given as a partial version excludes the pre-releases of the
next version, so ``2.0.0-rc.1`` does not satisfy ``<2``, but does satisfy ``<2.0.0``.
Whether pre-releases are wanted at all is the policy's opt-in, not the range's.

Pure: no I/O. Errors raise :class:`InvalidRange` / :class:`InvalidVersion` (``ValueError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_WILD = r"(?:0|[1-9]\d*|[xX*])"
_PARTIAL = re.compile(
    rf"^[vV]?(?P<major>{_WILD})(?:\.(?P<minor>{_WILD})(?:\.(?P<patch>{_WILD})"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$"
)
_COMPARATOR = re.compile(r"^(?P<op>\^|~>?|>=|<=|>|<|==?)?\s*(?P<version>\S+)$")
# Split a set into comparators: an operator may be followed by spaces ("> = 1" is not valid).
_TOKEN = re.compile(r"(?:(?:\^|~>?|>=|<=|>|<|==?)\s*)?[^\s,|<>=^~][^\s,|]*")


class InvalidVersion(ValueError):
    """Not a strict semantic version."""


class InvalidRange(ValueError):
    """A range that does not parse; the message says which part."""


PreId = tuple[int, int | str]  # (0, number) sorts before (1, text), as SemVer requires


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def precedence(self) -> tuple[int, int, int, int, tuple[PreId, ...]]:
        """SemVer 2.0 precedence: a release sorts after its pre-releases; build is ignored."""
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence() < other.precedence()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence() == other.precedence()

    def __hash__(self) -> int:
        return hash(self.precedence())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse_version(text: str) -> Version:
    match = _VERSION.match(text)
    if match is None:
        raise InvalidVersion(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    pre = match["pre"]
    if pre and any(p.isdigit() and len(p) > 1 and p[0] == "0" for p in pre.split(".")):
        raise InvalidVersion(f"{text!r}: numeric pre-release identifiers have no leading zeros")
    return Version(
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        tuple(pre.split(".")) if pre else (),
        tuple(match["build"].split(".")) if match["build"] else (),
    )


def try_version(text: str) -> Version | None:
    try:
        return parse_version(text)
    except InvalidVersion:
        return None


_ZERO_PRE = ("0",)  # "X.Y.Z-0" is the lowest version with that X.Y.Z


@dataclass(frozen=True)
class Bound:
    """One side of an interval: ``version`` with ``inclusive`` or not."""

    version: Version
    inclusive: bool


@dataclass(frozen=True)
class Interval:
    """``lower <= v < upper`` style; a missing bound is unbounded."""

    lower: Bound | None = None
    upper: Bound | None = None

    def contains(self, version: Version) -> bool:
        if self.lower is not None:
            if version < self.lower.version:
                return False
            if version == self.lower.version and not self.lower.inclusive:
                return False
        if self.upper is not None:
            if version > self.upper.version:
                return False
            if version == self.upper.version and not self.upper.inclusive:
                return False
        return True


@dataclass(frozen=True)
class Range:
    """A parsed range: a union of sets; each set is an intersection of intervals."""

    text: str
    sets: tuple[tuple[Interval, ...], ...]

    def contains(self, version: Version) -> bool:
        return any(all(i.contains(version) for i in group) for group in self.sets)

    def __str__(self) -> str:
        return self.text


def parse_range(text: str) -> Range:
    """Parse an npm-style range; raise :class:`InvalidRange` naming the bad comparator."""
    if not text.strip():
        raise InvalidRange("empty range (use '*' for any version)")
    sets = []
    for part in text.split("||"):
        tokens = _TOKEN.findall(part.replace(",", " "))
        leftover = _TOKEN.sub("", part.replace(",", " ")).strip()
        if leftover:
            raise InvalidRange(f"cannot read {leftover!r} in range {text!r}")
        if not tokens:
            raise InvalidRange(f"empty alternative in range {text!r}")
        sets.append(tuple(_comparator(token.strip(), text) for token in tokens))
    return Range(text.strip(), tuple(sets))


def is_valid_range(text: str) -> bool:
    try:
        parse_range(text)
    except InvalidRange:
        return False
    return True


@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    prerelease: tuple[str, ...]

    def floor(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.prerelease)


def _partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL.match(text)
    if match is None:
        raise InvalidRange(f"{text!r} in range {whole!r} is not a version")

    def number(name: str) -> int | None:
        value = match[name]
        return None if value is None or value in "xX*" else int(value)

    major, minor, patch = number("major"), number("minor"), number("patch")
    # A wildcard ends the version: "1.x.3" means "1.x".
    if major is None:
        minor = patch = None
    if minor is None:
        patch = None
    pre = tuple(match["pre"].split(".")) if match["pre"] and patch is not None else ()
    return _Partial(major, minor, patch, pre)


def _next(version: Version, level: str) -> Version:
    """The lowest version above every ``level``-sibling of ``version``: ``X.Y.Z-0`` style."""
    if level == "major":
        return Version(version.major + 1, 0, 0, _ZERO_PRE)
    if level == "minor":
        return Version(version.major, version.minor + 1, 0, _ZERO_PRE)
    return Version(version.major, version.minor, version.patch + 1, _ZERO_PRE)


def _precision(p: _Partial) -> str | None:
    """The last level given: 'patch' for 1.2.3, 'minor' for 1.2, 'major' for 1, None for *."""
    if p.patch is not None:
        return "patch"
    if p.minor is not None:
        return "minor"
    if p.major is not None:
        return "major"
    return None


def _comparator(token: str, whole: str) -> Interval:
    if token in ("*", "x", "X", ""):
        return Interval()
    match = _COMPARATOR.match(token)
    if match is None:
        raise InvalidRange(f"cannot read {token!r} in range {whole!r}")
    op = match["op"] or "="
    p = _partial(match["version"], whole)
    if op == "^":
        return _caret(p)
    if op in ("~", "~>"):
        return _tilde(p)
    return _compare(op, p)


def _caret(p: _Partial) -> Interval:
    floor = _floor(p)
    if p.major is None:
        return Interval()
    if p.major > 0 or p.minor is None:
        upper = _next(floor, "major")
    elif p.minor > 0 or p.patch is None:
        upper = _next(floor, "minor")
    else:
        upper = _next(floor, "patch")
    return Interval(Bound(floor, True), Bound(upper, False))


def _tilde(p: _Partial) -> Interval:
    floor = _floor(p)
    if p.major is None:
        return Interval()
    upper = _next(floor, "major" if p.minor is None else "minor")
    return Interval(Bound(floor, True), Bound(upper, False))


def _floor(p: _Partial) -> Version:
    """The lowest version a partial stands for: ``1.2`` → ``1.2.0-0``, ``1.2.3`` → itself."""
    return p.floor() if p.patch is not None else _lowest(p.floor())


def _compare(op: str, p: _Partial) -> Interval:
    level = _precision(p)
    floor = p.floor()
    if level is None:  # "*", ">=*", ...: anything (except "<*" / ">*", which match nothing)
        if op in ("<", ">"):
            return Interval(Bound(Version(0, 0, 0, _ZERO_PRE), False), Bound(_ZERO, False))
        return Interval()
    # A partial version stands for all its versions: =1.4 → [1.4.0-0, 1.5.0-0).
    above = _next(floor, level) if level != "patch" else None
    if op in ("=", "=="):
        if above is None:
            return Interval(Bound(floor, True), Bound(floor, True))
        return Interval(Bound(_lowest(floor), True), Bound(above, False))
    if op == ">=":
        return Interval(Bound(floor if above is None else _lowest(floor), True), None)
    if op == ">":
        return Interval(Bound(floor, False) if above is None else Bound(above, True), None)
    if op == "<":
        return Interval(None, Bound(floor if above is None else _lowest(floor), False))
    # "<="
    return Interval(None, Bound(floor, True) if above is None else Bound(above, False))


_ZERO = Version(0, 0, 0, _ZERO_PRE)


def _lowest(version: Version) -> Version:
    """``X.Y.Z-0``: below every pre-release of X.Y.Z, so ``<2`` excludes ``2.0.0-rc.1``."""
    return Version(version.major, version.minor, version.patch, _ZERO_PRE)
