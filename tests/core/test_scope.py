"""``bumper.core.scope``: which entries are accepted, and what an entry covers."""

from __future__ import annotations

import pytest

from bumper.core import scope
from bumper.core.events import BuildFinished, Event, ImageEvent


def _image(name: str) -> ImageEvent:
    return ImageEvent(type="image.pushed", image=name, tag="1.0.0")


def _build(repository: str | None) -> BuildFinished:
    return BuildFinished(status="success", repository=repository, source="github")


@pytest.mark.parametrize(
    ("entry", "normal"),
    [
        ("ghcr.io", "ghcr.io"),
        ("GHCR.io/acme/", "ghcr.io/acme"),
        ("index.docker.io/acme", "docker.io/acme"),
        ("registry.local:5000", "registry.local:5000"),
        ("localhost/team", "localhost/team"),
        ("*-docker.pkg.dev/my-project", "*-docker.pkg.dev/my-project"),
        ("*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com"),
    ],
)
def test_image_entries_are_normalised(entry: str, normal: str) -> None:
    assert scope.check_image_entry(entry) == normal


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("acme/api", "does not start with a registry host"),
        ("nginx", "does not start with a registry host"),
        ("", "give a registry host"),
        (" ghcr.io", "give a registry host"),
        ("ghcr.io/acme/api:1.0", "without a tag or digest"),
        ("ghcr.io/acme@sha256:" + "a" * 64, "without a tag or digest"),
        ("ghcr.io/acme/*", "only stand in the host"),
        ("ghcr.io/Acme", "not a lower-case image path"),
        ("*", "does not start with a registry host"),
        ("*.io", "does not start with a registry host"),
        ("ghcr.*", "does not start with a registry host"),
        ("registry.local:*", "does not start with a registry host"),
        ("bad_host.example", "does not start with a registry host"),
    ],
)
def test_bad_image_entries_say_what_is_wrong(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        scope.check_image_entry(entry)
    assert "\n" not in str(caught.value)


def test_a_registry_host_is_literal() -> None:
    assert scope.check_host("Harbor.Example.com:8443") == "harbor.example.com:8443"
    for bad in ("*.example.com", "harbor", "harbor.example.com/project", "https://h.example"):
        with pytest.raises(ValueError, match="is not a registry host"):
            scope.check_host(bad)


@pytest.mark.parametrize(
    ("entries", "image", "covered"),
    [
        (["ghcr.io"], "ghcr.io/acme/api", True),
        (["ghcr.io"], "ghcr.io.evil.example/acme/api", False),
        (["ghcr.io/acme"], "ghcr.io/acme/api", True),
        (["ghcr.io/acme"], "ghcr.io/acme", True),
        (["ghcr.io/acme"], "ghcr.io/acme-evil/api", False),
        (["ghcr.io/acme/api"], "ghcr.io/acme/api-two", False),
        (["registry.local"], "registry.local:5000/app", False),
        (["registry.local:5000"], "registry.local:5000/app", True),
        (["docker.io/library"], "docker.io/library/nginx", True),
        (["*-docker.pkg.dev"], "us-west1-docker.pkg.dev/p/r/i", True),
        (["*-docker.pkg.dev"], "evil.io/x-docker.pkg.dev/i", False),
        (["*-docker.pkg.dev"], "a.b-docker.pkg.dev/p/i", False),
        (["*.gcr.io"], "eu.gcr.io/p/i", True),
        (["*.gcr.io"], "gcr.io/p/i", False),
        ([], "ghcr.io/acme/api", False),
        # a classic Helm chart's key (a Harbor chartrepo upload): matched by its URL's host
        (["harbor.example.com"], "https://harbor.example.com/chartrepo/lib/podinfo", True),
        (["harbor.example.com/chartrepo/lib"], "https://harbor.example.com/chartrepo/lib/x", True),
        (["harbor.example.com"], "https://harbor.example.com.evil.io/chartrepo/lib/x", False),
        (["ghcr.io"], "https://harbor.example.com/chartrepo/lib/podinfo", False),
    ],
)
def test_what_an_image_entry_covers(entries: list[str], image: str, covered: bool) -> None:
    checked = [scope.check_image_entry(entry) for entry in entries]
    assert scope.Scope.of(checked).covers(_image(image)) is covered


@pytest.mark.parametrize(
    ("entries", "repository", "covered"),
    [
        (["acme/api"], "acme/api", True),
        (["acme/api"], "Acme/API", True),
        (["acme"], "acme/api", True),
        (["acme"], "acme-evil/api", False),
        (["group/sub"], "group/sub/project", True),
        (["acme/api"], "acme/api-two", False),
        (["acme/api"], None, False),
        ([], "acme/api", False),
    ],
)
def test_what_a_repo_entry_covers(
    entries: list[str], repository: str | None, covered: bool
) -> None:
    checked = [scope.check_repo_entry(entry) for entry in entries]
    assert scope.Scope.of(repos=checked).covers(_build(repository)) is covered


@pytest.mark.parametrize("entry", ["", "acme/", "/acme", "acme//api", "acme/../x", "a b", "*"])
def test_bad_repo_entries_are_refused(entry: str) -> None:
    if entry == "acme/":
        assert scope.check_repo_entry(entry) == "acme"  # a trailing slash is only spelling
        return
    with pytest.raises(ValueError, match="is not a repository path"):
        scope.check_repo_entry(entry)


def test_split_keeps_events_in_scope_and_names_the_others() -> None:
    found = scope.Scope.of(["ghcr.io/acme"], ["acme"])
    events: list[Event] = [_image("ghcr.io/acme/api"), _image("quay.io/acme/api"), _build(None)]
    kept, dropped = found.split(events)
    assert kept == [events[0]]
    assert dropped == ["quay.io/acme/api", "github build of (no repository)"]
