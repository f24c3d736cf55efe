"""Cosign signatures made in Python, in cosign's exact layout, for what cosign cannot sign here
(Ed25519 keys) and for unit tests; ``push_signature`` stores one in a registry.

The layout (cosign's "simple signing"): a payload ``{"critical": {"identity":
{"docker-reference": ...}, "image": {"docker-manifest-digest": ...}, "type": "cosign container
image signature"}, "optional": {...}}``; an OCI image manifest tagged ``sha256-<hex>.sig`` whose
layer is the payload blob (media type ``SIMPLE_SIGNING``) annotated with the base64 signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def new_key(kind: str = "ecdsa") -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else _ed25519()


def _ed25519() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def payload(reference: str, digest: str, optional: dict[str, str] | None = None) -> bytes:
    """cosign's payload bytes (it writes compact JSON; only the bytes signed matter)."""
    body: dict[str, Any] = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def push_signature(
    registry_url: str, repository: str, digest: str, data: bytes, signature: bytes
) -> str:
    """Store one signature under ``sha256-<hex>.sig``; returns that manifest's digest."""
    config = b"{}"
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "size": len(data),
        "digest": _put_blob(registry_url, repository, data),
        "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "size": len(config),
            "digest": _put_blob(registry_url, repository, config),
        },
        "layers": [layer],
    }
    body = json.dumps(manifest).encode()
    tag = "sha256-" + digest.removeprefix("sha256:") + ".sig"
    reply = requests.put(
        f"{registry_url}/v2/{repository}/manifests/{tag}",
        data=body,
        headers={"Content-Type": OCI_MANIFEST},
        timeout=10,
    )
    reply.raise_for_status()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _put_blob(registry_url: str, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = requests.post(f"{registry_url}/v2/{repository}/blobs/uploads/", timeout=10)
    started.raise_for_status()
    location = requests.compat.urljoin(registry_url, started.headers["Location"])
    separator = "&" if "?" in location else "?"
    done = requests.put(f"{location}{separator}digest={digest}", data=data, timeout=10)
    done.raise_for_status()
    return digest
