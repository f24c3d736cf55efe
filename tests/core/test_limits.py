"""bumper.core.yaml.limits: each parse limit refuses at its bound and not below, aliases count
expanded, and the refusal is a one-line ``ParseLimitExceeded`` raised before anything is built.
The real-world corpus passing the defaults is tests/test_corpus_yaml.py's job (it parses every
file through the finder, which checks them)."""

from __future__ import annotations

import pytest
import yaml

from bumper.core import finder
from bumper.core.yaml import limits
from bumper.core.yaml.limits import Limits
from bumper.errors import ParseLimitExceeded
from tests.support.hostile_yaml import alias_bomb


def refusal(text: str, bounds: Limits = limits.DEFAULT) -> str | None:
    try:
        limits.check(text, bounds)
    except ParseLimitExceeded as error:
        assert error.reason == "parse-limit" and "\n" not in str(error)
        return str(error)
    return None


@pytest.mark.parametrize(
    ("text", "over", "at", "problem"),
    [
        ("a: &a [1, 2]\nb: *a\n", Limits(max_alias_nodes=2), Limits(max_alias_nodes=3), "alias"),
        ("a: &a [1, 2]\nb: [*a]\n", Limits(max_depth=2), Limits(max_depth=3), "deeper than 2"),
        ("a: [[[1]]]\n", Limits(max_depth=3), Limits(max_depth=4), "deeper than 3"),
        (
            "---\na\n---\nb\n---\nc\n",
            Limits(max_documents=2),
            Limits(max_documents=3),
            "2 documents",
        ),
        ("[1, 2, 3, 4]", Limits(max_nodes=4), Limits(max_nodes=5), "more than 4 nodes"),
        # map, a, [1, 2] (3 nodes), b, and *a standing for those 3 again: 9
        ("a: &a [1, 2]\nb: *a\n", Limits(max_nodes=8), Limits(max_nodes=9), "more than 8 nodes"),
        ("x: " + "y" * 97, Limits(max_bytes=99), Limits(max_bytes=100), "100 bytes"),
    ],
)
def test_each_limit_refuses_above_its_bound_only(
    text: str, over: Limits, at: Limits, problem: str
) -> None:
    refused = refusal(text, over)
    assert refused is not None and problem in refused
    assert refusal(text, at) is None


def test_the_billion_laughs_is_refused_at_once_naming_the_line() -> None:
    text = alias_bomb()
    assert len(text) < 700
    refused = refusal(text)
    assert refused == (
        "over the YAML parse limits: aliases expand to more than 100000 nodes, "
        "like an alias bomb (line 12)"
    )


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert refusal("a: &a [1, *a]\n") is not None
    assert "inside its own anchor" in (refusal("a: &a {b: *a}\n") or "")


def test_anchors_are_per_document_and_redefinable() -> None:
    # The second document's *a is the small anchor of its own document, not the first's.
    text = "a: &a [[[1]]]\n---\na: &a 1\nb: [*a, *a]\n"
    assert refusal(text, Limits(max_depth=4)) is None


def test_text_that_is_not_yaml_is_left_to_the_parser() -> None:
    assert refusal("a: {b: [1\n") is None
    with pytest.raises(yaml.YAMLError):
        limits.load_all("a: {b: [1\n")


def test_load_all_builds_nothing_past_a_limit() -> None:
    with pytest.raises(ParseLimitExceeded):
        limits.load_all(alias_bomb())
    assert limits.load_all("a: &x [1]\nb: *x\n") == [{"a": [1], "b": [1]}]


def test_the_finder_skips_a_bomb_as_over_the_limits() -> None:
    scan = finder.scan("image: nginx:1.0\n" + alias_bomb().split("\n", 1)[1])
    assert scan.found == () and scan.skipped is not None
    assert scan.skipped.over_limits and "alias bomb" in scan.skipped.reason
    assert not finder.scan("a: [unclosed\n").skipped.over_limits  # type: ignore[union-attr]


def test_the_finders_check_skips_only_what_it_cannot_need() -> None:
    deep = "a: " + "[" * 200 + "]" * 200 + "\n"
    assert refusal(deep) is not None  # the agent recurses: refused
    limits.check(deep, nesting=False)  # the finder walks with a stack: libyaml caps at 1,000
    with pytest.raises(ParseLimitExceeded, match="alias bomb"):
        limits.check(alias_bomb(), nesting=False)
    flat = "[" + ",".join(["1"] * 10) + "]"
    with pytest.raises(ParseLimitExceeded, match="more than 5 nodes"):
        limits.check(flat, Limits(max_nodes=5), nesting=False)
    with pytest.raises(ParseLimitExceeded, match="more than 2 documents"):
        limits.check("a\n---\nb\n---\nc\n", Limits(max_documents=2), nesting=False)
