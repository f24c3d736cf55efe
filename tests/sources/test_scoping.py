"""``bumper.sources.scoping``: each receiver's default scope comes from its sender, and the
vendor examples of senders with a registry of their own fall inside it."""

from __future__ import annotations

from typing import Any

import pytest

from bumper import sources
from bumper.core import config
from bumper.core.events import ImageEvent
from bumper.sources import scoping
from tests.sources.test_fixtures import CASES

NATURAL = {"dockerhub", "github", "quay", "gar"}


def _receiver(sender: str, **more: Any) -> config.Receiver:
    return config.Receiver.model_validate(
        {"name": "r", "type": sender, "secret": {"env": "S"}, **more}
    )


def _image_cases(sender: str) -> list[ImageEvent]:
    return [
        e
        for case in CASES
        if case.sender == sender
        for e in case.expected
        if isinstance(e, ImageEvent)
    ]


def test_every_sender_with_image_fixtures_declares_its_registry_hosts() -> None:
    for case in CASES:
        if any(isinstance(e, ImageEvent) for e in case.expected):
            assert sources.SENDERS[case.sender].registry_hosts is not None, case.id


@pytest.mark.parametrize("sender", sorted(NATURAL))
def test_a_sender_with_a_registry_of_its_own_covers_its_vendor_examples(sender: str) -> None:
    found = _image_cases(sender)
    assert found, f"no image fixture for {sender}"
    scope = scoping.scope_of(_receiver(sender), sources.SENDERS[sender])
    assert all(scope.covers(event) for event in found)
    elsewhere = ImageEvent(type="image.pushed", image="registry.evil.example/x", tag="1")
    assert not scope.covers(elsewhere)


@pytest.mark.parametrize(
    "sender", sorted(n for n, s in sources.SENDERS.items() if s.registry_hosts == ())
)
def test_a_self_hosted_sender_covers_only_the_configured_registry(sender: str) -> None:
    bare = scoping.scope_of(_receiver(sender), sources.SENDERS[sender])
    assert bare.images == ()
    scope = scoping.scope_of(
        _receiver(sender, registry="harbor.example.com"), sources.SENDERS[sender]
    )
    ours = ImageEvent(type="image.pushed", image="harbor.example.com/team/app", tag="1")
    theirs = ImageEvent(type="image.pushed", image="ghcr.io/team/app", tag="1")
    assert scope.covers(ours) and not scope.covers(theirs)


def test_a_configured_registry_narrows_a_natural_default() -> None:
    scope = scoping.scope_of(_receiver("gar", registry="europe-docker.pkg.dev"), sources.get("gar"))
    assert scope.covers(ImageEvent(type="image.pushed", image="europe-docker.pkg.dev/p/i"))
    assert not scope.covers(ImageEvent(type="image.pushed", image="us-docker.pkg.dev/p/i"))


def test_explicit_images_replace_the_default() -> None:
    receiver = _receiver("dockerhub", scope={"images": ["docker.io/acme"]})
    scope = scoping.scope_of(receiver, sources.get("dockerhub"))
    assert scope.covers(ImageEvent(type="image.pushed", image="docker.io/acme/api", tag="1"))
    assert not scope.covers(ImageEvent(type="image.pushed", image="docker.io/library/x", tag="1"))


def test_ci_only_senders_need_no_registry() -> None:
    cfg = config.BumperConfig.model_validate(
        {
            "apiVersion": "bumper/v1",
            "receivers": [
                {"name": "gl", "type": "gitlab", "secret": {"env": "S"}},
                {"name": "builds", "type": "harbor", "secret": {"env": "S"}, "events": []},
                {"name": "unknown", "type": "no-such-sender", "secret": {"env": "S"}},
            ],
        }
    )
    assert scoping.problems(cfg) == []
