"""CSRF protection of the dashboard's forms: a double-submit token.

A page sets a random token in the ``bumper_csrf`` cookie (``HttpOnly``, ``SameSite=Strict``)
and repeats it in each form; a POST is accepted only when the form's token equals the
cookie's, and, when the browser sends ``Origin``, that origin is the page's own. Another site
can make a browser POST here but can neither read nor set this cookie. Stateless, so any
worker of any replica checks it.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Response, g, request

COOKIE = "bumper_csrf"
FIELD = "csrf"


def token() -> str:
    """This request's token: the cookie's, or a new one ``remember`` will set."""
    current = request.cookies.get(COOKIE, "")
    if len(current) == 64 and all(c in "0123456789abcdef" for c in current):
        return current
    if "csrf_new" not in g:
        g.csrf_new = secrets.token_hex(32)
    return str(g.csrf_new)


def remember(response: Response) -> Response:
    """``after_request``: set the cookie when this request made a new token."""
    fresh = g.get("csrf_new")
    if fresh:
        response.set_cookie(COOKIE, fresh, httponly=True, samesite="Strict", path="/")
    return response


def valid() -> bool:
    """Whether this POST carries the cookie's token and comes from the page's own origin."""
    cookie = request.cookies.get(COOKIE, "")
    sent = request.form.get(FIELD, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return False
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host
