"""The registry client against the test bed's real distribution registry: anonymous, htpasswd
basic auth and the bearer-token flow (a token server signing JWTs the registry verifies),
tags pagination, manifest HEAD digests, the revision label, and a 429 with Retry-After."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from bumper.core.config import RegistryEntry
from bumper.errors import PermanentError, TransientError
from bumper.registry import client as client_module
from bumper.registry.client import RegistryClient
from tests.support.registry_auth import ThrottlingProxy, TokenServer, crane_login, htpasswd
from tests.support.testbed import RegistryFactory


def entry(host: str, user: str | None = None) -> RegistryEntry:
    data: dict[str, object] = {"host": host, "plain_http": True}
    if user:
        data["credentials"] = {"username": user, "password": {"env": "UNUSED"}}
    return RegistryEntry.model_validate(data)


def test_anonymous_tags_pages_and_digests(
    registry: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry()
    digests = {tag: reg.push_image("acme/api", tag) for tag in ("1.0.0", "1.1.0", "2.0.0")}
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # three tags: two pages, Link followed
    api = RegistryClient(entry(reg.host))
    assert sorted(api.tags("acme/api")) == ["1.0.0", "1.1.0", "2.0.0"]
    assert api.digest("acme/api", "1.1.0") == digests["1.1.0"]
    assert api.digest("acme/api", "9.9.9") is None
    with pytest.raises(PermanentError, match="not found"):
        api.tags("acme/missing")


def test_revision_label_from_the_image_config(registry: RegistryFactory, tmp_path: Path) -> None:
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    ref = f"{reg.host}/acme/api:1.0.0"
    reg.crane("mutate", "--insecure", "-l", "org.opencontainers.image.revision=abc1234def", ref)
    api = RegistryClient(entry(reg.host))
    assert api.revision("acme/api", "1.0.0") == "abc1234def"
    reg.push_image("acme/plain", "1")
    assert api.revision("acme/plain", "1") is None


def test_labels_of_an_index_are_its_linux_amd64_images(registry: RegistryFactory) -> None:
    """A multi-platform tag: the labels come from the linux/amd64 image's config, not from
    the first entry of the index (here arm64, built from another revision)."""
    reg = registry()
    for arch, revision in (("arm64", "a" * 40), ("amd64", "b" * 40)):
        reg.push_image("acme/api", arch)
        ref = f"{reg.host}/acme/api:{arch}"
        label = f"org.opencontainers.image.revision={revision}"
        reg.crane("mutate", "--insecure", ref, "--set-platform", f"linux/{arch}", "-l", label)
    images = [arg for arch in ("arm64", "amd64") for arg in ("-m", f"{reg.host}/acme/api:{arch}")]
    reg.crane("index", "append", "--insecure", *images, "-t", f"{reg.host}/acme/api:1.1.0")
    api = RegistryClient(entry(reg.host))
    assert api.labels("acme/api", "1.1.0") == {"org.opencontainers.image.revision": "b" * 40}


def test_labels_by_digest_refuse_a_manifest_of_another_digest(registry: RegistryFactory) -> None:
    """A registry that answers another image's manifest for a digest (or for an index entry's
    digest) gets no labels believed: the PR would show the wrong source commit."""
    reg = registry()
    digests = {}
    for tag, revision in (("1.0.0", "a" * 40), ("1.1.0", "b" * 40)):
        reg.push_image("acme/api", tag)
        ref = f"{reg.host}/acme/api:{tag}"
        label = f"org.opencontainers.image.revision={revision}"
        reg.crane("mutate", "--insecure", ref, "--set-platform", "linux/amd64", "-l", label)
        digests[tag] = reg.crane("digest", "--insecure", ref).stdout.strip()
    images = ["-m", f"{reg.host}/acme/api:1.0.0"]
    reg.crane("index", "append", "--insecure", *images, "-t", f"{reg.host}/acme/api:multi")
    proxy = ThrottlingProxy(reg.url, retry_after=1)
    try:
        api = RegistryClient(entry(proxy.host))
        old, new = (f"/v2/acme/api/manifests/{digests[tag]}" for tag in ("1.0.0", "1.1.0"))
        assert api.labels("acme/api", digests["1.0.0"])["org.opencontainers.image.revision"] == (
            "a" * 40
        )
        proxy.swap[old] = new
        with pytest.raises(PermanentError, match="does not match"):
            api.labels("acme/api", digests["1.0.0"])
        with pytest.raises(PermanentError, match="does not match"):
            api.labels("acme/api", "multi")  # its amd64 entry is 1.0.0's digest
    finally:
        proxy.stop()


def test_basic_auth_with_htpasswd(registry: RegistryFactory, tmp_path: Path) -> None:
    reg = registry(auth=htpasswd(tmp_path / "auth", "bot", "s3cret-pw"))
    crane_login(reg, "bot", "s3cret-pw")
    digest = reg.push_image("acme/api", "1.0.0")
    with pytest.raises(PermanentError, match="denied") as denied:
        RegistryClient(entry(reg.host)).tags("acme/api")
    assert "s3cret" not in str(denied.value)
    wrong = RegistryClient(entry(reg.host, "bot"), password="wrong")
    with pytest.raises(PermanentError, match="denied"):
        wrong.digest("acme/api", "1.0.0")
    api = RegistryClient(entry(reg.host, "bot"), password="s3cret-pw")
    assert api.tags("acme/api") == ["1.0.0"]
    assert api.digest("acme/api", "1.0.0") == digest


def test_bearer_token_flow(registry: RegistryFactory, tmp_path: Path) -> None:
    tokens = TokenServer(tmp_path / "token", {"bot": "t0ken-pw"})
    try:
        reg = registry(auth=tokens.auth)
        crane_login(reg, "bot", "t0ken-pw")
        digest = reg.push_image("acme/api", "1.0.0")
        api = RegistryClient(entry(reg.host, "bot"), password="t0ken-pw")
        before = len(tokens.requests)
        assert api.tags("acme/api") == ["1.0.0"]
        assert api.digest("acme/api", "1.0.0") == digest
        # one token for the repository's pull scope, reused for the second call
        assert len(tokens.requests) == before + 1
        assert "scope=repository%3Aacme%2Fapi%3Apull" in tokens.requests[-1]
        with pytest.raises(PermanentError, match="refused the credentials"):
            RegistryClient(entry(reg.host, "bot"), password="nope").tags("acme/api")
    finally:
        tokens.stop()


def test_a_known_bearer_challenge_fetches_the_next_scope_up_front(
    registry: RegistryFactory, tmp_path: Path
) -> None:
    """Polling many repositories of a token-auth registry: after the first challenge, each new
    repository costs a token and its call (2 requests), not a 401 first (3); and the first
    repository's token stays cached while the others' are fetched."""
    tokens = TokenServer(tmp_path / "token", {"bot": "t0ken-pw"})
    try:
        reg = registry(auth=tokens.auth)
        crane_login(reg, "bot", "t0ken-pw")
        for name in ("acme/api", "acme/web", "acme/db"):
            reg.push_image(name, "1.0.0")
        api = RegistryClient(entry(reg.host, "bot"), password="t0ken-pw")
        assert api.tags("acme/api") == ["1.0.0"]
        assert api.requests == 3  # the 401, the token, the tags list
        assert api.tags("acme/web") == ["1.0.0"]
        assert api.requests == 5
        assert "scope=repository%3Aacme%2Fweb%3Apull" in tokens.requests[-1]
        assert api.tags("acme/db") == ["1.0.0"]
        fetched = len(tokens.requests)
        assert api.tags("acme/api") == ["1.0.0"]  # its token is still cached
        assert (api.requests, len(tokens.requests)) == (8, fetched)
    finally:
        tokens.stop()


def test_the_token_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_TOKENS", 3)
    now = [1000.0]
    api = RegistryClient(entry("registry.example"), clock=lambda: now[0])
    api._keep_token("a", "ta", 1500)
    api._keep_token("b", "tb", 1010)
    api._keep_token("c", "tc", 1500)
    now[0] = 1100  # b has expired: it goes first
    api._keep_token("d", "td", 1500)
    assert sorted(api._tokens) == ["a", "c", "d"]
    api._keep_token("e", "te", 1500)  # none expired: the oldest goes
    assert sorted(api._tokens) == ["c", "d", "e"]


def test_anonymous_bearer_token_flow(registry: RegistryFactory, tmp_path: Path) -> None:
    """A public repository behind token auth (Docker Hub, GHCR): with no credentials, the
    client answers the registry's Bearer challenge with an anonymous pull token."""
    tokens = TokenServer(tmp_path / "token", {"bot": "t0ken-pw"}, anonymous_pull=True)
    try:
        reg = registry(auth=tokens.auth)
        crane_login(reg, "bot", "t0ken-pw")
        digest = reg.push_image("acme/api", "1.0.0")
        api = RegistryClient(entry(reg.host))
        assert api.tags("acme/api") == ["1.0.0"]
        assert api.digest("acme/api", "1.0.0") == digest
        assert tokens.anonymous == 1  # one anonymous token, reused for the HEAD
        tokens.anonymous_pull = False  # a private repository: no token without credentials
        with pytest.raises(PermanentError, match="refused"):
            RegistryClient(entry(reg.host)).tags("acme/api")
    finally:
        tokens.stop()


