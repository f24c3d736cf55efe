"""Fuzzing every sender: whatever arrives, ``parse`` returns events or refuses with a 4xx.

Inputs: random bytes, truncated real payloads, real payloads with one node replaced by a
value of another type, deep nesting, huge strings and numbers, and random routing headers.
Never any other exception, and never a parser bug swallowed by ``Sender.parse`` (logged at ERROR).
Returned events must be well-formed: normalised image names, valid tags and digests, and
JSON-serialisable dicts that round-trip. ``verify`` likewise only ever rejects with 4xx (or
``ConfigError`` for an unusable secret). Example counts are modest: the machine has 2 cores.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bumper import sources
from bumper.core import events, refs
from bumper.errors import ConfigError, WebhookRejected
from tests.conftest import SHARED

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INLINE_SEEDS = [
    {
        "events": [
            {
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "repository": "a/b",
                    "digest": "sha256:" + "a" * 64,
                    "tag": "1",
                },
                "request": {"host": "r.local"},
            }
        ]
    },
    {
        "specversion": "1.0",
        "type": "dev.bumper.image.pushed",
        "id": "1",
        "source": "/x",
        "data": {"image": "nginx:1.27"},
    },
    {"message": {"data": "eyJhY3Rpb24iOiAiSU5TRVJUIiwgInRhZyI6ICJhL2I6MSJ9", "messageId": "1"}},
]


def _seeds() -> list[bytes]:
    found = [json.dumps(seed).encode() for seed in INLINE_SEEDS]
    root = SHARED / "fixtures" / "webhooks"
    if root.is_dir():
        found += [
            path.read_bytes()
            for path in sorted(root.glob("*/*.json"))
            if not path.name.endswith(".headers.json")
        ]
    return found


SEEDS = _seeds()

ROUTING = {
    "X-GitHub-Event": [
        "package",
        "registry_package",
        "workflow_run",
        "workflow_job",
        "check_suite",
        "ping",
    ],
    "X-Gitlab-Event": ["Pipeline Hook", "Job Hook", "Push Hook"],
    "X-Gitea-Event": ["package", "workflow_run", "push"],
    "X-Buildkite-Event": ["build.finished", "ping"],
    "ce-type": [
        "dev.tekton.event.pipelinerun.successful.v1",
        "dev.tekton.event.taskrun.failed.v1",
        "dev.cdevents.pipelinerun.finished.0.2.0",
        "dev.cdevents.artifact.published.0.2.0",
        "harbor.artifact.pushed",
        "dev.bumper.image.pushed",
        "dev.bumper.build.finished",
        "google.cloud.pubsub.topic.v1.messagePublished",
    ],
    "ce-specversion": ["1.0"],
    "ce-id": ["x"],
    "Content-Type": [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    ],
    "X-Bumper-Registry": ["reg.local:5000", "not a host", ""],
    "circleci-event-type": ["workflow-completed"],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(sorted(ROUTING)), unique=True, max_size=4))
    result = {name: draw(st.sampled_from(ROUTING[name]) | st.text(max_size=30)) for name in chosen}
    return {k: v for k, v in result.items() if "\x00" not in v}


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, (*path, index))


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return document


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real payload with one node replaced by a value of another shape."""
    document = json.loads(draw(st.sampled_from(SEEDS)))
    paths = list(_nodes(document))
    path = draw(st.sampled_from(paths))
    special = st.sampled_from(
        ["x" * 1_000_000, "sha256:" + "g" * 64, "...", "", "refs/heads/", 10**30]
    )
    return json.dumps(_replace(document, path, draw(json_values | special))).encode()


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    body = draw(st.sampled_from(SEEDS))
    return body[: draw(st.integers(0, max(0, len(body) - 1)))]


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([50, 900, 5_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"events":', "}"), ('{"a":', "}")]))
    inner = draw(st.sampled_from(["1", '"x"', "{}"]))
    return (opener * depth + inner + closer * depth).encode()


huge = st.sampled_from(
    [
        b'{"events": "' + b"x" * 2_000_000 + b'"}',
        b'{"action": "push", "n": ' + b"9" * 5000 + b"}",
        b'{"push_data": {"tag": "' + b"a" * 100_000 + b'"}, "repository": {"repo_name": "a/b"}}',
        b'{"updated_tags": [' + b'"t",' * 20_000 + b'"t"], "docker_url": "quay.io/a/b"}',
    ]
)

bodies = st.one_of(st.binary(max_size=512), truncated(), mutated(), nested(), huge)


@contextmanager
def no_parser_bugs() -> Iterator[None]:
    """Fail if ``Sender.parse`` had to swallow an unexpected exception (it logs those at ERROR)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.ERROR)
    logger = logging.getLogger("bumper.sources")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, f"parser bug: {records[0].getMessage()} {records[0].exc_info}"


def _check_event(event: Any) -> None:
    assert isinstance(event, events.ImageEvent | events.BuildFinished)
    data = events.to_dict(event)
    assert events.from_dict(json.loads(json.dumps(data))) == event
    if isinstance(event, events.ImageEvent):
        assert refs.normalize_name(event.image) == event.image
        assert event.tag is not None or event.digest is not None
        if event.tag is not None:
            refs.validate_tag(event.tag)
        if event.digest is not None:
            refs.validate_digest(event.digest)


@pytest.mark.parametrize("sender", sorted(sources.SENDERS))
@FUZZ
@given(request_headers=headers(), body=bodies)
def test_parse_returns_events_or_a_4xx(
    sender: str, request_headers: dict[str, str], body: bytes
) -> None:
    module = sources.SENDERS[sender]
    with no_parser_bugs():
        try:
            result = module.parse(request_headers, body)
        except WebhookRejected as rejected:
            assert 400 <= rejected.status < 500
            assert len(str(rejected)) < 300
        else:
            assert isinstance(result, list)
            for event in result:
                _check_event(event)
    assert (
        module.delivery_id(request_headers, body) is None
        or len(module.delivery_id(request_headers, body) or "") <= 200
    )
    assert module.is_ping(request_headers, body) in (True, False)


auth_headers = st.dictionaries(
    st.sampled_from(
        [
            "Authorization",
            "X-Hub-Signature-256",
            "X-Gitlab-Token",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Gitea-Signature",
            "X-Nexus-Webhook-Signature",
            "circleci-signature",
            "X-Buildkite-Token",
            "X-Buildkite-Signature",
            "X-JFrog-Event-Auth",
            "X-Bumper-Url-Token",
            "X-Api-Key",
        ]
    ),
    st.text(max_size=60).filter(lambda v: "\x00" not in v)
    | st.sampled_from(
        ["Bearer ", "Basic !!!", "Basic Og==", "timestamp=1,signature=", "v1,", "sha256="]
    ),
    max_size=4,
)
secrets = st.sampled_from(
    [
        "s3cret",
        "user:pass",
        "whsec_a2V5",
        "whsec_!!",
        '{"header": "X-Api-Key", "value": "v"}',
        "{",
        "[]",
        '{"audience": "a", "email": "e", "keys": []}',
    ]
) | st.text(min_size=1, max_size=30)


@pytest.mark.parametrize("sender", sorted(sources.SENDERS))
@settings(max_examples=40, deadline=None)
@given(request_headers=auth_headers, body=st.binary(max_size=64), secret=secrets)
def test_verify_only_rejects_with_4xx(
    sender: str, request_headers: dict[str, str], body: bytes, secret: str
) -> None:
    try:
        sources.SENDERS[sender].verify(request_headers, body, secret)
    except WebhookRejected as rejected:
        assert rejected.status in (401, 403)
        assert secret not in str(rejected) or len(secret) < 4
    except ConfigError:
        pass  # an unusable secret: reported at start-up by check_secret
    else:
        # Random input must never authenticate, except a token sent back verbatim.
        assert secret in request_headers.values() or any(
            secret in v for v in request_headers.values()
        )


def test_sender_turns_a_parser_bug_into_400_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    from bumper.sources import Sender, _auth

    def broken(headers: sources.Headers, body: bytes) -> list[Any]:
        empty: dict[str, Any] = {}
        return [empty["missing"]]

    sender = Sender(name="demo", auth=_auth.URL_TOKEN, parser=broken)
    with pytest.raises(WebhookRejected) as caught, caplog.at_level(logging.ERROR):
        sender.parse({}, b"{}")
    assert (caught.value.status, caught.value.reason) == (400, "malformed")
    assert any(record.name == "bumper.sources.demo" for record in caplog.records)
