"""A reference found by its digest-pinned shape alone (Knative's image ConfigMap) is edited
by a bump that brings a digest, and kept as is by a tag-only bump, which would unpin it."""

from __future__ import annotations

from bumper.core import finder
from bumper.core.yaml import editor

DIGEST = "sha256:" + "1f" * 32
TEXT = f"kind: ConfigMap\ndata:\n  timer: gcr.io/kn/timer:v1@{DIGEST}\n  note: a b@{DIGEST}\n"


def test_a_pinned_string_is_found_by_its_shape_only() -> None:
    [found] = finder.scan(TEXT).found
    assert (found.image, found.tag, found.digest, found.pinned) == (
        "gcr.io/kn/timer",
        "v1",
        DIGEST,
        True,
    )
    assert found.confidence == "generic"


def test_a_tag_only_bump_keeps_it_and_a_digest_bump_edits_it() -> None:
    assert editor.set_image(TEXT, "gcr.io/kn/timer", tag="v2").text == TEXT
    new = "sha256:" + "2a" * 32
    edited = editor.set_image(TEXT, "gcr.io/kn/timer", tag="v2", digest=new).text
    assert edited == TEXT.replace(f"v1@{DIGEST}", f"v2@{new}")
