"""Cosign signatures of one image digest, read from its registry (``RegistryClient``).

Two places, both read:

- the tag ``sha256-<hex>.sig`` in the image's repository (cosign's default layout);
- the OCI 1.1 referrers of the digest with artifact type ``SIGNATURE_ARTIFACT`` (cosign
  ``--registry-referrers-mode=oci-1-1``), when the registry serves the referrers API.

Each is a manifest whose layers are the payloads; a layer's ``dev.cosignproject.cosign/
signature`` annotation is the base64 signature. Payload blobs are fetched by digest and
checked against it. Nothing is judged here (``bumper.core.signatures`` does): a layer without
a signature annotation is skipped, a malformed manifest is a ``PermanentError``.

Bounds: at most ``MAX_MANIFESTS`` referrers and ``MAX_LAYERS`` layers per manifest are read,
each payload up to ``bumper.core.signatures.MAX_PAYLOAD_BYTES``. Only the entry's registry is
called; nothing in a manifest (no URL, no foreign layer) is followed elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from bumper.core.signatures import MAX_PAYLOAD_BYTES, MAX_SIGNATURE_BYTES, Signed
from bumper.errors import PermanentError
from bumper.registry.client import RegistryClient

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
MAX_MANIFESTS = 8
MAX_LAYERS = 16
_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")


def signature_tag(digest: str) -> str:
    """``sha256:abc...`` → ``sha256-abc....sig``, where cosign puts a digest's signatures."""
    found = _SHA256.fullmatch(digest)
    if found is None:
        raise PermanentError(f"{digest[:80]!r} is not a sha256 digest")
    return f"sha256-{found.group(1)}.sig"


def read(client: RegistryClient, repository: str, digest: str) -> list[Signed]:
    """Every cosign signature stored for ``digest`` in ``repository`` (maybe none)."""
    tag = signature_tag(digest)
    found: list[Signed] = []
    manifest = client.manifest(repository, tag)
    if manifest is not None:
        found += _layers(client, repository, manifest, f"tag {tag}")
    for referrer in (client.referrers(repository, digest, SIGNATURE_ARTIFACT) or [])[
        :MAX_MANIFESTS
    ]:
        body = client.manifest(repository, referrer)
        if body is not None:
            found += _layers(client, repository, body, f"referrer {referrer}")
    return found


def _layers(client: RegistryClient, repository: str, body: bytes, where: str) -> list[Signed]:
    manifest = _object(body, where)
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise PermanentError(f"{client.host}/{repository}: {where} has no layers")
    found: list[Signed] = []
    for layer in layers[:MAX_LAYERS]:
        signature = _signature(layer)
        payload_digest = layer.get("digest") if isinstance(layer, dict) else None
        if signature is None or not isinstance(payload_digest, str):
            continue
        payload = client.blob(repository, payload_digest, MAX_PAYLOAD_BYTES)
        found.append(Signed(payload=payload, signature=signature, where=where))
    return found


def _signature(layer: Any) -> bytes | None:
    annotations = layer.get("annotations") if isinstance(layer, dict) else None
    text = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text or len(text) > MAX_SIGNATURE_BYTES * 2:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _object(body: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise PermanentError(f"{where} is not JSON", reason="registry-error") from None
    if not isinstance(value, dict):
        raise PermanentError(f"{where} is not a JSON object", reason="registry-error")
    return value
