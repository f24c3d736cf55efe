"""``_common.load_json``: exactly the standard library's answers, decoded once per body.

The body is decoded by msgspec first and by ``json.loads`` when msgspec refuses it: these
tests hold the pair to the standard library's values (with their types: ``1 == 1.0 == True``
in Python, so equality alone would not notice a changed type), acceptances and error messages,
on the odd inputs where decoders are known to differ and on generated ones. (orjson was
tried: it turns integers over 64 bits into floats.)
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bumper.errors import WebhookRejected
from bumper.sources import _common
from bumper.sources._common import load_json

# What json.loads takes and faster decoders refuse or change.
ODD_BUT_ACCEPTED = [
    b'{"n": NaN}',  # NaN and Infinity are not JSON, but json.loads takes them
    b'{"big": 123456789012345678901234567890}',  # over 64 bits
    b'\xef\xbb\xbf{"bom": 1}',  # a UTF-8 byte-order mark
    '{"utf16": true}'.encode("utf-16"),
    b'{"surrogate": "\\ud800"}',  # a lone surrogate escape
    b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8 (json decodes with surrogatepass)
    b'{"overflow": 1e400, "tiny": 1e-400}',  # infinity and zero
    b'{"u64": 18446744073709551615, "u64+1": 18446744073709551616, "neg": -9223372036854775809}',
    b'{"a": 1, "a": 2}',  # duplicate keys: the last one wins
    b'{"del": "\x7f", "nul": "\\u0000"}',
]


@pytest.mark.parametrize("body", ODD_BUT_ACCEPTED)
def test_what_the_standard_library_accepts_is_accepted(body: bytes) -> None:
    assert _same(load_json(body), json.loads(body))


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


def test_the_fast_decoder_is_installed_with_the_web_extra() -> None:
    # The suite installs the web extra: without this, the differential tests below would
    # compare the standard library with itself.
    assert _common._fast_decode is not None
    assert _common._fast_decode(b'{"big": 123456789012345678901234567890}') == {
        "big": 123456789012345678901234567890
    }


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _outcome(decode: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", decode(body)
    except WebhookRejected as error:
        return "rejected", str(error)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans(), indent=st.sampled_from([None, 2]))
def test_generated_json_decodes_to_the_standard_librarys_value(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode(
        "utf-8", "surrogatepass"
    )
    assert _same(_common._decode(body), json.loads(body))


# Bytes a JSON body is made of, so that generated near-JSON reaches the decoders' corners.
NEAR_JSON = st.lists(
    st.sampled_from(
        [
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b'"',
            b"\\",
            b"u",
            b"d800",
            b"0",
            b"1",
            b"-",
            b"+",
            b".",
            b"e",
            b"E",
            b"9" * 20,
            b"true",
            b"null",
            b"NaN",
            b"Infinity",
            b" ",
            b"\n",
            b"\t",
            b"\x00",
            b"\x7f",
            b"\xc3\xa9",
            b"\xed\xa0\x80",
            b"\xff",
            b"\xef\xbb\xbf",
            b"a",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=1500, deadline=None)
@given(body=NEAR_JSON | st.binary(max_size=60))
def test_near_json_gets_the_standard_librarys_answer_or_reason(body: bytes) -> None:
    fast = _outcome(_common._decode, body)
    slow = _outcome(_common._stdlib_decode, body)
    assert fast[0] == slow[0], (body, fast, slow)
    if fast[0] == "value":
        assert _same(fast[1], slow[1]), (body, fast, slow)
    else:
        assert fast[1] == slow[1]


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
    # load_json is annotated ``bytes``; a bytearray reaching it anyway is the case under test.
    assert load_json(cast(bytes, body)) == {"v": 1}
    body[6] = ord("2")
    assert load_json(cast(bytes, body)) == {"v": 2}
