"""Auth in front of the test bed's registry: htpasswd (basic), a small token server (the
distribution token flow, JWTs signed by a throw-away key the registry trusts), and a proxy that
answers 429 with ``Retry-After`` before passing requests through.

``htpasswd(workdir, user, password)`` and ``TokenServer(workdir, users).auth`` return the
registry's ``auth:`` section; ``crane_login(registry, user, password)`` lets crane push.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.testbed_registry import Registry

SERVICE = "bumper-test-registry"
ISSUER = "bumper-test-token-issuer"


def htpasswd(workdir: Path, user: str, password: str) -> dict[str, object]:
    """An htpasswd file with one bcrypt entry; the registry's ``auth:`` section using it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # bcrypt for distribution's htpasswd; Python 3.11's stdlib still has it

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "htpasswd"
    path.write_text(f"{user}:{hashed}\n")
    return {"htpasswd": {"realm": "bumper-test", "path": str(path)}}


def crane_login(registry: Registry, user: str, password: str) -> None:
    """Credentials for crane, in the registry's own (test-only) docker config."""
    config = registry.workdir / "docker-config"
    config.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TokenServer:
    """``GET /token?service=&scope=`` with Basic credentials → a JWT the registry accepts.
    With ``anonymous_pull``, a request without credentials gets a token too, for pulls only
    (as Docker Hub's and GHCR's token servers give for public images); ``anonymous`` counts
    those tokens."""

    def __init__(
        self, workdir: Path, users: dict[str, str], *, anonymous_pull: bool = False
    ) -> None:
        self.users = users
        self.anonymous_pull = anonymous_pull
        self.anonymous = 0
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bumper test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        workdir.mkdir(parents=True, exist_ok=True)
        self.bundle = workdir / "token-ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        # "localhost", not the IP: crane refuses a realm at a private address
        return f"http://localhost:{self.server.server_address[1]}/token"

    @property
    def auth(self) -> dict[str, object]:
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.bundle),
            }
        }

    def issue(self, user: str, scope: str, *, pull_only: bool = False) -> str:
        access = []
        for item in filter(None, scope.split(" ")):
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a == "pull" or not pull_only]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": [der]})

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                server.requests.append(self.path)
                user = self._user()
                scope = " ".join(query.get("scope", []))
                if user is None and server.anonymous_pull and "Authorization" not in self.headers:
                    server.anonymous += 1
                    token = server.issue("", scope, pull_only=True)
                elif user is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                else:
                    token = server.issue(user, scope)
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _user(self) -> str | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user if server.users.get(user) == password else None

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ThrottlingProxy:
    """Passes requests to ``upstream``; while ``throttle`` > 0 it answers 429 instead (and
    counts down), with ``Retry-After: <retry_after>`` (seconds, or a date given as text). The
    replies it relays carry ``limits`` (e.g. ``RateLimit-Remaining``) as well. Records the time
    of every request it sees. ``swap`` maps a path to another one it answers instead (a
    registry that lies)."""

    def __init__(
        self, upstream: str, retry_after: int | str, limits: dict[str, str] | None = None
    ) -> None:
        self.upstream = upstream
        self.retry_after = retry_after
        self.limits = dict(limits or {})
        self.throttle = 0
        self.swap: dict[str, str] = {}
        self.seen: list[tuple[float, str, int]] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_Quiet):
            def _relay(self) -> None:
                if proxy.throttle > 0:
                    proxy.throttle -= 1
                    proxy.seen.append((time.monotonic(), self.path, 429))
                    self.send_response(429)
                    self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                reply = requests.request(
                    self.command,
                    proxy.upstream + proxy.swap.get(self.path, self.path),
                    headers=headers,
                    timeout=10,
                )
                proxy.seen.append((time.monotonic(), self.path, reply.status_code))
                self.send_response(reply.status_code)
                for name, value in [*reply.headers.items(), *proxy.limits.items()]:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                body = b"" if self.command == "HEAD" else reply.content
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _relay
            do_HEAD = _relay

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
