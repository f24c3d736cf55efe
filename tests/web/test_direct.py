"""``bumper.web.direct``: the serving front parses plain ``POST /hooks/...`` requests itself.

Whatever it takes, gunicorn's own parser would have read the same way (a differential
property over generated requests); whatever is unusual goes to gunicorn, and under the real
gunicorn both ways answer a delivery alike."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from gunicorn import http
from gunicorn.config import Config
from gunicorn.http import wsgi
from hypothesis import given, settings
from hypothesis import strategies as st

from bumper.web import direct, hooks, intake
from tests.sources.helpers import fixture
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.web.conftest import QUEUE, signed
from tests.web.test_serving import _complete, _server, _status

OPS_PORT = 9

ROUTE = direct.DirectRoute(
    method=b"POST",
    prefix=b"/hooks/",
    match=hooks._route,
    handle=lambda environ, route: (202, [], b""),
    skip=lambda listener: listener == ("127.0.0.1", OPS_PORT),
)
PUBLIC = ("127.0.0.1", 8000)


def request(
    head: str = "POST /hooks/gh?event=x HTTP/1.1", *headers: str, body: bytes = b"{}"
) -> bytes:
    lines = [head, "Host: bumper", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse(raw: bytes, listener: Any = PUBLIC, limits: direct.Limits | None = None) -> Any:
    return direct.parse(ROUTE, raw, listener, limits or direct.Limits())


def test_a_plain_delivery_gives_the_environ_the_receiver_reads() -> None:
    raw = request(
        "POST /hooks/gh/tok?event=build_success HTTP/1.1",
        "Content-Type: application/json; charset=utf-8",
        "X-GitHub-Event:  package ",
        "Expect: 100-continue",
        body=b'{"a": 1}',
    )
    plain = parse(raw)
    assert plain is not None and plain.keep_alive
    assert plain.matched == ("gh", "tok")
    environ = plain.environ
    assert environ["PATH_INFO"] == "/hooks/gh/tok"
    assert environ["QUERY_STRING"] == "event=build_success"
    assert environ["CONTENT_TYPE"] == "application/json; charset=utf-8"
    assert environ["CONTENT_LENGTH"] == "8"
    assert environ["HTTP_X_GITHUB_EVENT"] == "package"
    assert environ["wsgi.input"].read() == b'{"a": 1}'


def test_connection_close_is_honoured() -> None:
    plain = parse(request("POST /hooks/gh HTTP/1.1", "Connection: Close"))
    assert plain is not None and not plain.keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        request("POST /hooks/gh HTTP/1.0"),
        request("GET /hooks/gh HTTP/1.1"),
        request("POST /healthz HTTP/1.1"),
        request("POST /hooks/a/b/c HTTP/1.1"),  # no such route: Flask's own 404
        request("POST /hooks/ HTTP/1.1"),
        request("POST /hooks/g%68 HTTP/1.1"),  # percent-encoded: gunicorn decodes it
        request("POST /hooks/gh#x HTTP/1.1"),
        request("POST  /hooks/gh HTTP/1.1"),
        request("POST /hooks/gh HTTP/1.1", "X_Token: a"),  # gunicorn drops underscores
        request("POST /hooks/gh HTTP/1.1", "X-A: 1", "x-a: 2"),  # repeated
        request("POST /hooks/gh HTTP/1.1", "Transfer-Encoding: chunked"),
        request("POST /hooks/gh HTTP/1.1", "Upgrade: h2c"),
        request("POST /hooks/gh HTTP/1.1", "Connection: upgrade"),
        request("POST /hooks/gh HTTP/1.1", "Expect: something"),
        request("POST /hooks/gh HTTP/1.1", "X-A: 1", " folded"),
        request("POST /hooks/gh HTTP/1.1", "X-A : 1"),
        request("POST /hooks/gh HTTP/1.1", "X-A: a\x01b"),
        request("POST /hooks/gh HTTP/1.1", "NoColon"),
        request("POST /hooks/gh HTTP/1.1", "X-A: 1\nX-B: 2"),  # a bare LF
        request("POST /hooks/gh HTTP/1.1", body=b"{}").replace(b"Length: 2", b"Length: 1"),
        request("POST /hooks/gh HTTP/1.1", body=b"{}").replace(b"Length: 2", b"Length: +2"),
        request("POST /hooks/gh HTTP/1.1", body=b"").replace(b"Length: 0", b"Length: \xb2"),
    ],
    ids=lambda raw: raw.split(b"\r\n\r\n")[0][-40:].decode("latin-1"),
)
def test_anything_unusual_goes_the_ordinary_way(raw: bytes) -> None:
    assert parse(raw) is None


def test_the_ops_listener_is_never_served_directly() -> None:
    assert parse(request(), listener=("127.0.0.1", OPS_PORT)) is None
    assert parse(request()) is not None


def test_over_gunicorns_limits_goes_to_gunicorn_which_refuses_it() -> None:
    long_target = "POST /hooks/gh?" + "a" * 100 + " HTTP/1.1"
    assert parse(request(long_target), limits=direct.Limits(request_line=50)) is None
    many = [f"X-H{i}: 1" for i in range(5)]
    assert parse(request("POST /hooks/gh HTTP/1.1", *many), limits=direct.Limits(fields=6)) is None
    assert parse(request("POST /hooks/gh HTTP/1.1", *many), limits=direct.Limits(fields=7))
    big = "X-Big: " + "b" * 100
    limits = direct.Limits(field_size=60)
    assert parse(request("POST /hooks/gh HTTP/1.1", big), limits=limits) is None


def test_the_reply_is_http_1_1_with_date_and_the_routes_headers() -> None:
    headers = [("Content-Type", "application/json"), ("Retry-After", "5")]
    assert direct.reply(503, headers, b"{}", date="D", keep_alive=False) == (
        b"HTTP/1.1 503 Service Unavailable\r\nDate: D\r\nContent-Type: application/json\r\n"
        b"Retry-After: 5\r\nConnection: close\r\n\r\n{}"
    )
    assert direct.reply(202, [], b"", date="D", keep_alive=True) == (
        b"HTTP/1.1 202 Accepted\r\nDate: D\r\n\r\n"
    )


# --- the differential property -------------------------------------------------------------

# Mostly plain pieces, so that many requests are taken directly; odd ones mixed in.
PLAIN_NAMES = st.text(alphabet="abcXYZ019-", min_size=1, max_size=10)
ODD_NAMES = st.text(alphabet="abcXYZ019-_!#.~ :\t", min_size=1, max_size=10)
KNOWN_NAMES = st.sampled_from(
    ["X-GitHub-Event", "x-hub-signature-256", "Content-Type", "Connection", "Expect", "Upgrade"]
    + ["X_Token", "Transfer-Encoding", "content-length"]
)
NAMES = st.one_of(KNOWN_NAMES, PLAIN_NAMES, PLAIN_NAMES, ODD_NAMES)
PLAIN_VALUES = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
ODD_VALUES = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=12)
KNOWN_VALUES = st.sampled_from(["keep-alive", "close", "100-continue", "application/json", ""])
VALUES = st.one_of(KNOWN_VALUES, PLAIN_VALUES, PLAIN_VALUES, ODD_VALUES)
PATHS = st.sampled_from(
    ["/hooks/gh"] * 3 + ["/hooks/gh/tok"] * 2 + ["/hooks/a/b", "/hooks//x", "/hooks/g%68"]
)
QUERIES = st.one_of(
    st.just(""),
    st.text(alphabet="abc=&?+", max_size=8).map("?".__add__),
    st.text(alphabet="abc=&?+", max_size=8).map("?".__add__),
    st.text(alphabet="abc=&%#?/+ ", max_size=8),
)
TARGETS = st.builds(str.__add__, PATHS, QUERIES)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A plain request half of the time; otherwise with one odd header, target or line."""
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "post"]))
    version = draw(st.sampled_from(["HTTP/1.1"] * 6 + ["HTTP/1.0", "http/1.1"]))
    plain = st.tuples(PLAIN_NAMES, PLAIN_VALUES)
    headers = draw(st.lists(plain, max_size=6, unique_by=lambda header: header[0].lower()))
    if draw(st.booleans()):
        odd = st.tuples(st.one_of(KNOWN_NAMES, ODD_NAMES), st.one_of(KNOWN_VALUES, ODD_VALUES))
        headers.insert(draw(st.integers(0, len(headers))), draw(odd))
    target = draw(TARGETS)
    body = draw(st.binary(max_size=20))
    lines = [f"{name}:{value}" for name, value in headers]
    return request(f"{method} {target} {version}", *lines, body=body)


