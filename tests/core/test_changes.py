"""bumper.core.changes: branch names, commit messages, PR title and body."""

from __future__ import annotations

import re
from typing import NamedTuple

from bumper.core import changes, finder
from bumper.core.edits import ImageEdit


class Row(NamedTuple):
    """Any record with the ``changes.EditedReference`` fields: the text does not care which."""

    path: str
    old: str
    new: str
    line: int | None = None


def result(**overrides: object) -> changes.BumpResult:
    values: dict[str, object] = {
        "name": "api",
        "image": "ghcr.io/acme/api",
        "tag": "1.5.0",
        "repo": "platform-config",
        "branch": "main",
        "mode": "pr",
        "target": "api.0",
        "old_tag": "1.4.2",
        "paths": ("apps/api/**",),
        "changes": (
            Row("apps/api/deploy.yaml", "ghcr.io/acme/api:1.4.2", "ghcr.io/acme/api:1.5.0", 12),
            Row("apps/api/values.yaml", "1.4.2", "1.5.0"),
        ),
        "decision": "chosen: semver ^1.4",
        "why": "1.5.0 is the newest in ^1.4",
        "source": "harbor",
        "delivery_id": "d-42",
        "event_url": "https://harbor.example/d-42",
    }
    values.update(overrides)
    return changes.BumpResult(**values)  # type: ignore[arg-type]


def test_branch_name_is_stable_distinct_and_git_safe() -> None:
    first = changes.branch_name("platform-config", "api.0", "ghcr.io/acme/api")
    assert first == changes.branch_name("platform-config", "api.0", "ghcr.io/acme/api")
    assert first != changes.branch_name("platform-config", "api.1", "ghcr.io/acme/api")
    assert first != changes.branch_name("other", "api.0", "ghcr.io/acme/api")
    weird = changes.branch_name("r", "Weird Name..x/../y", "reg:5000/A B/c")
    for name in (first, weird):
        assert name.startswith("bumper/")
        assert re.fullmatch(r"[a-z0-9._/-]+", name), name
        assert ".." not in name and not name.endswith((".", "/", ".lock"))


def test_commit_message_lists_each_change_and_ends_with_trailer() -> None:
    message = changes.commit_message(result())
    lines = message.splitlines()
    assert lines[0] == "Bump api to 1.5.0"
    assert "- apps/api/deploy.yaml: ghcr.io/acme/api:1.4.2 → ghcr.io/acme/api:1.5.0" in lines
    assert "Policy: chosen: semver ^1.4" in lines
    assert lines[-1] == "Bumper-Target: api.0"


def test_templates_fill_fields_and_keep_unknown_and_escaped_braces() -> None:
    templated = changes.commit_message(
        result(digest="sha256:abc"), "deploy {name} {ref} {{x}} {nope}"
    )
    assert templated.startswith("deploy api 1.5.0@sha256:abc {x} {nope}\n")
    assert (
        changes.pr_title(result(), "{name}: {old_tag} → {tag}\nsecond line") == "api: 1.4.2 → 1.5.0"
    )


def test_pr_body_has_table_with_decision_and_event_link_and_marker() -> None:
    body = changes.pr_body(result())
    assert "| file | old → new | policy decision | source event |" in body
    assert (
        "| `apps/api/deploy.yaml:12` | `ghcr.io/acme/api:1.4.2` → `ghcr.io/acme/api:1.5.0` "
        "| chosen: semver ^1.4 | harbor [d-42](https://harbor.example/d-42) |"
    ) in body
    assert "| `apps/api/values.yaml` | `1.4.2` → `1.5.0` |" in body
    assert changes.target_of(body) == "api.0"
    assert changes.target_of("a human PR") is None


def test_table_cells_cannot_break_the_table() -> None:
    body = changes.pr_body(result(decision="a|b\nc", event_url=None, delivery_id=""))
    row = next(line for line in body.splitlines() if line.startswith("| `apps/api/deploy"))
    assert row.count(" | ") == 3 and "a\\|b c" in row and row.endswith("| harbor event |")


def test_fields_cover_every_config_template_field() -> None:
    from bumper.core import config

    known = getattr(config, "TEMPLATE_FIELDS", None)
    values = changes.fields(result())
    assert values["files"] == "apps/api/deploy.yaml, apps/api/values.yaml"
    assert values["count"] == "2"
    if known is not None:
        assert set(known) <= set(values)


