"""The finder and editor never crash: any text scans (or is skipped with a reason), and any
edit either succeeds with a verified result or is refused with a typed error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bumper.core import finder
from bumper.core.yaml import editor
from bumper.errors import EditRefused, InvalidReference

_PIECES = [*"abc:-[]{}#&*!|>'\"@/.\n\t \r0123456789", "image: ", "tag: ", "\n  ", "\ufeff"]
YAMLISH = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_scan_never_raises(text: str) -> None:
    result = finder.scan(text)
    assert result.skipped is None or result.skipped.reason
    for found in result.found:
        for start, end in found.spans:
            assert 0 <= start <= end <= len(text)


@settings(max_examples=300, deadline=None)
@given(YAMLISH, st.sampled_from(["a", "b/c", "abc"]), st.sampled_from(["1.10", "v2", "on"]))
def test_set_image_succeeds_or_refuses(text: str, image: str, tag: str) -> None:
    try:
        result = editor.set_image(text, image, tag=tag)
    except (EditRefused, InvalidReference):
        return
    assert all(f.tag == tag for f in finder.find(result.text, image))
