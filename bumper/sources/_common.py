"""Shared helpers for sender parsers: defensive JSON access and event construction.

Webhook bodies are untrusted and vendor examples are messy, so every accessor here returns a
neutral value (``{}``, ``[]``, ``None``) for a missing or wrongly typed field instead of
raising. Any slip in a parser that still raises is turned into ``WebhookRejected(400)`` by
``bumper.sources.Sender`` (logged as an error, so tests notice), not here. No I/O besides
logging.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

try:
    from msgspec.json import Decoder as FastDecoder
except ImportError:  # an install without the web extra: the standard library decodes alone
    FastDecoder = None  # type: ignore[assignment,misc]

from bumper.core import refs
from bumper.core.events import (
    HELM_MEDIA_TYPES,
    Artifact,
    BuildFinished,
    BuildStatus,
    Event,
    ImageEvent,
    ImageEventType,
)
from bumper.errors import InvalidReference, WebhookRejected

LOG = logging.getLogger("bumper.sources")

MAX_TEXT = 4096
"""Longer strings are treated as absent: no real field is this long."""
MAX_DELIVERY_ID = 200
MAX_EVENTS = 1000
"""An envelope with more events than this is refused (400) rather than fanned out."""

_SHA = re.compile(r"[0-9a-f]{7,64}")


def load_json(body: bytes) -> Any:
    """The decoded body; ``WebhookRejected(400)`` if it is not JSON.

    The last body decoded on this thread is remembered by identity: the receiver's
    ``delivery_id`` and ``parse`` read the same bytes object one after the other, and the
    decoded value is only ever read, never changed, so the body is decoded once.
    """
    if not isinstance(body, bytes | bytearray):
        raise WebhookRejected("body is not bytes", status=400, reason="malformed")
    memo = _last_decoded.__dict__
    if memo.get("body") is body:
        return memo["value"]
    value = _decode(body)
    if type(body) is bytes:  # a bytearray could change under the same identity
        memo["body"], memo["value"] = body, value
    return value


_last_decoded = threading.local()
_fast_decode: Callable[[bytes], Any] | None = (
    FastDecoder().decode if FastDecoder is not None else None
)


def _decode(body: bytes) -> Any:
    """Exactly ``json.loads``' answer: msgspec's decoder first, the standard library otherwise.

    msgspec decodes a 22 kB GitHub payload in a third of the time (30 µs against 95 µs: the
    largest single cost of a GitHub delivery). Where the two differ, msgspec refuses and the
    standard library decides: NaN and Infinity, numbers that overflow to infinity, a
    byte-order mark, UTF-16/32, UTF-8-encoded surrogates. Big integers stay integers in both
    (orjson was measured too, and turns integers over 64 bits into floats).
    tests/sources/test_load_json.py checks the two give equal values of equal types.
    """
    if _fast_decode is not None:
        try:
            return _fast_decode(body)
        except Exception:  # any refusal: the standard library decides
            pass
    return _stdlib_decode(body)


def _stdlib_decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise WebhookRejected("body is nested too deeply", status=400, reason="malformed") from None
    except (ValueError, UnicodeError) as error:
        # json's messages quote at most a position, never the body.
        raise WebhookRejected(
            f"body is not valid JSON ({_first_line(error)})", status=400, reason="malformed"
        ) from None


def load_object(body: bytes) -> dict[str, Any]:
    """The decoded body, which must be a JSON object."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise WebhookRejected("body is not a JSON object", status=400, reason="malformed")
    return data


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def obj(value: Any, *path: str) -> dict[str, Any]:
    """``value[path...]`` if that is an object, else ``{}``."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def lst(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: Any, *path: str) -> str | None:
    """``value[path...]`` if it is a non-empty, reasonably short string, else ``None``."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value.strip() or None
    return None


def first_text(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, str) and value.strip() and len(value) <= MAX_TEXT:
        return value.strip()
    return None


