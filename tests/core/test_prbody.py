"""The PR body composer: sections kept within a limit, lowest priority shortened first, cut
only between whole blocks (tables, fences, <details>), with a visible note."""

from __future__ import annotations

from bumper.core import prbody
from bumper.core.prbody import Section

TABLE = "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | x |" for i in range(50))
FENCE = "```diff\n" + "\n".join(f"+line {i}" for i in range(400)) + "\n```"
DETAILS = f"<details><summary>diff</summary>\n\n{FENCE}\n\n</details>"


def test_a_body_within_the_limit_is_every_section_in_order() -> None:
    body = prbody.compose(
        [Section("intro", priority=100), Section("text", "Evidence", 70)], "<!-- m -->"
    )
    assert body == "intro\n\n### Evidence\n\ntext\n\n<!-- m -->\n"


def test_the_lowest_priority_section_is_shortened_first_with_a_note() -> None:
    low = Section("\n".join(f"- item {i}" for i in range(2000)), "Effect", 10)
    high = Section("\n".join(f"- fact {i}" for i in range(100)), "Evidence", 70)
    body = prbody.compose([high, low], "<!-- m -->", limit=5000)
    assert len(body) <= 5000 and body.endswith("<!-- m -->\n")
    assert "- fact 99" in body  # the higher priority section is whole
    assert "- item 0" in body and "- item 1999" not in body
    assert "**Truncated:** “Effect” is shortened by" in body
    assert "5,000-character limit" in body


def test_a_cut_never_falls_inside_a_table_a_fence_or_details() -> None:
    for block in (TABLE, FENCE, DETAILS):
        text = "first line\n\n" + block + "\n\nlast line"
        section = Section(text, "Part", 10)
        limit = len(prbody.compose([section])) - 10
        body = prbody.compose([section], limit=limit)
        assert len(body) <= limit
        assert "first line" in body and block not in body and "Truncated" in body
        assert body.count("```") % 2 == 0 and body.count("<details") == body.count("</details>")
        assert "| 0 | x |" not in body  # no half table


def test_blocks_join_back_to_the_text() -> None:
    text = "a\n" + TABLE + "\n\n" + DETAILS + "\nb\n```\nopen fence"
    blocks = prbody.blocks_of(text)
    assert "\n".join(blocks) == text
    assert TABLE in blocks and DETAILS in blocks and "```\nopen fence" in blocks


def test_several_sections_give_way_in_priority_order_and_the_tail_is_kept() -> None:
    parts = [
        Section("x" * 100, priority=100),
        Section("\n".join("y" * 50 for _ in range(40)), "Source range", 50),
        Section("\n".join("z" * 50 for _ in range(40)), "Release notes", 20),
    ]
    body = prbody.compose(parts, "<!-- m -->", limit=1500)
    assert len(body) <= 1500
    assert "x" * 100 in body and "“Release notes”" in body and "z" * 50 not in body
    assert body.endswith("<!-- m -->\n")


def test_limits_per_forge() -> None:
    assert prbody.limit_for("github") == 65_536
    assert prbody.limit_for("gitlab") == 1_048_576
    assert prbody.limit_for("git") == 65_536
