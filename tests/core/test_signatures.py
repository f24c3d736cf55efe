"""``bumper.core.signatures``: cosign payloads judged against keys, digest and annotations."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bumper.core import signatures
from bumper.core.signatures import Signed
from bumper.errors import ConfigError
from tests.support import cosign_layout

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def signed(key: cosign_layout.PrivateKey, digest: str = DIGEST, **optional: str) -> Signed:
    data = cosign_layout.payload("reg.example/acme/api", digest, optional or None)
    return Signed(data, cosign_layout.sign(key, data), "tag x.sig")


def verdict(
    found: list[Signed], keys: list[cosign_layout.PrivateKey], **annotations: str
) -> signatures.Verdict:
    loaded = signatures.load_keys([cosign_layout.public_pem(k) for k in keys])
    return signatures.check(found, digest=DIGEST, keys=loaded, annotations=annotations)


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_a_signature_by_the_key_for_the_digest_passes(kind: str) -> None:
    key = cosign_layout.new_key(kind)
    result = verdict([signed(key)], [key])
    assert result.passed and result.why == "signed by key 1 (tag x.sig)"


def test_no_signature_is_unsigned() -> None:
    result = verdict([], [cosign_layout.new_key()])
    assert (result.reason, result.why) == ("unsigned", f"no cosign signature found for {DIGEST}")


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_a_signature_by_another_key_is_untrusted(kind: str) -> None:
    result = verdict([signed(cosign_layout.new_key(kind))], [cosign_layout.new_key(kind)])
    assert result.reason == "signature-untrusted"


def test_a_signature_of_another_digest_is_refused_though_the_key_verifies() -> None:
    key = cosign_layout.new_key()
    result = verdict([signed(key, OTHER)], [key])
    assert result.reason == "signature-digest"
    assert f"signed by key 1 for {OTHER}, not for {DIGEST}" in result.why


def test_a_tampered_payload_no_longer_verifies() -> None:
    key = cosign_layout.new_key()
    good = signed(key, OTHER)
    forged = good.payload.replace(OTHER.encode(), DIGEST.encode())
    result = verdict([Signed(forged, good.signature, good.where)], [key])
    assert result.reason == "signature-untrusted"


def test_required_annotations_must_be_carried_with_their_value() -> None:
    key = cosign_layout.new_key()
    wanted = {"repo": "acme/api"}
    assert verdict([signed(key, repo="acme/api")], [key], **wanted).passed
    wrong = verdict([signed(key, repo="evil/api")], [key], **wanted)
    assert wrong.reason == "signature-annotation"
    assert "annotation 'repo' is 'evil/api', required 'acme/api'" in wrong.why
    absent = verdict([signed(key)], [key], **wanted)
    assert "annotation 'repo' is absent" in absent.why


def test_any_key_of_several_and_any_signature_of_several_may_pass() -> None:
    first, second = cosign_layout.new_key(), cosign_layout.new_key("ed25519")
    stranger = cosign_layout.new_key()
    result = verdict([signed(stranger), signed(second)], [first, second])
    assert result.passed and "key 2" in result.why


def test_the_failure_that_got_furthest_explains() -> None:
    key = cosign_layout.new_key()
    result = verdict([signed(cosign_layout.new_key()), signed(key, OTHER)], [key])
    assert result.reason == "signature-digest" and "2 signatures, none passed" in result.why


def test_oversized_and_non_json_payloads_are_unreadable() -> None:
    key = cosign_layout.new_key()
    big = b"{" + b" " * signatures.MAX_PAYLOAD_BYTES + b"}"
    assert verdict([Signed(big, b"x", "t")], [key]).reason == "signature-unreadable"
    junk = b"not json"
    assert verdict([Signed(junk, cosign_layout.sign(key, junk), "t")], [key]).reason == (
        "signature-unreadable"
    )


def test_keys_other_than_p256_and_ed25519_are_config_errors_naming_only_the_position() -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    p384 = cosign_layout.public_pem(ec.generate_private_key(ec.SECP384R1()))
    for pem in (rsa_pem, p384):
        with pytest.raises(ConfigError, match="verify key 1: only ECDSA P-256 and Ed25519"):
            signatures.load_keys([pem])
    with pytest.raises(ConfigError) as error:
        signatures.load_keys([cosign_layout.public_pem(cosign_layout.new_key()), "s3cret-text"])
    assert str(error.value) == "verify key 2 is not a PEM public key"
