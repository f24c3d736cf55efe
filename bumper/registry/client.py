"""``RegistryClient``: the OCI distribution API calls Bumper makes, for one ``registries:`` entry.

Calls: the tags list (``n``/``last`` pagination through the ``Link`` header), a manifest
``HEAD`` for a tag's digest (a ``HEAD`` is not a pull in Docker Hub's accounting), and the
image config's ``org.opencontainers.image.revision`` label (manifest, then config blob ``GET``);
for signatures (``bumper.registry.signatures``): a manifest or blob ``GET`` checked against its
digest, and the OCI 1.1 referrers list of a digest; and a plain ``GET`` of one path (``fetch``:
a classic Helm repository's ``index.yaml``).

Auth: anonymous first; on a 401 the ``WWW-Authenticate`` challenge says Basic (the entry's
credentials are sent) or Bearer (a token is fetched from the realm, with the credentials when
there are any, and cached per scope until it expires). One challenge round per request.

Limits: every body is read up to a byte bound, every request has connect/read timeouts, a
tags list stops after ``MAX_PAGES`` pages. Redirects are followed by hand (at most 3): to
another host without the ``Authorization`` header, never from https to http. A 429 or 503
raises ``TransientError`` (reason ``registry-rate-limited``) with the ``Retry-After`` delay
(seconds or an HTTP date, read by ``bumper.core.ratelimit`` like the forges'; 60 s if none);
``RateLimit-Remaining: 0`` makes the client refuse further calls until ``RateLimit-Reset``
(``blocked_until``), so a poller can skip the host.

Errors are ``bumper.errors``: ``TransientError`` (unreachable, 5xx, rate-limited) or
``PermanentError`` (denied, not found, malformed); messages name the host and repository,
never a credential or a header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from bumper.core import ratelimit
from bumper.core.config import RegistryEntry
from bumper.errors import PermanentError, TransientError
from bumper.registry import challenge

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[0], MANIFEST_TYPES[2]
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)
ANY_TYPE = "*/*"
REVISION_LABEL = "org.opencontainers.image.revision"
OCI_LABELS = "org.opencontainers.image."
PAGE_SIZE = 1000
MAX_PAGES = 50
MAX_TAGS_BYTES = 2 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 64 * 1024
MAX_TOKENS = 1024  # cached pull tokens (one per repository) per registry client
MAX_REDIRECTS = 3
MAX_WAIT = 3600.0
TIMEOUT = (5.0, 15.0)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_NEXT = re.compile(r'<([^>]{1,2000})>\s*;\s*rel="?next"?')
# Image names say docker.io; Docker Hub's API answers at registry-1.docker.io.
API_HOSTS = {"docker.io": "registry-1.docker.io"}


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: requests.structures.CaseInsensitiveDict[str]
    body: bytes


class RegistryClient:
    """Calls to one registry; not thread-safe (a poll tick or a job uses its own)."""

    def __init__(
        self,
        entry: RegistryEntry,
        *,
        password: str | None = None,
        ca_path: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entry = entry
        self.host = entry.host
        scheme = "http" if entry.plain_http else "https"
        self.base = f"{scheme}://{API_HOSTS.get(entry.host, entry.host)}"
        self._username = entry.credentials.username if entry.credentials else None
        self._password = password
        self._verify: bool | str = ca_path or True
        self._session = session or requests.Session()
        self._session.trust_env = False  # no proxy or netrc credentials from the environment
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # by scope, at most MAX_TOKENS
        self._basic = False  # the registry asked for Basic once: send it up front
        # the registry's Bearer challenge, once seen: a new scope's token is fetched up front,
        # which saves a 401 per repository per poll on token-auth registries
        self._bearer: challenge.Challenge | None = None
        self.requests = 0  # HTTP requests made (metrics, bench)
        self.blocked_until = 0.0

    # -- the API ---------------------------------------------------------------------------

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (invalid names dropped), following ``Link: rel=next``."""
        path: str | None = f"/v2/{repository}/tags/list?{urlencode({'n': PAGE_SIZE})}"
        found: list[str] = []
        for _ in range(MAX_PAGES):
            if path is None:
                return found
            reply = self._call("GET", path, repository, limit=MAX_TAGS_BYTES)
            self._expect(reply, repository, "tags list")
            found += _tag_names(_json(reply.body, self.host, "tags list"))
            path = self._next_page(reply.headers.get("Link", ""))
        return found  # more pages than MAX_PAGES: the first ones are enough for a safety net

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest of a tag (``HEAD``), or None when the tag does not exist."""
        reply = self._call("HEAD", f"/v2/{repository}/manifests/{reference}", repository)
        if reply.status == 404:
            return None
        self._expect(reply, repository, f"manifest {reference}")
        digest = reply.headers.get("Docker-Content-Digest", "")
        if _DIGEST.fullmatch(digest):
            return digest
        # a registry that omits the header on HEAD: the digest of the manifest's bytes
        reply = self._manifest(repository, reference)
        return "sha256:" + hashlib.sha256(reply.body).hexdigest()

    def revision(self, repository: str, reference: str) -> str | None:
        """The image config's ``org.opencontainers.image.revision`` label, or None."""
        return self.labels(repository, reference).get(REVISION_LABEL)

    def labels(self, repository: str, reference: str) -> dict[str, str]:
        """The image config's ``org.opencontainers.image.*`` labels (each value at most 200
        characters; at most 50 labels), read from the config blob of the manifest (for an
        index: of its linux/amd64 or first platform manifest); empty when there are none. A
        manifest fetched by digest must hash to it, so the labels are those of that image."""
        reply = self._manifest(repository, reference)
        if _DIGEST.fullmatch(reference):
            _check_digest(reply.body, reference, f"{self.host}/{repository}: manifest")
        manifest = _json(reply.body, self.host, "manifest")
        if _media_type(reply, manifest) in INDEX_TYPES:
            child = _platform_manifest(manifest)
            if child is None:
                return {}
            body = self._manifest(repository, child).body
            _check_digest(body, child, f"{self.host}/{repository}: manifest")
            manifest = _json(body, self.host, "manifest")
        config = manifest.get("config") if isinstance(manifest, dict) else None
        digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            return {}
        blob = self._call("GET", f"/v2/{repository}/blobs/{digest}", repository, MAX_CONFIG_BYTES)
        self._expect(blob, repository, "image config")
        algorithm, _, expected = digest.partition(":")
        if hashlib.new(algorithm, blob.body).hexdigest() != expected:
            raise PermanentError(f"{self.host}/{repository}: image config does not match {digest}")
        labels = (_json(blob.body, self.host, "image config").get("config") or {}).get("Labels")
        if not isinstance(labels, dict):
            return {}
        found = {
            key: value[:200]
            for key, value in labels.items()
            if isinstance(key, str) and key.startswith(OCI_LABELS) and isinstance(value, str)
        }
        return {key: value for key, value in list(found.items())[:50] if value}

    def manifest(self, repository: str, reference: str) -> bytes | None:
        """A manifest's bytes, or None when it does not exist; fetched by digest, its bytes
        must hash to that digest."""
        reply = self._call("GET", f"/v2/{repository}/manifests/{reference}", repository)
        if reply.status == 404:
            return None
        self._expect(reply, repository, f"manifest {reference}")
        if _DIGEST.fullmatch(reference):
            _check_digest(reply.body, reference, f"{self.host}/{repository}: manifest")
        return reply.body

    def blob(self, repository: str, digest: str, limit: int) -> bytes:
        """A blob of at most ``limit`` bytes, checked against its digest."""
        if not _DIGEST.fullmatch(digest):
            raise PermanentError(f"{self.host}/{repository}: {digest[:80]!r} is not a digest")
        reply = self._call("GET", f"/v2/{repository}/blobs/{digest}", repository, limit)
        self._expect(reply, repository, f"blob {digest}")
        _check_digest(reply.body, digest, f"{self.host}/{repository}: blob")
        return reply.body

    def referrers(self, repository: str, digest: str, artifact_type: str) -> list[str] | None:
        """Digests of the manifests that refer to ``digest`` with ``artifact_type`` (the OCI
        1.1 referrers API), or None when the registry does not serve that API."""
        path = f"/v2/{repository}/referrers/{digest}?{urlencode({'artifactType': artifact_type})}"
        reply = self._call("GET", path, repository)
        if reply.status in (404, 405, 400):
            return None
        self._expect(reply, repository, f"referrers of {digest}")
        index = _json(reply.body, self.host, "referrers")
        entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)][:1000]
        found = [_digest_of(m) for m in entries if m.get("artifactType") in (artifact_type, None)]
        return [d for d in found if d is not None]

    def fetch(self, path: str, name: str, limit: int) -> bytes:
        """The body of a ``GET`` of ``path`` on this host (a classic Helm repository's
        ``index.yaml``), with the same auth, bounds, redirects and rate limits; ``name``
        (the chart) names it in errors and in a token scope."""
        reply = self._call("GET", path, name, limit=limit, accept=ANY_TYPE)
        self._expect(reply, name, path.rsplit("/", 1)[-1][:80])
        return reply.body

    # -- HTTP ------------------------------------------------------------------------------

    def _manifest(self, repository: str, reference: str) -> _Reply:
        reply = self._call("GET", f"/v2/{repository}/manifests/{reference}", repository)
        self._expect(reply, repository, f"manifest {reference}")
        return reply

    def _call(
        self,
        method: str,
        path: str,
        repository: str,
        limit: int = MAX_MANIFEST_BYTES,
        accept: str = ACCEPT_MANIFESTS,
    ) -> _Reply:
        """One API call with at most one challenge round; rate limits raise."""
        scope = f"repository:{repository}:pull"
        if self._bearer is not None and not self._has_token(scope):
            self._answer(self._bearer, scope, own_scope=True)
        reply = self._send(method, self.base + path, self._auth(scope), limit, accept)
        if reply.status == 401:
            found = challenge.pick(reply.headers.get("WWW-Authenticate", ""))
            if found is not None:
                self._answer(found, scope)
                reply = self._send(method, self.base + path, self._auth(scope), limit, accept)
        self._note_limits(reply, repository)
        return reply

    def _has_token(self, scope: str) -> bool:
        token = self._tokens.get(scope)
        return token is not None and token[1] > self._clock()

    def _auth(self, scope: str) -> dict[str, str]:
        if self._has_token(scope):
            return {"Authorization": f"Bearer {self._tokens[scope][0]}"}
        if self._basic and self._password is not None:
            return {"Authorization": _basic(self._username or "", self._password)}
        return {}

    def _answer(self, found: challenge.Challenge, scope: str, own_scope: bool = False) -> None:
        """Act on a challenge: Basic from now on, or a Bearer token for ``scope`` (the
        challenge's own scope unless ``own_scope``: a remembered challenge names another
        repository's)."""
        if found.scheme == "basic":
            self._basic = True
            return
        realm = found.params["realm"]
        if not self._realm_ok(realm):
            raise PermanentError(f"{self.host}: token realm is not an https URL; not followed")
        self._bearer = found
        query = {"scope": scope if own_scope else found.params.get("scope") or scope}
        if found.params.get("service"):
            query["service"] = found.params["service"]
        headers = {}
        if self._password is not None:
            headers["Authorization"] = _basic(self._username or "", self._password)
        separator = "&" if "?" in realm else "?"
        reply = self._send("GET", realm + separator + urlencode(query), headers, MAX_TOKEN_BYTES)
        if reply.status in (401, 403):
            raise PermanentError(f"{self.host}: the token server refused the credentials")
        if reply.status != 200:
            raise TransientError(f"{self.host}: token server answered {reply.status}", delay=30)
        body = _json(reply.body, self.host, "token")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise PermanentError(f"{self.host}: the token server sent no token")
        lifetime = body.get("expires_in")
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else 60
        self._keep_token(scope, token, self._clock() + max(10, seconds - 10))

    def _keep_token(self, scope: str, token: str, until: float) -> None:
        """Cache a token; expired ones go first, and past MAX_TOKENS the oldest."""
        now = self._clock()
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        while len(self._tokens) >= MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        self._tokens[scope] = (token, until)

    def _realm_ok(self, realm: str) -> bool:
        parts = urlsplit(realm)
        if parts.scheme == "https" and parts.hostname:
            return True
        return self.entry.plain_http and parts.scheme == "http" and bool(parts.hostname)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        limit: int,
        accept: str = ACCEPT_MANIFESTS,
    ) -> _Reply:
        """One request, redirects followed by hand, the body read up to ``limit`` bytes."""
        if self.blocked_until > self._clock():
            wait = self.blocked_until - self._clock()
            raise TransientError(
                f"{self.host}: rate limit reached, waiting",
                delay=wait,
                reason="registry-rate-limited",
            )
        for _ in range(MAX_REDIRECTS + 1):
            self.requests += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    headers={"Accept": accept, **headers},
                    timeout=TIMEOUT,
                    allow_redirects=False,
                    stream=True,
                    verify=self._verify,
                )
            except requests.RequestException as error:
                raise TransientError(
                    f"{self.host}: {type(error).__name__}", delay=30, reason="registry-unavailable"
                ) from None
            with response:
                if response.status_code in (301, 302, 303, 307, 308):
                    url, headers = self._redirect(url, response, headers)
                    continue
                body = b"" if method == "HEAD" else _read(response, limit, self.host)
                return _Reply(response.status_code, response.headers, body)
        raise PermanentError(f"{self.host}: more than {MAX_REDIRECTS} redirects")

    def _redirect(
        self, url: str, response: requests.Response, headers: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        target = urljoin(url, response.headers.get("Location", ""))
        old, new = urlsplit(url), urlsplit(target)
        if old.scheme == "https" and new.scheme != "https":
            raise PermanentError(f"{self.host}: redirect from https to {new.scheme} refused")
        if new.netloc != old.netloc:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        return target, headers

    def _note_limits(self, reply: _Reply, repository: str) -> None:
        now = self._clock()
        if reply.status in (429, 503):
            wait = ratelimit.requested_wait(reply.headers, now)
            delay = min(MAX_WAIT, wait if wait is not None else 60.0)
            self.blocked_until = now + delay
            raise TransientError(
                f"{self.host}/{repository}: answered {reply.status}, retry in {delay:.0f}s",
                delay=delay,
                reason="registry-rate-limited",
            )
        if ratelimit.remaining(reply.headers) == 0:
            reset = ratelimit.reset_after(ratelimit.header(reply.headers, "RateLimit-Reset"), now)
            self.blocked_until = now + min(MAX_WAIT, reset if reset else 60.0)

    def _expect(self, reply: _Reply, repository: str, what: str) -> None:
        where = f"{self.host}/{repository}: {what}"
        if reply.status == 200:
            return
        if reply.status in (401, 403):
            raise PermanentError(
                f"{where}: access denied ({reply.status})", reason="registry-denied"
            )
        if reply.status == 404:
            raise PermanentError(f"{where}: not found", reason="registry-not-found")
        if reply.status >= 500:
            raise TransientError(
                f"{where}: answered {reply.status}", delay=60, reason="registry-unavailable"
            )
        raise PermanentError(f"{where}: answered {reply.status}", reason="registry-error")

    def _next_page(self, link: str) -> str | None:
        found = _NEXT.search(link[:4096])
        if found is None:
            return None
        target = urlsplit(urljoin(self.base + "/", str(found.group(1))))
        if target.netloc and target.netloc != urlsplit(self.base).netloc:
            raise PermanentError(f"{self.host}: tags list links to another host; not followed")
        if not target.path.startswith("/v2/"):
            return None
        path: str = target.path
        return path + (f"?{target.query}" if target.query else "")


def _check_digest(body: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if hashlib.new(algorithm, body).hexdigest() != expected:
        raise PermanentError(f"{what} does not match {digest}", reason="registry-error")


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _read(response: requests.Response, limit: int, host: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > limit:
            raise PermanentError(f"{host}: response over {limit} bytes", reason="registry-error")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes, host: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise PermanentError(f"{host}: {what} is not JSON", reason="registry-error") from None
    if not isinstance(value, dict):
        raise PermanentError(f"{host}: {what} is not a JSON object", reason="registry-error")
    return value


def _tag_names(body: dict[str, Any]) -> list[str]:
    tags = body.get("tags")
    if not isinstance(tags, list):
        return []
    return [t for t in tags if isinstance(t, str) and _TAG.fullmatch(t)]


def _media_type(reply: _Reply, manifest: dict[str, Any]) -> str:
    declared = manifest.get("mediaType")
    if isinstance(declared, str):
        return declared
    return reply.headers.get("Content-Type", "").split(";")[0].strip()


def _platform_manifest(index: dict[str, Any]) -> str | None:
    """The linux/amd64 entry of an index (else the first image entry): its digest."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)][:1000]
    for entry in entries:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return _digest_of(entry)
    return _digest_of(entries[0]) if entries else None


def _digest_of(entry: dict[str, Any]) -> str | None:
    digest = entry.get("digest")
    return digest if isinstance(digest, str) and _DIGEST.fullmatch(digest) else None
