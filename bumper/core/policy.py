"""Tag policies: is a candidate tag (or digest) allowed, and newer than what a target has?

A policy is compiled from the ``policy`` block of an image rule in bumper.yaml
(:class:`bumper.core.config.Policy`). Checks run in this order, and the first that fails
decides:

1. ``ignore`` tag globs, then ``allow`` tag globs (if any is given, one must match);
2. the strategy:
   - ``semver``: the tag (or the regex's ``extract`` group) is a strict semantic version,
     optionally ``v``-prefixed, inside the range; pre-releases only with ``prerelease: true``;
   - ``regex`` + ``order``: the whole tag matches; the ``extract`` group (or the whole tag) is
     ordered ``numeric`` (integers or decimals) or ``alphabetical``;
   - ``digest``: only the tracked mutable tag (e.g. ``latest``), and only with a digest that
     differs from the current one; the result is pinned as ``tag@digest``;
3. against the current value of the target: newer is accepted; equal is rejected (except a
   new digest with ``pin_digest``); older is rejected unless ``allow_downgrade: true``.
   A current tag the policy cannot read (e.g. ``latest`` under a semver policy) is replaced.

Every call returns a :class:`Decision` (candidate, rule, result, why), which is what the
decision log stores. :func:`select` picks the best of many candidates (a burst of pushes) and
does not depend on their order.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Literal

from bumper.core import config, semver

Result = Literal["accepted", "rejected", "held", "ambiguous"]
Strategy = Literal["semver", "numeric", "alphabetical", "digest"]
Key = tuple[Any, ...]

_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class Candidate:
    """A tag, with the digest the event carried when it had one."""

    tag: str
    digest: str | None = None
    received_at: float = 0.0  # breaks ties: of two pushes of one tag, the later one wins

    def __str__(self) -> str:
        return f"{self.tag}@{self.digest}" if self.digest else self.tag


@dataclass(frozen=True)
class Current:
    """What a target references now (``tag`` may be absent for a digest-only reference)."""

    tag: str | None
    digest: str | None = None

    def __str__(self) -> str:
        text = self.tag or ""
        return f"{text}@{self.digest}" if self.digest else text


@dataclass(frozen=True)
class Decision:
    """The explanation of one verdict. ``pin`` is what to write (``tag`` or ``tag@digest``)."""

    candidate: str
    rule: str
    result: Result
    why: str
    current: str | None = None
    pin: str | None = None

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


Decide = Callable[[Result, str, str], Decision]


def hold(decision: Decision, *, rule: str, why: str) -> Decision:
    """The same candidate, held (e.g. by a CI gate) rather than applied now."""
    return dataclasses.replace(decision, result="held", rule=rule, why=why)


@dataclass(frozen=True)
class CompiledPolicy:
    """A compiled policy; build it with :func:`from_config`."""

    strategy: Strategy
    range: semver.Range | None = None
    prerelease: bool = False
    regex: re.Pattern[str] | None = None
    extract: str | None = None
    track: str | None = None
    # True: always tag@digest; False: tags only; None: keep each reference's form.
    pin_digest: bool | None = None
    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_downgrade: bool = False

    def describe(self) -> str:
        """The strategy as a rule name for explanations: ``semver ^1.4``, ``digest latest``."""
        if self.strategy == "digest":
            return f"digest {self.track}"
        if self.strategy == "semver":
            text = f"semver {self.range}"
        else:
            text = self.strategy
        if self.regex is not None:
            group = f" extract {self.extract}" if self.extract else ""
            text += f" (regex {self.regex.pattern!r}{group})"
        return text


def from_config(spec: config.Policy) -> CompiledPolicy:
    """A :class:`CompiledPolicy` from a validated config block."""
    strategy: Strategy
    if spec.digest is not None:
        strategy = "digest"
    elif spec.semver is not None:
        strategy = "semver"
    else:
        strategy = spec.order or "alphabetical"
    return CompiledPolicy(
        strategy=strategy,
        range=semver.parse_range(spec.semver) if spec.semver is not None else None,
        prerelease=spec.prerelease,
        regex=re.compile(spec.regex) if spec.regex is not None else None,
        extract=spec.extract,
        track=spec.digest,
        pin_digest=True if spec.digest is not None else spec.pin_digest,
        allow=tuple(spec.allow),
        ignore=tuple(spec.ignore),
        allow_downgrade=spec.allow_downgrade,
    )


class _Refused(Exception):
    """Internal: a candidate fails a rule (``rule``, ``why``)."""

    def __init__(self, rule: str, why: str) -> None:
        super().__init__(why)
        self.rule = rule
        self.why = why


def sort_key(policy: CompiledPolicy, tag: str) -> Key:
    """The ordering key of ``tag`` under the strategy; ``ValueError`` says why there is none."""
    try:
        return _key(policy, tag)
    except _Refused as refused:
        raise ValueError(refused.why) from None


def _key(policy: CompiledPolicy, tag: str) -> Key:
    value = tag
    if policy.regex is not None:
        match = policy.regex.fullmatch(tag)
        if match is None:
            raise _Refused(policy.describe(), f"{tag!r} does not match {policy.regex.pattern!r}")
        value = match[policy.extract] if policy.extract else tag
        if value is None:
            raise _Refused(policy.describe(), f"group {policy.extract!r} matched nothing")
    if policy.strategy == "semver":
        return _semver_key(policy, value)
    if policy.strategy == "numeric":
        if not _NUMBER.match(value):
            raise _Refused(policy.describe(), f"{value!r} is not a number")
        return (Decimal(value),)
    if policy.strategy == "alphabetical":
        return (value,)
    if tag != policy.track:
        raise _Refused(policy.describe(), f"only tag {policy.track!r} is tracked")
    return ()


def _semver_key(policy: CompiledPolicy, value: str) -> Key:
    assert policy.range is not None
    version = semver.try_version(value)
    if version is None:
        raise _Refused(policy.describe(), f"{value!r} is not a semantic version")
    if version.is_prerelease and not policy.prerelease:
        raise _Refused("prerelease", f"{value} is a pre-release; set prerelease: true to allow")
    if not policy.range.contains(version):
        raise _Refused(policy.describe(), f"{value} is outside {policy.range}")
    return version.precedence()


def _screen(policy: CompiledPolicy, tag: str) -> None:
    for pattern in policy.ignore:
        if fnmatchcase(tag, pattern):
            raise _Refused(f"ignore {pattern}", f"{tag!r} matches ignore pattern {pattern!r}")
    if policy.allow and not any(fnmatchcase(tag, p) for p in policy.allow):
        listed = ", ".join(policy.allow)
        raise _Refused("allow", f"{tag!r} matches no allow pattern ({listed})")


def pins(policy: CompiledPolicy, current: Current | None) -> bool:
    """Whether the target is to hold ``tag@digest``: always with ``pin_digest: true``,
    never with ``false``, and unset, when what it holds now is pinned (its form is kept)."""
    if policy.pin_digest is None:
        return current is not None and current.digest is not None
    return policy.pin_digest


def _pin(policy: CompiledPolicy, candidate: Candidate, current: Current | None) -> str:
    if pins(policy, current) and candidate.digest:
        return f"{candidate.tag}@{candidate.digest}"
    return candidate.tag


def _unpinnable(policy: CompiledPolicy, candidate: Candidate, current: Current | None) -> bool:
    """A pinned target whose pin is kept, offered a tag whose digest nobody resolved: writing
    the tag alone would silently unpin it."""
    return policy.pin_digest is None and pins(policy, current) and not candidate.digest


def evaluate(
    policy: CompiledPolicy, candidate: Candidate, current: Current | None = None
) -> Decision:
    """Decide one candidate against the target's current value."""
    now = str(current) if current is not None and (current.tag or current.digest) else None

    def decide(result: Result, rule: str, why: str) -> Decision:
        if result == "accepted" and _unpinnable(policy, candidate, current):
            result, rule, why = "rejected", "pinned", _unpinned_why(candidate, current)
        pin = _pin(policy, candidate, current) if result == "accepted" else None
        return Decision(str(candidate), rule, result, why, now, pin)

    try:
        _screen(policy, candidate.tag)
        key = _key(policy, candidate.tag)
        if policy.strategy == "digest":
            return _versus_digest(policy, candidate, current, decide)
    except _Refused as refused:
        return decide("rejected", refused.rule, refused.why)
    return _versus_current(policy, candidate, key, current, decide)


