"""Semantic versions and npm-style ranges (includePrerelease semantics).

Tables check each operator on both sides of its bounds; hypothesis checks that precedence is
a total order consistent with SemVer 2.0 and that printing round-trips.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bumper.core import semver


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("1.2.3", (1, 2, 3, (), ())),
        ("v1.2.3", (1, 2, 3, (), ())),
        ("V0.0.0-rc.1+build.5", (0, 0, 0, ("rc", "1"), ("build", "5"))),
        ("10.20.30-alpha-beta", (10, 20, 30, ("alpha-beta",), ())),
    ],
)
def test_versions_parse(text: str, parts: tuple[object, ...]) -> None:
    v = semver.parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == parts


@pytest.mark.parametrize(
    "text", ["1.2", "1", "01.2.3", "1.2.3-01", "1.2.3-", "latest", "1.2.3.4", "vv1.2.3", ""]
)
def test_non_versions_are_refused(text: str) -> None:
    with pytest.raises(semver.InvalidVersion):
        semver.parse_version(text)
    assert semver.try_version(text) is None


def test_precedence_follows_semver_spec_example() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    versions = [semver.parse_version(t) for t in chain]
    assert all(a < b for a, b in zip(versions, versions[1:], strict=False))
    assert semver.parse_version("1.0.0+a") == semver.parse_version("v1.0.0+b")


RANGES = [
    # (range, satisfied, not satisfied)
    ("^1.2.3", ["1.2.3", "1.9.9", "1.3.0-rc.1"], ["1.2.2", "2.0.0", "2.0.0-rc.1", "1.2.3-rc.1"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2", "1.0.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    ("^1.2", ["1.2.0", "1.2.0-rc.1", "1.99.0"], ["1.1.9", "2.0.0"]),
    ("^0", ["0.0.1", "0.9.9"], ["1.0.0", "1.0.0-rc.1"]),
    ("~1.2.3", ["1.2.3", "1.2.99"], ["1.3.0", "1.2.2", "1.3.0-rc.1"]),
    ("~1.2", ["1.2.0", "1.2.5"], ["1.3.0", "1.1.9"]),
    ("~1", ["1.0.0", "1.9.0"], ["2.0.0", "0.9.0"]),
    (
        ">=1.4.0 <2",
        ["1.4.0", "1.99.99", "1.5.0-rc.1"],
        ["1.3.9", "2.0.0", "2.0.0-rc.1", "1.4.0-rc.1"],
    ),
    (">=1.4.0, <2.0.0", ["1.4.0", "2.0.0-rc.1"], ["2.0.0", "1.3.0"]),
    (">1.4", ["1.5.0", "1.5.0-rc.1"], ["1.4.9", "1.4.0"]),
    (">1.4.0", ["1.4.1"], ["1.4.0"]),
    ("<=1.4", ["1.4.9", "0.1.0"], ["1.5.0", "1.5.0-0"]),
    ("<=1.4.0", ["1.4.0"], ["1.4.1"]),
    ("<1.4", ["1.3.9"], ["1.4.0", "1.4.0-rc.1"]),
    ("1.4", ["1.4.0", "1.4.7"], ["1.5.0", "1.3.0"]),
    ("1.4.x", ["1.4.0", "1.4.7"], ["1.5.0"]),
    ("=1.4.2", ["1.4.2", "v1.4.2"], ["1.4.3"]),
    ("==v1.4.2", ["1.4.2"], ["1.4.1"]),
    ("*", ["0.0.0", "99.0.0", "1.0.0-rc.1"], []),
    ("1.x || >=3.1 <3.2", ["1.0.0", "3.1.5"], ["2.0.0", "3.2.0"]),
    (">= 1.2.0 < 1.3.0", ["1.2.5"], ["1.3.0"]),
    ("<*", [], ["0.0.0", "1.0.0"]),
]


@pytest.mark.parametrize(("text", "inside", "outside"), RANGES)
def test_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    r = semver.parse_range(text)
    for v in inside:
        assert r.contains(semver.parse_version(v)), f"{v} should satisfy {text}"
    for v in outside:
        assert not r.contains(semver.parse_version(v)), f"{v} should not satisfy {text}"


@pytest.mark.parametrize(
    "text", ["", "  ", ">=1.4 <<2", "1.2 - 1.4", "^", "foo", ">=1.2.3 ||", "=>1.2", "1.2.3.4"]
)
def test_invalid_ranges_raise_with_reason(text: str) -> None:
    with pytest.raises(semver.InvalidRange):
        semver.parse_range(text)
    assert not semver.is_valid_range(text)


identifiers = st.one_of(
    st.integers(0, 50).map(str), st.text("abcxyz-", min_size=1, max_size=4).filter(str.strip)
)
versions = st.builds(
    semver.Version,
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.lists(identifiers, max_size=3).map(tuple),
)


@given(versions)
def test_print_parse_round_trip(v: semver.Version) -> None:
    assert semver.parse_version(str(v)) == v
    assert semver.parse_version("v" + str(v)) == v


@given(versions, versions, versions)
def test_order_is_total_and_transitive(
    a: semver.Version, b: semver.Version, c: semver.Version
) -> None:
    assert (a < b) + (b < a) + (a == b) == 1
    if a <= b and b <= c:
        assert a <= c


@given(versions, st.integers(0, 5), st.integers(0, 5), st.integers(0, 5))
def test_caret_equals_its_explicit_bounds(v: semver.Version, x: int, y: int, z: int) -> None:
    caret = semver.parse_range(f"^{x}.{y}.{z}")
    if x > 0:
        upper = f"{x + 1}.0.0-0"
    elif y > 0:
        upper = f"0.{y + 1}.0-0"
    else:
        upper = f"0.0.{z + 1}-0"
    explicit = semver.parse_range(f">={x}.{y}.{z} <{upper}")
    assert caret.contains(v) == explicit.contains(v)
