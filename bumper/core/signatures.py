"""Cosign signature checks by public key: does one signature vouch for this digest?

Cosign's "simple signing" layout: a signature is a JSON payload (``critical.image.
docker-manifest-digest`` names the signed manifest, ``optional`` holds ``cosign sign -a``
annotations) and a signature over the payload's exact bytes: ECDSA P-256 with SHA-256 (DER),
or Ed25519 (pure, over the bytes). ``bumper.registry.signatures`` reads them from a registry;
this module only judges them.

A candidate passes when one signature, in this order: verifies with one of the keys, then
names the candidate's digest (a signature copied from another digest verifies, but names its
own: ``signature-digest``), then carries every required annotation. The payload is parsed only
after its signature verified, so an unsigned payload never reaches the JSON parser.

Pure: no I/O. Keys come in as PEM text (resolved by the caller through ``bumper.secrets``);
errors name a key by its position, never its text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bumper.errors import ConfigError

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 1024  # DER ECDSA P-256 is at most 72, Ed25519 64

# The decision log's ``rule`` for each way a candidate fails (docs/signatures.md).
Reason = Literal[
    "unsigned",
    "signature-untrusted",
    "signature-digest",
    "signature-annotation",
    "signature-unreadable",
]
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class Signed:
    """One signature as read from the registry: the payload's bytes and the raw signature."""

    payload: bytes
    signature: bytes
    where: str  # "tag sha256-<hex>.sig" or "referrer sha256:<hex>", for the explanation


@dataclass(frozen=True)
class Verdict:
    """``reason`` is None when the candidate passed; ``why`` says what was found either way."""

    reason: Reason | None
    why: str

    @property
    def passed(self) -> bool:
        return self.reason is None


def load_keys(pems: Sequence[str]) -> list[PublicKey]:
    """PEM public keys (ECDSA P-256 or Ed25519); ``ConfigError`` naming the key's position."""
    keys: list[PublicKey] = []
    for number, pem in enumerate(pems, start=1):
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except (ValueError, TypeError):
            raise ConfigError(f"verify key {number} is not a PEM public key") from None
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            keys.append(key)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            keys.append(key)
        else:
            raise ConfigError(f"verify key {number}: only ECDSA P-256 and Ed25519 keys are read")
    return keys


def check(
    found: Sequence[Signed],
    *,
    digest: str,
    keys: Sequence[PublicKey],
    annotations: Mapping[str, str],
) -> Verdict:
    """The verdict on ``digest`` given every signature found for it (see the module doc)."""
    if not found:
        return Verdict("unsigned", f"no cosign signature found for {digest}")
    failures: list[Verdict] = []
    for signed in found:
        verdict = _one(signed, digest, keys, annotations)
        if verdict.passed:
            return verdict
        failures.append(verdict)
    # The failure that got furthest explains best (a trusted signature of the wrong digest says
    # more than an untrusted one).
    order: list[Reason | None] = [
        "signature-annotation",
        "signature-digest",
        "signature-untrusted",
        "signature-unreadable",
    ]
    failures.sort(key=lambda v: order.index(v.reason))
    more = f" ({len(found)} signatures, none passed)" if len(found) > 1 else ""
    return Verdict(failures[0].reason, failures[0].why + more)


def _one(
    signed: Signed, digest: str, keys: Sequence[PublicKey], annotations: Mapping[str, str]
) -> Verdict:
    if len(signed.payload) > MAX_PAYLOAD_BYTES or len(signed.signature) > MAX_SIGNATURE_BYTES:
        return Verdict("signature-unreadable", f"{signed.where}: payload or signature too large")
    number = _signer(signed, keys)
    if number is None:
        return Verdict(
            "signature-untrusted", f"{signed.where}: signature verifies with no verify key"
        )
    payload = _payload(signed.payload)
    if payload is None:
        return Verdict("signature-unreadable", f"{signed.where}: payload is not cosign's JSON")
    named = _get(payload, "critical", "image", "docker-manifest-digest")
    if named != digest:
        shown = str(named)[:80] if named is not None else "no digest"
        return Verdict(
            "signature-digest",
            f"{signed.where}: signed by key {number} for {shown}, not for {digest}",
        )
    optional = payload.get("optional")
    carried = optional if isinstance(optional, dict) else {}
    for name, wanted in annotations.items():
        if carried.get(name) != wanted:
            have = carried.get(name)
            shown = f"{str(have)[:80]!r}" if have is not None else "absent"
            return Verdict(
                "signature-annotation",
                f"{signed.where}: annotation {name!r} is {shown}, required {wanted!r}",
            )
    return Verdict(None, f"signed by key {number} ({signed.where})")


def _signer(signed: Signed, keys: Sequence[PublicKey]) -> int | None:
    """The 1-based position of the key the signature verifies with, or None."""
    for number, key in enumerate(keys, start=1):
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signed.signature, signed.payload)
            else:
                key.verify(signed.signature, signed.payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        return number
    return None


def _payload(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _get(data: Mapping[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
