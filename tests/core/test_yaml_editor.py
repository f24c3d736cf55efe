"""Byte-exact edits: quoting, the stale-digest rule, refusals and verification."""

from __future__ import annotations

import pytest

from bumper.core import finder
from bumper.core.edits import Edit
from bumper.core.yaml import editor
from bumper.errors import EditRefused, InvalidReference

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def edit(text: str, image: str, tag: str | None = None, digest: str | None = None) -> str:
    return editor.set_image(text, image, tag=tag, digest=digest).text


def test_only_the_tag_characters_change() -> None:
    text = "spec:\n  containers:\n    - image: nginx:1.25.3 # pinned\n"
    assert edit(text, "docker.io/library/nginx", "1.25.4") == text.replace("1.25.3", "1.25.4")


@pytest.mark.parametrize("value", ["1.10", "1e3", "012", "yes", "on", "null", "2024-01-02", "7"])
def test_plain_values_that_would_not_read_as_strings_get_quoted(value: str) -> None:
    text = "image:\n  repository: acme/app\n  tag: v1\n"
    assert edit(text, "acme/app", value) == text.replace("v1", f'"{value}"')


def test_existing_quote_style_is_kept() -> None:
    text = "a:\n  repository: acme/app\n  tag: 'v1'\nb:\n  image: \"acme/app:v1\"\n"
    assert edit(text, "acme/app", "1.10") == text.replace("v1", "1.10")


def test_tag_and_digest_together_and_digest_only() -> None:
    text = "containers:\n  - image: ghcr.io/a/b:1.0\n"
    both = edit(text, "ghcr.io/a/b", "1.1", NEW)
    assert both == text.replace("1.0", f"1.1@{NEW}")
    assert edit(both, "ghcr.io/a/b", digest=OLD) == text.replace("1.0", f"1.1@{OLD}")


def test_stale_digest_is_removed_when_only_the_tag_changes() -> None:
    combined = f"containers:\n  - image: ghcr.io/a/b:1.0@{OLD}\n"
    assert edit(combined, "ghcr.io/a/b", "1.1") == "containers:\n  - image: ghcr.io/a/b:1.1\n"
    split = f'image:\n  repository: a/b\n  tag: "1.0"\n  digest: {OLD}\n'
    assert edit(split, "a/b", "1.1") == 'image:\n  repository: a/b\n  tag: "1.1"\n  digest: ""\n'
    # Same tag again: the digest still belongs to it and stays.
    assert edit(combined, "ghcr.io/a/b", "1.0") == combined


def test_digest_goes_into_the_tag_field_when_there_is_no_digest_field() -> None:
    text = "image:\n  repository: a/b\n  tag: v1\n"
    assert edit(text, "a/b", digest=NEW) == text.replace("v1", f"v1@{NEW}")
    again = edit(text.replace("v1", f"v1@{OLD}"), "a/b", "v2")
    assert again == text.replace("v1", "v2")


def test_empty_tag_fields_are_filled() -> None:
    text = (
        "image:\n  repository: a/b\n  tag:   # defaults to appVersion\n"
        "  flow: {repository: c/d, tag: }\n"
    )
    out = edit(edit(text, "a/b", "v1"), "c/d", "v2")
    assert out == (
        "image:\n  repository: a/b\n  tag: v1   # defaults to appVersion\n"
        "  flow: {repository: c/d, tag: v2}\n"
    )


def test_refusals_say_why_and_change_nothing() -> None:
    no_digest_field = "tag: v1  # bumper:tag=acme/app\n"
    with pytest.raises(EditRefused, match="no digest field"):
        edit(no_digest_field, "acme/app", digest=NEW)
    no_tag = 'image:\n  repository: a/b\n  tag: ""\n'
    with pytest.raises(EditRefused, match="needs a tag"):
        edit(no_tag, "a/b", digest=NEW)
    only_repo = "image:\n  repository: a/b\n  pullPolicy: Always\n"
    assert finder.scan(only_repo).found[0].tag is None
    with pytest.raises(EditRefused, match="no tag field"):
        edit(only_repo, "a/b", "v1")


def test_already_current_is_no_change_and_other_images_are_untouched() -> None:
    text = "containers:\n  - image: a/b:1\n  - image: a/bb:1\n"
    result = editor.set_image(text, "a/b", tag="1")
    assert (result.text, result.changes, result.matched) == (text, (), 1)
    assert edit(text, "a/b", "2") == "containers:\n  - image: a/b:2\n  - image: a/bb:1\n"


def test_anchor_is_edited_once_for_all_aliases() -> None:
    text = "x: &i\n  repository: a/b\n  tag: v1\ny: *i\nz:\n  <<: *i\n"
    result = editor.set_image(text, "a/b", tag="v2")
    assert result.text == text.replace("v1", "v2") and len(result.changes) == 1


def test_verification_refuses_text_that_does_not_read_back() -> None:
    text = "containers:\n  - image: a/b:1\n  - image: a/c:2\n"
    before = finder.scan(text).found
    with pytest.raises(EditRefused, match="verification failed"):
        editor.verify(before, text.replace("a/b:1", "a/b:9"), [])  # a change nobody asked for
    with pytest.raises(EditRefused, match="no longer parses"):
        editor.verify(before, text + "  - [\n", [])
    with pytest.raises(EditRefused, match="overlapping"):
        editor.apply_edits(text, [Edit(1, 5, "x"), Edit(4, 6, "y")])


def test_kustomize_entries_get_missing_keys_added() -> None:
    block = "images:\r\n  - name: nginx\r\n    newName: ghcr.io/x/nginx  # mirror\r\n"
    assert edit(block, "ghcr.io/x/nginx", "1.10", NEW) == block + (
        f'    newTag: "1.10"\r\n    digest: {NEW}\r\n'
    )
    flow = "images: [{name: nginx, newTag: v1}]"
    assert (
        edit(flow, "nginx", digest=NEW) == f"images: [{{name: nginx, newTag: v1, digest: {NEW}}}]"
    )
    no_newline = "images:\n- name: nginx\n  newName: x/nginx"
    assert edit(no_newline, "x/nginx", "v2") == no_newline + "\n  newTag: v2"


def test_full_reference_sets_name_tag_and_digest_everywhere() -> None:
    text = (
        "containers:\n  - image: acme/api:1.0  # app\n"
        "image:\n  registry: docker.io\n  repository: acme/api\n  tag: '1.0'\n"
        "images:\n  - name: api\n    newName: acme/api\n    newTag: 1.0\n"
    )
    result = editor.set_reference(text, "acme/api", f"ghcr.io/acme/api:2.0@{NEW}")
    assert result.text == (
        f"containers:\n  - image: ghcr.io/acme/api:2.0@{NEW}  # app\n"
        f"image:\n  registry: ghcr.io\n  repository: acme/api\n  tag: '2.0@{NEW}'\n"
        f'images:\n  - name: api\n    newName: ghcr.io/acme/api\n    newTag: "2.0"\n'
        f"    digest: {NEW}\n"
    )
    assert {c.new_image for c in result.changes} == {"ghcr.io/acme/api"}


def test_rename_refusals() -> None:
    kustomize_without_new_name = "images:\n  - name: acme/api\n    newTag: v1\n"
    with pytest.raises(EditRefused, match="no name field"):
        editor.set_reference(kustomize_without_new_name, "acme/api", "ghcr.io/acme/api:v2")
    with pytest.raises(InvalidReference, match="neither a tag nor a digest"):
        editor.set_reference("a: b\n", "acme/api", "ghcr.io/acme/api")