def gunicorn_reads(raw: bytes) -> tuple[dict[str, Any], bytes] | None:
    """What gunicorn's parser and environ builder make of ``raw``; None when it refuses."""
    cfg = Config()
    try:
        req = next(http.get_parser(cfg, [raw], PUBLIC))
        req._expected_100_continue = False  # as serving.handle: the front has answered it
        _, environ = wsgi.create(req, None, PUBLIC, PUBLIC, cfg)
        return environ, environ["wsgi.input"].read()
    except Exception:
        return None


@settings(max_examples=400, deadline=None)
@given(requests())
def test_what_is_parsed_directly_gunicorn_reads_the_same(raw: bytes) -> None:
    plain = parse(raw)
    if plain is None:
        return
    read = gunicorn_reads(raw)
    assert read is not None, "gunicorn refuses a request the front took"
    environ, body = read
    for key, value in plain.environ.items():
        if key.isupper():
            assert environ.get(key) == value, key
    headers = {k for k in environ if k.startswith("HTTP_") or k.startswith("CONTENT_")}
    assert headers == {k for k in plain.environ if k.startswith(("HTTP_", "CONTENT_"))}
    assert plain.environ["wsgi.input"].read() == body


# --- under the real gunicorn ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[GunicornServer]:
    with _server(tmp_path_factory.mktemp("direct"), redis_server, workers=1) as gunicorn:
        yield gunicorn


