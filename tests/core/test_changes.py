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
