"""A large stream edited group of documents by group (``core.yaml.streamedit``) is byte for
byte the stream edited whole, with the same change list and, for a dry run, a diff that
applies to the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bumper.core import finder_documents
from bumper.core.yaml import documents, editor, streamedit
from bumper.errors import EditRefused

IMAGE = "ghcr.io/acme/app"
PAD = "---\nkind: ConfigMap\nmetadata:\n  name: pad-{n}\ndata:\n" + "".join(
    f"  k{i}: {'x' * 60}\n" for i in range(40)
)
FORMS = [
    # a container, a Helm split form, a kustomize name-only entry (the tag is inserted: a
    # line is added, so later hunks move), an image already current, another image, CRLF
    "---\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: app\n          image: ghcr.io/acme/app:1.0 # pinned\n",
    "---\nimage:\n  repository: ghcr.io/acme/app\n  tag: '1.0'\n  sha: ''\n",
    "---\nkind: Kustomization\nimages:\n  - name: ghcr.io/acme/app\n",
    "---\nkind: Pod\nspec:\n  containers:\n    - image: ghcr.io/acme/app:2.0\n",
    "---\nkind: Pod\nspec:\n  containers:\n    - image: ghcr.io/acme/other:1.0\n",
    '---\r\nkind: Pod\r\nspec:\r\n  containers:\r\n    - image: "ghcr.io/acme/app:1.0"\r\n',
]


def large_stream(refusing_at: int | None = None) -> str:
    """About 3 MB of documents: padding, and each form of ``FORMS`` every few documents."""
    docs = []
    for n in range(900):
        docs.append(PAD.format(n=n))
        if n % 7 == 0:
            docs.append(FORMS[(n // 7) % len(FORMS)])
        if n == refusing_at:  # a split form with no tag field: a tag cannot be set
            docs.append("---\nimage:\n  repository: ghcr.io/acme/app\n  pullPolicy: Always\n")
    return "".join(docs)


def test_group_by_group_is_the_whole_edit_byte_for_byte() -> None:
    text = large_stream()
    assert len(text) > finder_documents.STREAM_ABOVE
    assert len(documents.groups(text, finder_documents.GROUP_SIZE)) > 10
    whole = editor.set_image(text, IMAGE, tag="2.0")
    parts = list(streamedit.edit_parts(text, IMAGE, tag="2.0", path="all.yaml"))
    assert "".join(part.after for part in parts) == whole.after
    assert [(c.path, c.line, c.kind, c.old, c.new) for p in parts for c in p.changes] == [
        ("all.yaml", r.line, r.kind, r.old, r.new) for r in whole.changes
    ]
    assert sum(part.matched for part in parts) == whole.matched
    assert len(whole.changes) > 80 and whole.matched > len(whole.changes)


def test_the_dry_run_diff_applies_to_the_file(tmp_path: Path) -> None:
    text = large_stream()
    expected = editor.set_image(text, IMAGE, tag="2.0", digest="sha256:" + "a" * 64).after
    parts = streamedit.edit_parts(
        text, IMAGE, tag="2.0", digest="sha256:" + "a" * 64, path="all.yaml", diff=True
    )
    diff = "--- a/all.yaml\n+++ b/all.yaml\n" + "".join(part.hunks for part in parts)
    (tmp_path / "all.yaml").write_bytes(text.encode())
    (tmp_path / "change.diff").write_bytes(diff.encode())
    subprocess.run(["git", "apply", "change.diff"], cwd=tmp_path, check=True)
    assert (tmp_path / "all.yaml").read_bytes() == expected.encode()


def test_a_refusal_names_the_stream_line() -> None:
    text = large_stream(refusing_at=600)
    line = text[: text.index("pullPolicy")].count("\n")  # the "repository:" line
    with pytest.raises(EditRefused, match=f"line {line} .*no tag field"):
        list(streamedit.edit_parts(text, IMAGE, tag="2.0"))
