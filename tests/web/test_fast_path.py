"""``hooks.install_fast_path``: ``POST /hooks/...`` is answered from WSGI, without Flask's
request machinery, and exactly as the Flask view answers it; everything else is Flask's."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from tests.sources.helpers import fixture
from tests.web.conftest import SECRET, signed
from tests.web.test_hooks import PUSH_HEADERS, queued


@pytest.fixture
def ghcr_push(shared_dir: Path) -> bytes:
    return fixture(shared_dir, "github", "package.published.docker.json")[1]


def call(wsgi: Any, environ: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Run a WSGI callable; (status, headers, decoded JSON body)."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(wsgi(environ, start_response))
    # werkzeug's redirects (308, for a trailing or doubled slash) have an HTML body
    return seen["status"], seen["headers"], json.loads(body) if seen["status"] != 308 else {}


def github_environ(body: bytes, delivery: str, path: str = "/hooks/github") -> dict[str, Any]:
    headers, _ = signed("github", body, headers={**PUSH_HEADERS, "X-GitHub-Delivery": delivery})
    return EnvironBuilder(
        path=path, method="POST", data=body, headers=Headers(headers)
    ).get_environ()


def test_post_skips_flask_and_answers_as_the_flask_view_does(
    app: Flask, ghcr_push: bytes, redis_client: redis.Redis
) -> None:
    flask_requests: list[str] = []

    def seen() -> None:
        flask_requests.append("seen")

    app.before_request(seen)
    through_flask = Flask.wsgi_app.__get__(app)  # routing → the ``hook`` view

    # Two distinct deliveries: GitHub's are deduplicated on the signed body, not the id.
    updated = ghcr_push.replace(b'"action": "published"', b'"action": "updated"', 1)
    assert updated != ghcr_push
    fast = call(app, github_environ(ghcr_push, "fast-1"))
    assert flask_requests == []
    viewed = call(through_flask, github_environ(updated, "view-1"))
    assert flask_requests == ["seen"]

    for status, headers, payload in (fast, viewed):
        assert status == 202 and payload["status"] == "accepted"
        assert headers["Content-Type"] == "application/json"
    assert fast[1]["Content-Length"] == str(len(json.dumps(fast[2], separators=(",", ":"))))
    assert set(fast[2]) == set(viewed[2])
    assert sorted(queued(redis_client)) == sorted(fast[2]["events"] + viewed[2]["events"])
    # One dedup: a delivery first taken by one path is a duplicate on the other.
    status, _, payload = call(through_flask, github_environ(ghcr_push, "fast-1"))
    assert (status, payload["status"]) == (200, "duplicate")
    status, _, payload = call(app, github_environ(updated, "view-1"))
    assert (status, payload["status"]) == (200, "duplicate")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/hooks/github/", 404), ("/hooks/a/b/c", 404), ("/hooks/", 404), ("/hooks//x", 404)],
)
def test_other_hook_paths_still_get_flasks_reply(
    app: Flask, ghcr_push: bytes, redis_client: redis.Redis, path: str, status: int
) -> None:
    flask_requests: list[str] = []

    def seen() -> None:
        flask_requests.append("seen")

    app.before_request(seen)
    got, _, payload = call(app, github_environ(ghcr_push, "p-1", path=path))
    # Flask's own answer, never the intake's: routing ran, nothing was queued
    assert flask_requests == ["seen"]
    assert got in (status, 308)  # werkzeug may redirect a trailing or doubled slash
    assert got == 308 or set(payload) == {"error", "message"}
    assert queued(redis_client) == []


def test_no_length_and_no_terminated_input_is_an_empty_body_not_a_hang(app: Flask) -> None:
    class NeverEnds(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body must not be read")

    environ = EnvironBuilder(
        path="/hooks/github", method="POST", headers=Headers({"Content-Type": "application/json"})
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = NeverEnds()
    status, _, payload = call(app, environ)
    assert status in (400, 401)  # nothing to verify or parse: refused with a reason
    assert payload["message"]


def test_url_token_in_either_query_spelling(
    app: Flask, shared_dir: Path, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "dockerhub", "push.json")[1]
    for n, query in enumerate((f"token={SECRET}", f"access_token={SECRET}", "token=wrong")):
        environ = EnvironBuilder(
            path="/hooks/dockerhub",
            method="POST",
            data=body + b" " * n,  # distinct bodies: dedup is on the body hash
            query_string=query,
            content_type="application/json",
        ).get_environ()
        status, _, _ = call(app, environ)
        assert status == (403 if query == "token=wrong" else 202)
    assert len(queued(redis_client)) == 2
