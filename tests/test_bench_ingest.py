"""bench/ingest.py sends distinct deliveries: none of its requests may be a duplicate of
another, or the receiver answers 200 "duplicate" and the ratio measures less than it says."""

from __future__ import annotations

import pytest

from bench import ingest
from bumper import sources
from bumper.sources import Headers, Signed

pytestmark = pytest.mark.skipif(
    not ingest.SHARED.is_dir(), reason=f"{ingest.SHARED} is absent (shared webhook fixtures)"
)


def _key(template: ingest.Template, n: int) -> str:
    head, tail = template.body_parts()
    body = head + str(n).encode() + tail if template.replace else head
    headers = Headers([*template.headers.items(), *template.sign(body).items()])
    if template.id_header:
        headers = Headers([*headers.items(), (template.id_header, f"bench-{n}")])
    sender = sources.SENDERS[template.sender]
    found = sender.parse(headers, body)
    assert found, f"{template.name}: no event parsed"
    return sender.key(headers, body, Signed(), sender.delivery_id(headers, body), found).key


@pytest.mark.parametrize("template", ingest.MIX, ids=lambda t: t.name)
def test_each_request_of_a_template_is_a_distinct_delivery(template: ingest.Template) -> None:
    keys = {_key(template, n) for n in (1100000001, 1100000002, 1200000001)}
    assert len(keys) == 3
