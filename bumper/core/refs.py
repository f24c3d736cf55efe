"""Container image references: parse, validate, normalise and format.

Follows the distribution/reference grammar::

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] path
    domain    := host [ ":" port ]           host: DNS name, "localhost", IPv4 or "[IPv6]"
    path      := component ( "/" component )*
    component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := algorithm ":" hex           sha256 → 64 hex, sha512 → 128 hex, others ≥ 32

Docker Hub normalisation: the first path element is a registry only when it contains "." or
":", or is "localhost". Otherwise the registry is ``docker.io``,
and a single-element path gets ``library/``. ``index.docker.io``,
``registry-1.docker.io`` and ``registry.hub.docker.com`` are spelled ``docker.io``. So
``nginx``, ``docker.io/library/nginx`` and ``index.docker.io/library/nginx`` have the same
``name``.

Pure: no I/O. Invalid input raises :class:`InvalidReference` with the reason.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from bumper.errors import InvalidReference

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
OFFICIAL_PREFIX = "library/"

NAME_MAX = 255
TAG_MAX = 128

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_ALGO = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_KNOWN_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference. ``registry`` and ``repository`` are normalised."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The normalised name, e.g. ``docker.io/library/nginx``: the key images are matched by."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The short form people write: ``nginx`` for Docker Hub official images."""
        return familiar(self.name)

    def with_tag(self, tag: str | None) -> Reference:
        if tag is not None:
            validate_tag(tag)
        return dataclasses.replace(self, tag=tag)

    def with_digest(self, digest: str | None) -> Reference:
        if digest is not None:
            validate_digest(digest)
        return dataclasses.replace(self, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse(text: str) -> Reference:
    """Parse ``text`` as ``name[:tag][@digest]`` and normalise the name."""
    if not isinstance(text, str) or not text:
        raise InvalidReference("empty image reference")
    if text != text.strip():
        raise InvalidReference(f"image reference {text!r} has surrounding whitespace")
    rest, digest = _split_digest(text)
    name, tag = _split_tag(rest)
    registry, repository = _split_name(name)
    return Reference(registry, repository, tag, digest)


def parse_name(text: str) -> Reference:
    """Parse a name with neither tag nor digest (``--image`` values, config ``image:`` keys)."""
    ref = parse(text)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidReference(f"{text!r} is a reference with a tag or digest, not an image name")
    return ref


def normalize_name(name: str) -> str:
    """The normalised name of ``name``, ignoring any tag or digest.

    ``nginx`` → ``docker.io/library/nginx``.
    """
    return parse(name).name


def familiar(name: str) -> str:
    """Shorten a normalised name as docker prints it: ``docker.io/library/nginx`` → ``nginx``."""
    hub = DOCKER_HUB + "/"
    if not name.startswith(hub):
        return name
    path = name[len(hub) :]
    if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX) :]:
        return path[len(OFFICIAL_PREFIX) :]
    return path


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except InvalidReference:
        return False
    return True


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise :class:`InvalidReference`."""
    if not tag:
        raise InvalidReference("empty tag")
    if len(tag) > TAG_MAX:
        raise InvalidReference(f"tag is {len(tag)} characters long; at most {TAG_MAX} allowed")
    if not _TAG.fullmatch(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: use letters, digits, '_', '.', '-', not starting with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``algorithm:hex`` with the right length, else raise."""
    algo, sep, hexpart = digest.partition(":")
    if not sep or not algo or not hexpart:
        raise InvalidReference(f"invalid digest {digest!r}: expected algorithm:hex")
    if not _DIGEST_ALGO.fullmatch(algo):
        raise InvalidReference(f"invalid digest algorithm {algo!r}")
    if not _HEX.fullmatch(hexpart):
        raise InvalidReference(
            f"invalid digest {digest!r}: expected at least 32 hexadecimal characters after ':'"
        )
    expected = _KNOWN_DIGESTS.get(algo)
    if expected is not None:
        if len(hexpart) != expected:
            raise InvalidReference(
                f"invalid {algo} digest: {len(hexpart)} hex characters, expected {expected}"
            )
        if not _LOWER_HEX.fullmatch(hexpart):
            raise InvalidReference(f"invalid {algo} digest: hex must be lower-case")
    return digest


def _split_digest(text: str) -> tuple[str, str | None]:
    rest, at, digest = text.partition("@")
    if not at:
        return text, None
    if "@" in digest:
        raise InvalidReference(f"image reference {text!r} has more than one '@'")
    validate_digest(digest)
    return rest, digest


def _split_tag(text: str) -> tuple[str, str | None]:
    # A tag follows the last ':' only if no '/' comes after it (else it is a registry port).
    colon = text.rfind(":")
    if colon == -1 or "/" in text[colon:] or text.endswith("]"):
        return text, None
    tag = text[colon + 1 :]
    validate_tag(tag)
    return text[:colon], tag


def _split_name(name: str) -> tuple[str, str]:
    if not name:
        raise InvalidReference("empty image name")
    if len(name) > NAME_MAX:
        raise InvalidReference(f"image name is {len(name)} characters long; at most {NAME_MAX}")
    first, slash, remainder = name.partition("/")
    if slash and _looks_like_registry(first):
        registry = _normalise_registry(first)
        path = remainder
    else:
        registry = DOCKER_HUB
        path = name
    _validate_path(path, name)
    if registry == DOCKER_HUB and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return registry, path


def _looks_like_registry(first: str) -> bool:
    # Upper case is not a registry signal here (newer Docker treats it as one); rejecting
    # "Foo/bar" keeps every normalised name re-parseable to itself.
    return "." in first or ":" in first or first == "localhost"


def _normalise_registry(domain: str) -> str:
    host, port = _split_port(domain)
    _validate_host(host, domain)
    if port is not None:
        if not port.isdigit() or not port.isascii():
            raise InvalidReference(f"invalid registry port in {domain!r}")
        if not 0 < int(port) < 65536:
            raise InvalidReference(f"registry port {port} out of range in {domain!r}")
    host = host.lower()
    if host in _DOCKER_HUB_ALIASES and port is None:
        return DOCKER_HUB
    return host if port is None else f"{host}:{port}"


def _split_port(domain: str) -> tuple[str, str | None]:
    if domain.startswith("["):
        close = domain.find("]")
        if close == -1:
            raise InvalidReference(f"unclosed '[' in registry {domain!r}")
        host, after = domain[: close + 1], domain[close + 1 :]
        if not after:
            return host, None
        if not after.startswith(":"):
            raise InvalidReference(f"unexpected text after ']' in registry {domain!r}")
        return host, after[1:]
    host, colon, port = domain.partition(":")
    return host, (port if colon else None)


def _validate_host(host: str, domain: str) -> None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise InvalidReference(f"invalid IPv6 address in registry {domain!r}") from None
        return
    if not host:
        raise InvalidReference(f"empty registry host in {domain!r}")
    for part in host.split("."):
        if not _DOMAIN_COMPONENT.fullmatch(part) or not part.isascii():
            raise InvalidReference(f"invalid registry host {host!r}")


def _validate_path(path: str, name: str) -> None:
    if not path:
        raise InvalidReference(f"image name {name!r} has an empty repository path")
    for component in path.split("/"):
        if _COMPONENT.fullmatch(component) and component.isascii():
            continue
        if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
            raise InvalidReference(f"repository name must be lower-case: {name!r}")
        if not component:
            raise InvalidReference(f"image name {name!r} has an empty path component")
        raise InvalidReference(
            f"invalid path component {component!r} in {name!r}: use lower-case letters, digits "
            "and single separators '.', '_', '__' or '-'"
        )
