"""Every forge reply reaches ``failures.replied`` (the worker's metrics listen there), from both
adapters' real HTTP sessions, against the forge simulator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import pytest

from bumper import scm
from bumper.errors import TransientError
from bumper.scm import failures
from tests.scm.conftest import REPO, ForgeCase
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import free_port

Seen = list[tuple[str, str, int | None, Mapping[str, str]]]


@pytest.fixture
def seen() -> Iterator[Seen]:
    heard: Seen = []
    failures.listen(
        lambda forge, host, status, headers: heard.append((forge, host, status, headers))
    )
    yield heard
    failures.listen(None)


def test_each_reply_is_heard_with_its_status_and_rate_limit(
    forge: ForgeCase, forgesim: ForgeSim, seen: Seen
) -> None:
    forge.provider.default_branch()
    assert forge.provider.find_open_pr("no-such-branch") is None
    host = urlsplit(forgesim.url).netloc
    assert [(f, h, s) for f, h, s, _ in seen][:2] == [(forge.name, host, 200)] * 2
    first, second = (failures.rate_limit_remaining(headers) for *_, headers in seen[:2])
    if forge.name == "github":  # the simulator sends GitHub's X-RateLimit-* headers
        assert first is not None and second is not None and 0 < second < first <= 5000
    assert failures.rate_limit_remaining({"RateLimit-Remaining": "17"}) == 17
    assert failures.rate_limit_remaining({"x-ratelimit-remaining": "nope"}) is None


@pytest.mark.parametrize("name", ["github", "gitlab"])
def test_no_reply_is_heard_as_an_error(name: str, seen: Seen) -> None:
    url = f"http://127.0.0.1:{free_port()}/{REPO}"
    provider = scm.connect(name, url, token="t" * 20)
    with pytest.raises(TransientError):
        provider.default_branch()
    assert [(f, s) for f, _, s, _ in seen] == [(name, None)]


def test_a_failing_listener_never_fails_the_call(forge: ForgeCase) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("metrics down")

    failures.listen(broken)
    try:
        assert forge.provider.default_branch() == "main"
    finally:
        failures.listen(None)
