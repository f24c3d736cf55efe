"""Property tests: any valid tag or digest, written into any quote style and layout, reads back
as that exact string under a YAML 1.1 reader (PyYAML) and a YAML 1.2 reader (ruamel.yaml)."""

from __future__ import annotations

import io
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bumper.core import finder
from bumper.core.yaml import editor

TEMPLATES = [
    "image:\n  repository: acme/app\n  tag: {q}v1{q}\n",
    "image: {{repository: acme/app, tag: {q}v1{q}}}\n",
    "containers:\n  - image: {q}acme/app:v1{q}\n",
    "containers: [{{image: {q}acme/app:v1{q}}}]\n",
    "images:\n  - name: acme/app\n    newTag: {q}v1{q}\n",
]
# Tags that look like numbers, booleans, nulls and dates are the interesting ones.
tags = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.sampled_from(["1.10", "1e3", "012", "0x1F", "yes", "No", "on", "OFF", "null", "y"]),
    st.sampled_from(["2024-01-02", "1_000", "0b101", "0o17", "1", "0", "1.0", "Null", "TRUE"]),
)


def read_11(text: str) -> Any:
    return yaml.safe_load(text)


def read_12(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


def the_tag(data: Any) -> Any:
    if "image" in data and isinstance(data["image"], dict):
        return data["image"]["tag"]
    if "images" in data:
        return data["images"][0]["newTag"]
    return data["containers"][0]["image"].split(":", 1)[1]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(TEMPLATES), st.sampled_from(["", "'", '"']), tags)
def test_any_tag_reads_back_as_that_string(template: str, quote: str, tag: str) -> None:
    text = template.format(q=quote)
    result = editor.set_image(text, "acme/app", tag=tag)
    assert [f.tag for f in finder.find(result.text, "acme/app")] == [tag]
    for reader in (read_11, read_12):
        value = the_tag(reader(result.text))
        assert value == tag and isinstance(value, str), (reader.__name__, result.text)
    # Only the tag's characters (and quotes added around a plain value) changed.
    head = text.index("v1")
    assert result.text[:head].rstrip("\"'") == text[:head].rstrip("\"'")
    assert result.text.endswith(text[head + 2 :])


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(TEMPLATES), st.sampled_from(["", "'", '"']), st.integers(0, 2**256 - 1))
def test_any_digest_reads_back(template: str, quote: str, number: int) -> None:
    digest = f"sha256:{number:064x}"
    text = template.format(q=quote)
    result = editor.set_image(text, "acme/app", digest=digest)
    (found,) = finder.find(result.text, "acme/app")
    assert (found.tag, found.digest) == ("v1", digest)
    assert read_11(result.text) is not None and read_12(result.text) is not None
