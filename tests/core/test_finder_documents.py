"""A large stream is scanned group of documents by group (bumper.core.finder_documents):
the references, their offsets, lines, documents and warnings are those a whole-stream parse
gives, an edit is byte-identical, and a document over the limits is skipped alone."""

from __future__ import annotations

import pytest

from bumper.core import finder, finder_documents
from bumper.core.yaml import documents, editor

DOC = (
    "---\n# deployment {n}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\n"
    "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
    "          image: ghcr.io/acme/app:1.{n}\n        - name: side\n"
    "          image: &side nginx:1.25\n        - {{name: copy, image: *side}}\n"
    "  replicas: 1\n  replicas: 2\n"
)
VALUES = (
    "---\nimage:\n  repository: ghcr.io/acme/api\n  tag: '2.{n}'  # bumper:tag=ghcr.io/acme/api\n"
)


def stream(count: int) -> str:
    return "\ufeff# generated\n" + "".join(
        (DOC if n % 3 else VALUES).format(n=n) for n in range(count)
    )


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finder_documents, "STREAM_ABOVE", 1_000)
    monkeypatch.setattr(finder_documents, "GROUP_SIZE", 700)


def test_groups_cut_only_at_document_starts() -> None:
    text = "a: 1\n---\n" + "b: 2\n" * 5 + "--- |\n  ---x\n---\nc: 3\n"
    spans = documents.groups(text, 12)
    assert [text[s:e] for s, e in spans] == [
        "a: 1\n",
        "---\n" + "b: 2\n" * 5,
        "--- |\n  ---x\n",
        "---\nc: 3\n",
    ]
    directives = "%YAML 1.1\n---\na: 1\n---\nb: 2\n"
    assert documents.groups(directives, 1) == [(0, len(directives))]


def test_a_stream_scanned_by_groups_equals_the_whole_parse(small_groups: None) -> None:
    text = stream(40)
    whole, count = finder._scan_whole(text)
    grouped = finder.scan(text)
    assert count == 40
    assert len(documents.groups(text, finder_documents.GROUP_SIZE)) > 5
    assert grouped.found == whole.found
    assert grouped.warnings == whole.warnings and len(whole.warnings) == 26
    assert grouped.skipped is None
    assert {f.kind for f in grouped.found} == {"pod-container", "marker"}


def test_an_edit_of_a_stream_by_groups_is_byte_identical(
    small_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = stream(40)
    grouped = editor.set_image(text, "nginx", tag="1.27").text
    api = editor.set_image(text, "ghcr.io/acme/api", tag="3.0").text
    monkeypatch.setattr(finder_documents, "STREAM_ABOVE", 10**9)  # the whole parse
    assert grouped == editor.set_image(text, "nginx", tag="1.27").text
    assert api == editor.set_image(text, "ghcr.io/acme/api", tag="3.0").text
    assert grouped.count("nginx:1.27") == 26 and api.count("tag: '3.0'") == 14


def test_a_document_over_the_limits_is_skipped_alone(small_groups: None) -> None:
    bomb = "---\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcde", "bcdef", strict=True)
    )
    text = stream(3) + bomb + stream(3).removeprefix("\ufeff")
    scanned = finder.scan(text)
    assert scanned.skipped is not None and scanned.skipped.over_limits
    first = text[: text.index(bomb)].count("\n") + 1
    assert scanned.skipped.reason == (
        f"document at line {first}: over the YAML parse limits: aliases expand to more than "
        f"100000 nodes, like an alias bomb (line {first + 5}); the other documents were scanned"
    )
    assert [f.image for f in scanned.found].count("ghcr.io/acme/app") == 4