def _unpinned_why(candidate: Candidate, current: Current | None) -> str:
    return (
        f"current {current} is pinned by digest and no digest is known for {candidate.tag}:"
        " a registries: entry for its host lets the worker resolve it (pin_digest: false"
        " writes tags only)"
    )


def _versus_digest(
    policy: CompiledPolicy, candidate: Candidate, current: Current | None, decide: Decide
) -> Decision:
    rule = policy.describe()
    if not candidate.digest:
        return decide("rejected", rule, "the event carries no digest; digest tracking needs one")
    if current is not None and current.digest == candidate.digest:
        return decide("rejected", "no-op", f"already at {candidate.digest}")
    was = f" (was {current.digest})" if current is not None and current.digest else ""
    return decide("accepted", rule, f"new digest for {candidate.tag!r}{was}")


def _versus_current(
    policy: CompiledPolicy, candidate: Candidate, key: Key, current: Current | None, decide: Decide
) -> Decision:
    rule = policy.describe()
    if current is None or current.tag is None:
        return decide("accepted", rule, "allowed; no current tag to compare with")
    try:
        current_key = _key(policy, current.tag)
    except _Refused as refused:
        why = f"allowed; current {current.tag!r} is not under this policy ({refused.why})"
        return decide("accepted", rule, why)
    if key > current_key:
        return decide("accepted", rule, f"newer than current {current.tag}")
    if key == current_key:
        return _same_version(policy, candidate, current, decide)
    if policy.allow_downgrade:
        return decide("accepted", "allow_downgrade", f"older than {current.tag}; allowed")
    return decide("rejected", "no-downgrade", f"older than current {current.tag}")


