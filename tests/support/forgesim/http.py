"""HTTP plumbing of the forge simulator: request/response types, routing table, API errors.

The API modules register handlers with ``route(flavour, method, pattern)``; ``pattern`` is a
regex over the *raw* request path (GitLab ids such as ``group%2Fproject`` stay encoded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from tests.support.forgesim.model import User
    from tests.support.forgesim.sim import ForgeSim


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    user: User | None = None

    def json(self) -> dict[str, Any]:
        """The JSON body merged over the query string (GitLab/Grape merges both)."""
        data: dict[str, Any] = dict(self.query)
        if self.body:
            ctype = self.headers.get("content-type", "")
            if "json" in ctype or self.body[:1] in (b"{", b"["):
                parsed = json.loads(self.body)
                if isinstance(parsed, dict):
                    data.update(parsed)
                else:
                    data["_list"] = parsed
            else:
                data.update({k: v[0] for k, v in parse_qs(self.body.decode()).items()})
        return data


@dataclass
class Response:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class ApiError(Exception):
    """An error reply; each flavour renders it in its own body format."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    flavour: str  # github | gitlab
    method: str
    pattern: re.Pattern[str]
    handler: Handler


ROUTES: list[Route] = []


def route(flavour: str, method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(flavour, method, re.compile(pattern + r"/?$"), handler))
        return handler

    return register


def dispatch(sim: ForgeSim, flavour: str, req: Request) -> Response:
    """Find the handler for ``req``; 404 when no route matches, 405 when only the method differs."""
    path_matched = False
    for r in ROUTES:
        if r.flavour != flavour:
            continue
        m = r.pattern.match(req.path)
        if not m:
            continue
        path_matched = True
        if r.method == req.method:
            return r.handler(sim, req, **m.groupdict())
    if path_matched:
        raise ApiError(405, "Method Not Allowed")
    raise ApiError(404, "Not Found")