def capped_id(value: Any) -> str | None:
    """A delivery id if ``value`` is a usable one (a short string or an integer)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_DELIVERY_ID:
        return value.strip()
    return None


def drop(sender: str, reason: str, *, routine: bool = False) -> list[Event]:
    """Log why a delivery (or part of it) yields no event; returns ``[]`` for convenience.

    ``routine`` drops (a registry's notice for each layer blob) are ordinary traffic, many per
    image push: logged at DEBUG so that they do not drown the reasons an operator looks for.
    """
    level = logging.DEBUG if routine else logging.INFO
    logging.getLogger(f"bumper.sources.{sender}").log(level, "dropped: %s", reason)
    return []


# ---------------------------------------------------------------------------------------------
# Image events


def valid_tag(tag: str | None) -> str | None:
    if not tag:
        return None
    try:
        return refs.validate_tag(tag)
    except InvalidReference:
        return None


def valid_digest(digest: str | None) -> str | None:
    if not digest:
        return None
    try:
        return refs.validate_digest(digest)
    except InvalidReference:
        return None


# Pure, and a sender repeats the same few names: parsing one was a twentieth of a delivery's
# CPU in the receiver. Bounded, so a flood of distinct names only evicts.
@functools.lru_cache(maxsize=1024)
def normal_name(name: str | None) -> str | None:
    """The normalised image name (``refs.normalize_name``) or ``None`` if it is not valid.

    Any tag or digest on ``name`` is ignored, and so is a bad one (a masked digest must not
    hide the name it is attached to).
    """
    if not name:
        return None
    bare = split_reference(name)[0]
    try:
        return refs.normalize_name(bare)
    except InvalidReference:
        return None


def split_reference(text_: str) -> tuple[str, str | None, str | None]:
    """``name, tag, digest`` from ``name[:tag][@digest]`` without validating tag or digest."""
    rest, _, digest = text_.partition("@")
    colon = rest.rfind(":")
    tag: str | None = None
    if colon != -1 and "/" not in rest[colon:]:
        rest, tag = rest[:colon], rest[colon + 1 :]
    return rest, (tag or None), (digest or None)


def image_event(
    sender: str,
    kind: ImageEventType,
    name: str | None,
    *,
    tag: str | None = None,
    digest: str | None = None,
    extra: dict[str, Any] | None = None,
    artifact: Artifact = "image",
) -> list[Event]:
    """``[ImageEvent]`` with the name normalised and bad tag/digest nulled, or ``[]`` (logged).
    ``artifact``: ``"chart"`` when the sender's media types say a Helm chart was pushed.

    A tag that is really a digest (Harbor, GitHub push by digest) moves to ``digest``.
    """
    image = normal_name(name)
    if image is None:
        return drop(sender, f"{kind}: no valid image name in {_short(name)}")
    if tag and tag.startswith("sha256:"):
        digest, tag = digest or tag, None
    good_tag, good_digest = valid_tag(tag), valid_digest(digest)
    if good_tag is None and good_digest is None:
        return drop(sender, f"{kind} {image}: neither a valid tag nor a valid digest")
    event = ImageEvent(
        type=kind,
        image=image,
        tag=good_tag,
        digest=good_digest,
        source=sender,
        extra=extra or {},
        artifact=artifact,
    )
    return [event]


def artifact_of(*media_types: str | None) -> Artifact:
    """``"chart"`` when any of ``media_types`` is a Helm chart's (config or content layer)."""
    helm = any((m or "").lower() in HELM_MEDIA_TYPES for m in media_types)
    return "chart" if helm else "image"


def _short(value: str | None) -> str:
    return repr(value[:80]) if value else "(none)"


# ---------------------------------------------------------------------------------------------
# Build events


def build_event(
    sender: str,
    status: BuildStatus,
    *,
    commit: str | None = None,
    ref: str | None = None,
    repository: str | None = None,
    pipeline: str | None = None,
    url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Event]:
    return [
        BuildFinished(
            status=status,
            commit=commit_sha(commit),
            ref=ref,
            repository=repository,
            pipeline=pipeline,
            url=url if url and is_http_url(url) else None,
            source=sender,
            extra=extra or {},
        )
    ]


def commit_sha(value: str | None) -> str | None:
    """A lower-case hex commit id (7 to 64 characters) or ``None``."""
    if value and _SHA.fullmatch(value.lower()):
        return value.lower()
    return None


def branch_ref(branch: str | None, *, tag: bool = False) -> str | None:
    """A full git ref: ``main`` → ``refs/heads/main``; full refs are kept as they are."""
    if not branch:
        return None
    if branch.startswith("refs/"):
        return branch
    return f"refs/tags/{branch}" if tag else f"refs/heads/{branch}"


def repo_path(url: str | None) -> str | None:
    """``owner/name`` (with any subgroups) from a clone or web URL of a repository.

    Handles ``https://host/owner/name(.git)``, ``ssh://git@host/owner/name.git`` and scp-like
    ``git@host:owner/name.git``. Returns ``None`` for anything else.
    """
    if not url:
        return None
    path: str
    if "://" in url:
        try:
            path = urlsplit(url).path
        except ValueError:
            return None
    elif re.fullmatch(r"[\w.-]+@[\w.-]+:[^\s]+", url):
        path = url.split(":", 1)[1]
    else:
        return None
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return path or None


def is_http_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) <= MAX_TEXT


def host_of(url: str | None) -> str | None:
    """The ``host[:port]`` of an http(s) URL, or ``None``."""
    if not url or "://" not in url:
        return None
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    netloc = netloc.rpartition("@")[2]
    return netloc or None


StatusMap = Mapping[str, BuildStatus]


def map_status(table: StatusMap, value: str | None) -> BuildStatus | None:
    """The normalised status for a vendor's terminal status, ``None`` if not terminal/known."""
    return table.get(value.lower()) if value else None