def _same_version(
    policy: CompiledPolicy, candidate: Candidate, current: Current, decide: Decide
) -> Decision:
    if (
        candidate.tag == current.tag
        and pins(policy, current)
        and candidate.digest
        and candidate.digest != current.digest
    ):
        return decide(
            "accepted", "pin_digest", f"{candidate.tag} now has digest {candidate.digest}"
        )
    if candidate.tag == current.tag:
        return decide("rejected", "no-op", f"already at {current}")
    return decide("rejected", "no-op", f"same version as current {current.tag}")


@dataclass(frozen=True)
class Selection:
    """The best decision (``None`` when nothing is accepted) and one decision per candidate.

    ``decisions[i]`` judges the ``i``-th candidate given to :func:`select`, and ``winner`` is
    the index of the chosen one: a caller finds its own record of a candidate by position,
    never by comparing the decision's text.
    """

    best: Decision | None
    decisions: tuple[Decision, ...]
    winner: int | None = None


def select(
    policy: CompiledPolicy, candidates: Iterable[Candidate], current: Current | None = None
) -> Selection:
    """Pick the newest accepted candidate; the others are rejected as superseded.

    The choice does not depend on the order of ``candidates``: ties on the policy's order
    (``v1.2.3`` vs ``1.2.3``, or one mutable tag pushed twice) are broken by ``received_at``,
    then tag text, then digest.
    """
    items = list(candidates)
    decisions = [evaluate(policy, c, current) for c in items]
    accepted = [i for i, d in enumerate(decisions) if d.accepted]
    if not accepted:
        return Selection(None, tuple(decisions))
    winner = max(accepted, key=lambda i: _rank(policy, items[i]))
    why = f"superseded by {items[winner]} in the same batch"
    final = tuple(
        dataclasses.replace(d, result="rejected", rule="newest", why=why, pin=None)
        if d.accepted and i != winner
        else d
        for i, d in enumerate(decisions)
    )
    return Selection(final[winner], final, winner)


def _rank(policy: CompiledPolicy, candidate: Candidate) -> tuple[Key, float, str, str]:
    return (
        _key(policy, candidate.tag),
        candidate.received_at,
        candidate.tag,
        candidate.digest or "",
    )


def newest(policy: CompiledPolicy, tags: Sequence[str]) -> str | None:
    """The newest allowed tag of ``tags`` ignoring any current value (e.g. a tag listing)."""
    best = select(policy, (Candidate(tag) for tag in tags)).best
    return best.candidate if best is not None else None
