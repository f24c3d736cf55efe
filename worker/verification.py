"""Signature verification before a bump: a candidate of a rule with ``verify`` (its own, else
its registry entry's) goes on only when a cosign signature in its registry vouches for its
digest (``bumper.core.signatures`` judges; ``bumper.registry.signatures`` reads).

``refusal(ctx, rule, tag, digest)`` returns None when the candidate may go on, else the
rejected ``policy.Decision`` for the decision log, whose ``rule`` says why (``unsigned``,
``signature-untrusted``, ``signature-digest``, ``signature-annotation``,
``signature-unreadable``). ``judge`` is the same check for a given client, which ``bumper
explain-policy`` uses too. A registry that is down raises ``TransientError`` (the job retries:
an outage is not a verdict); a registry that refuses or serves garbage is a refusal.

Keys are secrets (``bumper.secrets``), parsed once per process and key text. Only the image's
``registries:`` entry is called (config cross-checks that a rule with ``verify`` has one).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bumper import secrets
from bumper.core import config, policy, signatures
from bumper.errors import ConfigError, PermanentError
from bumper.registry import signatures as stored
from bumper.registry.client import RegistryClient
from worker import registries
from worker.context import WorkerContext

_keys: dict[str, list[signatures.PublicKey]] = {}


def refusal(
    ctx: WorkerContext, rule: config.Image, tag: str, digest: str | None
) -> policy.Decision | None:
    """None when ``rule`` needs no signature or ``tag``/``digest`` is signed as it requires."""
    verify = ctx.config.verify_for(rule)
    if verify is None:
        return None
    host, _ = registries.split(rule.image)
    client = registries.client_for(ctx, host)
    if client is None:  # config.cross_check refuses a rule's verify without an entry
        raise ConfigError(f"verifying signatures on {host} needs an entry in registries")
    decision = judge(client, rule, verify, ctx.config_dir, tag, digest)
    return None if decision.accepted else decision


def judge(
    client: RegistryClient,
    rule: config.Image,
    verify: config.Verify,
    config_dir: Path,
    tag: str,
    digest: str | None,
) -> policy.Decision:
    """The signature verdict on ``tag`` (``digest``: resolved from the tag when None), as a
    decision: ``accepted`` by ``signature``, or ``rejected`` with the reason as its rule."""
    _, repository = registries.split(rule.image)
    keys = _load(verify, config_dir)
    try:
        digest = digest or client.digest(repository, tag)
        if digest is None:
            verdict = signatures.Verdict("unsigned", f"{tag} is not in {client.host}/{repository}")
        else:
            found = stored.read(client, repository, digest)
            verdict = signatures.check(
                found, digest=digest, keys=keys, annotations=verify.annotations
            )
    except PermanentError as error:
        why = f"signatures of {digest or tag} could not be read: {error}"
        verdict = signatures.Verdict("signature-unreadable", why)
    candidate = str(policy.Candidate(tag, digest))
    if verdict.reason is None:
        return policy.Decision(candidate, "signature", "accepted", verdict.why)
    return policy.Decision(candidate, verdict.reason, "rejected", verdict.why)


def _load(verify: config.Verify, config_dir: Path) -> list[signatures.PublicKey]:
    pems = [secrets.resolve(ref, base=config_dir) for ref in verify.keys]
    cache_key = hashlib.sha256("\0".join(pems).encode()).hexdigest()
    keys = _keys.get(cache_key)
    if keys is None:
        keys = _keys[cache_key] = signatures.load_keys(pems)
    return keys