def test_applied_image_edits_are_the_rows() -> None:
    found = finder.Found("ghcr.io/acme/api", "1.4.2", "sha256:" + "a" * 64, "container", 7)
    applied = ImageEdit(found, "apps/api/deploy.yaml").planned("1.5.0", None, ()).applied()
    body = changes.pr_body(result(changes=(applied,)))
    message = changes.commit_message(result(changes=(applied,)))
    assert f"| `apps/api/deploy.yaml:7` | `1.4.2@sha256:{'a' * 64}` → `1.5.0` |" in body
    assert f"- apps/api/deploy.yaml: 1.4.2@sha256:{'a' * 64} → 1.5.0" in message.splitlines()


FORGED = "d-1\n\nSigned-off-by: Mallory <m@evil.example>\r\nCo-authored-by: x\u2028# heading\x00"


def test_event_fields_cannot_add_lines_or_forge_trailers_in_the_commit() -> None:
    for template in (None, "Bump {name}\n\n{delivery_id}\n{source}"):
        text = changes.commit_message(result(delivery_id=FORGED, source="gh\nX: y"), template)
        lines = text.splitlines()
        assert not any(line.startswith(("Signed-off-by:", "Co-authored-by:")) for line in lines)
        assert not any(c in text for c in "\r\x00\u2028")
        # the last paragraph, where git reads trailers, is Bumper's own and nothing else
        assert text.rstrip("\n").split("\n\n")[-1].splitlines() == [
            "Bumper-Delivery: d-1_Signed-off-by:_Mallory_<m@evil.example>_Co-authored-by:_x"
            "_#_heading",
            "Bumper-Decision: chosen: semver ^1.4",
            "Bumper-Target: api.0",
        ]
        assert any("Signed-off-by: Mallory" in line for line in lines)  # kept, but inline


def test_conventional_style_titles_the_commit_and_the_pr_and_templates_still_win() -> None:
    message = changes.commit_message(result(), style="conventional")
    assert message.splitlines()[0] == "chore(deps): bump api to 1.5.0"
    assert changes.pr_title(result(), style="conventional") == "chore(deps): bump api to 1.5.0"
    assert changes.pr_title(result(), "{name} now {tag}", style="conventional") == "api now 1.5.0"
    assert changes.commit_message(result()).splitlines()[0] == "Bump api to 1.5.0"


def test_trailers_name_the_delivery_and_decision_only_when_known() -> None:
    message = changes.commit_message(result(delivery_id="", decision=""))
    assert message.rstrip("\n").split("\n\n")[-1] == "Bumper-Target: api.0"
    assert changes.sanitised("ab c\u00e9\x7f" + "x" * 400) == "ab_c__" + "x" * 193 + "_"


def test_the_last_marker_names_the_target_even_after_a_forged_one() -> None:
    forged = "<!-- bumper:target=evil/0 image=x -->"
    body = changes.pr_body(result(why=forged))
    assert changes.target_of(body) == "api.0"


def test_event_fields_stay_in_their_table_cell_and_links_are_plain_urls() -> None:
    body = changes.pr_body(
        result(
            delivery_id=FORGED, why="x\n\n## y", event_url="https://ok.example/a) [x](javascript:1"
        )
    )
    table = [line for line in body.splitlines() if line.startswith("| `apps/api/deploy")]
    assert len(table) == 1 and "Signed-off-by: Mallory" in table[0]
    assert "](https://ok.example" not in body and "javascript" not in body.split("|")[-2]
    assert "\n## y" not in body and "**Why:** x ## y" in body
    linked = changes.pr_body(result(event_url="https://harbor.example/d-42?x=1"))
    assert "[d-42](https://harbor.example/d-42?x=1)" in linked


def test_inline_bounds_the_length() -> None:
    assert changes.inline("a" * 1000) == "a" * (changes.FIELD_LIMIT - 1) + "…"
    assert changes.inline(" ok\t\tfine \n") == "ok fine"
    assert changes.safe_url("ftp://x") is None and changes.safe_url("https://x/y") == "https://x/y"


def test_unlisted_changes_are_counted_in_the_message_table_files_and_count() -> None:
    bumped = result(unlisted=(("apps/fleet.yaml", 287_900),))
    message = changes.commit_message(bumped)
    assert "- apps/fleet.yaml: 287900 more references changed the same way" in message
    table = changes.change_table(bumped).splitlines()
    assert table[-1].startswith(
        "| `apps/fleet.yaml` | 287900 more references changed the same way |"
    )
    assert bumped.files[-1] == "apps/fleet.yaml"
    assert changes.render("{count} in {files}", bumped) == (
        "287902 in apps/api/deploy.yaml, apps/api/values.yaml, apps/fleet.yaml"
    )