def delivery(shared_dir: Path, delivery_id: str, *extra: str, path: str = "/hooks/gh") -> bytes:
    payload = json.loads(fixture(shared_dir, "github", "package.published.docker.json")[1])
    body = json.dumps({**payload, "bumper_test_delivery": delivery_id}).encode()
    headers, _ = signed(
        "github",
        body,
        headers={
            "X-GitHub-Event": "package",
            "X-GitHub-Delivery": delivery_id,
            "Content-Type": "application/json",
        },
    )
    lines = [f"{name}: {value}" for name, value in headers.items()]
    return request(f"POST {path} HTTP/1.1", *lines, *extra, body=body)


def replies(server: GunicornServer, raw: bytes, count: int = 1) -> list[bytes]:
    """Send ``raw`` on one connection and read ``count`` replies."""
    out: list[bytes] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        buffer = b""
        while len(out) < count:
            chunk = sock.recv(65_536)
            if not chunk:
                break
            buffer += chunk
            while b"\r\n\r\n" in buffer and _complete(buffer):
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                out.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
    return out


def split(reply: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = reply.partition(b"\r\n\r\n")
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.decode().partition(":") for line in head.split(b"\r\n")[1:])
    )
    return _status(reply), headers, json.loads(body)


@pytest.fixture(autouse=True)
def _empty_queue(redis_client: redis.Redis) -> None:
    redis_client.flushall()


def test_both_ways_answer_a_delivery_alike(
    shared_dir: Path, server: GunicornServer, redis_client: redis.Redis
) -> None:
    # An underscore header (which gunicorn drops) sends the second one the ordinary way.
    plain = split(replies(server, delivery(shared_dir, "direct-1"))[0])
    ordinary = split(replies(server, delivery(shared_dir, "direct-2", "X_Ordinary: 1"))[0])
    assert "server" not in plain[1] and ordinary[1]["server"].startswith("gunicorn")
    for status, headers, body in (plain, ordinary):
        assert status == 202 and body["status"] == "accepted"
        assert headers["content-type"] == "application/json" and "date" in headers
    assert redis_client.llen(intake.RQ_QUEUE_PREFIX + QUEUE) == 2
    # The same delivery again is a duplicate either way, and nothing more is queued.
    again = split(replies(server, delivery(shared_dir, "direct-1"))[0])
    again_ordinary = split(replies(server, delivery(shared_dir, "direct-1", "X_Ordinary: 1"))[0])
    assert again[2] == again_ordinary[2] == {"status": "duplicate", "delivery_id": "direct-1"}
    assert redis_client.llen(intake.RQ_QUEUE_PREFIX + QUEUE) == 2


