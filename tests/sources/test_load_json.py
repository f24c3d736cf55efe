"""``_common.load_json``: exactly the standard library's answers, decoded once per body.

Guards any future fast path (orjson was tried: it turns integers over 64 bits into floats).
"""

from __future__ import annotations

import json

import pytest

from bumper.errors import WebhookRejected
from bumper.sources._common import load_json

# What json.loads takes and faster decoders refuse or change.
ODD_BUT_ACCEPTED = [
    b'{"n": NaN}',  # NaN and Infinity are not JSON, but json.loads takes them
    b'{"big": 123456789012345678901234567890}',  # over 64 bits
    b'\xef\xbb\xbf{"bom": 1}',  # a UTF-8 byte-order mark
    '{"utf16": true}'.encode("utf-16"),
    b'{"surrogate": "\\ud800"}',  # a lone surrogate escape
]


@pytest.mark.parametrize("body", ODD_BUT_ACCEPTED)
def test_what_the_standard_library_accepts_is_accepted(body: bytes) -> None:
    decoded = load_json(body)
    expected = json.loads(body)
    # NaN != NaN: compare the re-encoded forms
    assert json.dumps(decoded, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1', "body is not valid JSON (Expecting ',' delimiter: line 1 column 8"),
        (b"\xff\xfe\x00", "body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
    ],
)
def test_what_it_refuses_gets_the_standard_librarys_reason(body: bytes, message: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        load_json(body)
    assert caught.value.status == 400
    assert str(caught.value).startswith(message)


def test_the_same_body_is_decoded_once_and_an_equal_new_one_again() -> None:
    body = b'{"id": "one", "items": [1, 2]}'
    first = load_json(body)
    assert load_json(body) is first  # delivery_id then parse: one decode
    copy = bytes(bytearray(body))
    assert copy == body and copy is not body
    again = load_json(copy)
    assert again == first and again is not first


def test_a_bytearray_is_never_served_from_the_memo() -> None:
    body = bytearray(b'{"v": 1}')
    assert load_json(body) == {"v": 1}
    body[6] = ord("2")
    assert load_json(body) == {"v": 2}
