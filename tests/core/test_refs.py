"""Image reference grammar: examples from distribution/reference plus hypothesis round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bumper.core import refs
from bumper.errors import BumperError, InvalidReference

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "0123456789abcdef" * 8


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("docker.io/library/nginx", "docker.io", "library/nginx", None, None),
        ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None),
        ("registry-1.docker.io/bitnami/redis", "docker.io", "bitnami/redis", None, None),
        (
            "bitnami/redis:7.2.4-debian-12-r9",
            "docker.io",
            "bitnami/redis",
            "7.2.4-debian-12-r9",
            None,
        ),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", None, None),
        ("[::1]:5000/app:tag", "[::1]:5000", "app", "tag", None),
        ("Registry.Example.COM/a/b/c/d", "registry.example.com", "a/b/c/d", None, None),
        ("ghcr.io/org/sub/app:1.0@" + SHA256, "ghcr.io", "org/sub/app", "1.0", SHA256),
        ("quay.io/app@" + SHA512, "quay.io", "app", None, SHA512),
        ("foo/a__b.c-d---e:_x", "docker.io", "foo/a__b.c-d---e", "_x", None),
        ("example.com/app@sha1:" + "b" * 40, "example.com", "app", None, "sha1:" + "b" * 40),
    ],
)
def test_parse_examples(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = refs.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("Nginx", "lower-case"),
        ("ghcr.io/Org/app", "lower-case"),
        ("nginx:", "empty tag"),
        ("nginx:-bad", "invalid tag"),
        ("nginx:" + "a" * 129, "at most 128"),
        ("nginx@sha256:abc", "at least 32"),
        ("nginx@sha256:" + "a" * 63, "expected 64"),
        ("nginx@sha256:" + "A" * 64, "lower-case"),
        ("nginx@sha512:" + "a" * 64, "expected 128"),
        ("nginx@" + "a" * 64, "algorithm:hex"),
        ("a//b", "empty path component"),
        ("a/b_-c", "invalid path component"),
        ("a/b..c", "invalid path component"),
        ("-host.io/app", "invalid registry host"),
        ("host.io:99999/app", "out of range"),
        ("host.io:5x/app", "port"),
        ("[zz::1]/app", "IPv6"),
        (" nginx", "whitespace"),
        ("a@" + SHA256 + "@" + SHA256, "more than one"),
        ("a/" + "b" * 300, "at most 255"),
        ("ghcr.io/", "empty repository"),
    ],
)
def test_invalid_references_say_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        refs.parse(text)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, BumperError)


def test_docker_hub_spellings_share_a_name() -> None:
    names = {
        refs.normalize_name(text)
        for text in (
            "nginx",
            "nginx:1",
            "library/nginx",
            "docker.io/nginx",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx@" + SHA256,
        )
    }
    assert names == {"docker.io/library/nginx"}
    assert refs.normalize_name("docker.io:443/nginx") == "docker.io:443/nginx"


def test_str_and_familiar_forms() -> None:
    ref = refs.parse("nginx:1.25@" + SHA256)
    assert str(ref) == "docker.io/library/nginx:1.25@" + SHA256
    assert ref.familiar_name == "nginx"
    assert refs.parse("bitnami/redis").familiar_name == "bitnami/redis"
    assert refs.parse("ghcr.io/a/b").familiar_name == "ghcr.io/a/b"
    assert str(refs.parse("ghcr.io/a/b").with_tag("v2").with_digest(SHA256)) == (
        "ghcr.io/a/b:v2@" + SHA256
    )


def test_parse_name_rejects_tag_and_digest() -> None:
    assert refs.parse_name("ghcr.io/a").name == "ghcr.io/a"
    with pytest.raises(InvalidReference, match="not an image name"):
        refs.parse_name("ghcr.io/a:1")


def test_validators_accept_and_reject() -> None:
    assert refs.validate_tag("v1.2.3_rc-1") == "v1.2.3_rc-1"
    assert refs.validate_digest(SHA512) == SHA512
    for bad in ("", ".x", "a b", "ü"):
        with pytest.raises(InvalidReference):
            refs.validate_tag(bad)
    assert not refs.is_valid("UPPER")
    assert refs.is_valid("lower")


# --- property-based round trips ------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def path_components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


_domain_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,5}[a-z0-9])?", fullmatch=True)
registries = st.one_of(
    st.none(),
    st.just("localhost"),
    st.builds(lambda a, b: f"{a}.{b}", _domain_label, _domain_label),
    st.builds(lambda a, b, p: f"{a}.{b}:{p}", _domain_label, _domain_label, st.integers(1, 65535)),
    st.builds(lambda p: f"localhost:{p}", st.integers(1, 65535)),
    st.builds(lambda p: f"[::1]:{p}", st.integers(1, 65535)),
    st.ip_addresses(v=4).map(str),
)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True)
digests = st.one_of(
    st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"sha512:[0-9a-f]{128}", fullmatch=True),
)


@st.composite
def references(draw: st.DrawFn) -> str:
    registry = draw(registries)
    components = draw(st.lists(path_components(), min_size=1, max_size=3))
    if registry is None and "." in components[0]:
        # A leading "a.b/" is a registry by the grammar; keep Docker Hub names unambiguous.
        components[0] = components[0].replace(".", "_")
    path = "/".join(components)
    text = path if registry is None else f"{registry}/{path}"
    if draw(st.booleans()):
        text += ":" + draw(tags)
    if draw(st.booleans()):
        text += "@" + draw(digests)
    return text


@given(references())
def test_round_trip_through_str(text: str) -> None:
    ref = refs.parse(text)
    assert refs.parse(str(ref)) == ref
    # The written form only gains the registry and "library/"; tag and digest are kept verbatim.
    assert str(ref).endswith(text.split("/", 1)[-1] if "/" in text else text)


@given(references())
def test_familiar_form_parses_to_the_same_reference(text: str) -> None:
    ref = refs.parse(text)
    familiar = ref.familiar_name
    suffix = (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")
    assert refs.parse(familiar + suffix) == ref


@given(references(), tags, digests)
def test_with_tag_and_digest_round_trip(text: str, tag: str, digest: str) -> None:
    ref = refs.parse(text).with_tag(tag).with_digest(digest)
    assert refs.parse(str(ref)) == ref
    assert (ref.tag, ref.digest) == (tag, digest)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_typed_error(text: str) -> None:
    try:
        ref = refs.parse(text)
    except InvalidReference:
        return
    assert refs.parse(str(ref)) == ref