@pytest.mark.parametrize(
    ("path", "mutate", "status", "reason"),
    [
        ("/hooks/gh", lambda raw: raw.replace(b"sha256=", b"sha256=00", 1), 403, None),
        ("/hooks/nobody", lambda raw: raw, 404, "unknown-receiver"),
        (
            "/hooks/gh",
            lambda raw: raw.replace(b"application/json", b"image/png", 1),
            415,
            "unsupported-media-type",
        ),
    ],
)
def test_refusals_are_the_same_either_way(
    shared_dir: Path, server: GunicornServer, path: str, mutate: Any, status: int, reason: Any
) -> None:
    answers = [
        split(replies(server, mutate(delivery(shared_dir, "refused", *extra, path=path)))[0])
        for extra in ((), ("X_Ordinary: 1",))
    ]
    assert answers[0][0] == answers[1][0] == status
    assert answers[0][2] == answers[1][2]
    assert reason is None or answers[0][2]["error"] == reason


def test_pipelined_deliveries_are_answered_in_order_on_one_connection(
    shared_dir: Path, server: GunicornServer
) -> None:
    raw = b"".join(delivery(shared_dir, f"pipe-{i}") for i in range(3))
    answers = [split(reply) for reply in replies(server, raw, count=3)]
    assert [body["delivery_id"] for _, _, body in answers] == ["pipe-0", "pipe-1", "pipe-2"]


def test_connection_close_gets_its_reply_and_the_connection_ends(
    shared_dir: Path, server: GunicornServer
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(delivery(shared_dir, "closing", "Connection: close"))
        received = b""
        while chunk := sock.recv(65_536):
            received += chunk
    status, headers, body = split(received)
    assert status == 202 and headers["connection"] == "close" and body["status"] == "accepted"


def test_a_hook_on_the_ops_listener_is_not_served(shared_dir: Path, server: GunicornServer) -> None:
    with socket.create_connection(("127.0.0.1", server.ops_port), timeout=10) as sock:
        sock.sendall(delivery(shared_dir, "ops", "Connection: close"))
        received = b""
        while chunk := sock.recv(65_536):
            received += chunk
    assert _status(received) == 404


@pytest.mark.parametrize("flags", [("--keep-alive", "0"), ("--max-requests", "1")])
def test_gunicorns_keep_alive_and_max_requests_settings_hold_for_direct_replies(
    tmp_path: Path, shared_dir: Path, redis_server: RedisServer, flags: tuple[str, ...]
) -> None:
    """``--keep-alive 0``: every reply closes; ``--max-requests 1``: the worker's first reply
    closes its connection, and a new worker serves the next delivery."""
    gunicorn = _server(tmp_path, redis_server, workers=1)
    gunicorn.args = flags
    with gunicorn:
        for attempt in range(2):
            with socket.create_connection(("127.0.0.1", gunicorn.port), timeout=10) as sock:
                sock.sendall(delivery(shared_dir, f"settings-{flags[0]}-{attempt}"))
                received = b""
                while chunk := sock.recv(65_536):  # ends only because the server closes
                    received += chunk
            status, headers, body = split(received)
            assert status == 202 and headers["connection"] == "close", body
            assert "server" not in headers  # answered directly


def test_under_a_script_name_prefix_gunicorn_maps_every_path(
    tmp_path: Path, shared_dir: Path, redis_server: RedisServer
) -> None:
    """``SCRIPT_NAME=/bumper``: gunicorn strips the prefix from the path, so deliveries go
    the ordinary way, where that happens."""
    gunicorn = _server(tmp_path, redis_server, workers=1, SCRIPT_NAME="/bumper")
    gunicorn.start(ready_path="/bumper/healthz")
    try:
        mounted = delivery(shared_dir, "mounted", path="/bumper/hooks/gh")
        status, headers, body = split(replies(gunicorn, mounted)[0])
        assert status == 202 and body["status"] == "accepted"
        assert headers["server"].startswith("gunicorn")
        unmounted = replies(gunicorn, delivery(shared_dir, "unmounted"))[0]
        # gunicorn's own answer (its "configuration problem", a 500), not a direct 202.
        assert _status(unmounted) == 500 and b"does not start with SCRIPT_NAME" in unmounted
    finally:
        gunicorn.stop()
