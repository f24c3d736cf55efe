"""The sender registry: modules declare, ``Sender`` enforces "never raise" once for all."""

from __future__ import annotations

import importlib
import logging

import pytest

from bumper import sources
from bumper.core.events import Event
from bumper.errors import ConfigError, WebhookRejected
from bumper.sources import Headers, Sender, _auth


@pytest.mark.parametrize("name", sorted(sources.SENDERS))
def test_each_sender_module_declares_and_does_not_wrap(name: str) -> None:
    module = importlib.import_module(f"bumper.sources.{name}")
    assert module.NAME == name
    assert isinstance(module.AUTH, _auth.Scheme)
    assert sources.SENDERS[name].auth is module.AUTH
    # The contract's checks come from the declaration, not from per-module copies.
    assert not hasattr(module, "verify")
    assert not hasattr(module, "check_secret")
    for function in ("parse", "delivery_id", "is_ping"):
        assert not hasattr(getattr(module, function, None), "__wrapped__")


def test_absent_delivery_id_and_is_ping_default_to_none_and_false() -> None:
    sender = sources.SENDERS["dockerhub"]
    body = b'{"push_data": {"tag": "1"}, "repository": {"repo_name": "a/b"}}'
    assert sender.delivery_id({}, body) is None
    assert sender.is_ping({}, body) is False


def test_a_broken_delivery_id_or_ping_reader_gives_none_and_false() -> None:
    def broken_id(headers: Headers, body: bytes) -> str | None:
        raise KeyError("bug")

    def broken_ping(headers: Headers, body: bytes) -> bool:
        raise RecursionError

    sender = Sender(
        name="demo",
        auth=_auth.URL_TOKEN,
        parser=lambda headers, body: [],
        id_reader=broken_id,
        ping_test=broken_ping,
    )
    assert sender.delivery_id({}, b"{}") is None
    assert sender.is_ping({}, b"{}") is False


def test_parse_lets_a_400_through_and_turns_deep_nesting_into_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuses(headers: Headers, body: bytes) -> list[Event]:
        raise WebhookRejected("nope", status=400, reason="custom")

    def recurses(headers: Headers, body: bytes) -> list[Event]:
        raise RecursionError

    with caplog.at_level(logging.ERROR), pytest.raises(WebhookRejected) as refused:
        Sender(name="demo", auth=_auth.URL_TOKEN, parser=refuses).parse({}, b"")
    assert (refused.value.status, refused.value.reason) == (400, "custom")
    with caplog.at_level(logging.ERROR), pytest.raises(WebhookRejected) as nested:
        Sender(name="demo", auth=_auth.URL_TOKEN, parser=recurses).parse({}, b"")
    assert (nested.value.status, nested.value.reason) == (400, "malformed")
    assert not caplog.records  # neither is a parser bug


def test_a_scheme_refuses_an_empty_secret_before_its_own_check() -> None:
    calls: list[str] = []
    scheme = _auth.Scheme("demo", lambda headers, body, secret: calls.append(secret))
    with pytest.raises(ConfigError):
        scheme.verify(Headers(), b"", "")
    with pytest.raises(ConfigError):
        scheme.check_secret("")
    scheme.verify(Headers(), b"", "s")
    assert calls == ["s"]


def test_header_is_case_insensitive_when_the_sender_gets_a_plain_dict() -> None:
    # Sender.verify wraps a plain mapping in Headers once for the declared scheme.
    scheme = _auth.shared_token("X-Token")
    sender = Sender(name="demo", auth=scheme, parser=lambda headers, body: [])
    sender.verify({"x-token": "s3cret"}, b"", "s3cret")
    with pytest.raises(WebhookRejected) as caught:
        sender.verify({"X-TOKEN": "other"}, b"", "s3cret")
    assert caught.value.status == 403