def test_429_retry_after_blocks_until_due(registry: RegistryFactory) -> None:
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    proxy = ThrottlingProxy(reg.url, retry_after=7)
    try:
        now = [1000.0]
        api = RegistryClient(entry(proxy.host), clock=lambda: now[0])
        proxy.throttle = 1
        with pytest.raises(TransientError) as limited:
            api.tags("acme/api")
        assert limited.value.reason == "registry-rate-limited" and limited.value.delay == 7
        seen = len(proxy.seen)
        now[0] += 6  # still inside Retry-After: refused without a request
        with pytest.raises(TransientError):
            api.tags("acme/api")
        assert len(proxy.seen) == seen
        now[0] += 2
        assert api.tags("acme/api") == ["1.0.0"]
    finally:
        proxy.stop()


def test_429_with_an_http_date_retry_after_waits_until_that_date(
    registry: RegistryFactory,
) -> None:
    """RFC 9110 allows a date: read by the same parser as the forges' (bumper.core.ratelimit),
    not taken for the 60 s default."""
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    proxy = ThrottlingProxy(reg.url, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    try:
        now = [parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp() - 42]
        api = RegistryClient(entry(proxy.host), clock=lambda: now[0])
        proxy.throttle = 1
        with pytest.raises(TransientError) as limited:
            api.tags("acme/api")
        assert limited.value.delay == 42 and api.blocked_until == now[0] + 42
        now[0] += 43
        assert api.tags("acme/api") == ["1.0.0"]
    finally:
        proxy.stop()


def test_ratelimit_remaining_zero_pauses_the_host(registry: RegistryFactory) -> None:
    """Docker Hub's ``RateLimit-Remaining: 0;w=21600`` with a reset in seconds: the client
    answers this call, then refuses the next ones without a request until the reset."""
    reg = registry()
    reg.push_image("acme/api", "1.0.0")
    limits = {"RateLimit-Remaining": "0;w=21600", "RateLimit-Reset": "30"}
    proxy = ThrottlingProxy(reg.url, retry_after=1, limits=limits)
    try:
        now = [1000.0]
        api = RegistryClient(entry(proxy.host), clock=lambda: now[0])
        assert api.tags("acme/api") == ["1.0.0"]
        assert api.blocked_until == 1030.0
        seen = len(proxy.seen)
        with pytest.raises(TransientError):
            api.tags("acme/api")
        assert len(proxy.seen) == seen
    finally:
        proxy.stop()
