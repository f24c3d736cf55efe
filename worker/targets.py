"""Target keys: ``<rule>/<index>`` names one ``targets[]`` entry of one rule in bumper.yaml.

A key is what the queue and the store carry (it survives a worker restart); ``resolve`` turns
it back into the rule, target and repo it names, once per bump job, as one ``ResolvedTarget``
that the bump, its PR and its push deploy share.
"""

from __future__ import annotations

from dataclasses import dataclass

from bumper.core import config
from bumper.errors import PermanentError


@dataclass(frozen=True)
class ResolvedTarget:
    """One target of one rule, with the repo it lives in."""

    key: str  # ``<rule>/<index>``, e.g. ``api/0``
    rule: config.Image
    target: config.Target
    repo: config.Repo


def target_key(rule: config.Image, index: int) -> str:
    return f"{rule.name}/{index}"


def resolve(cfg: config.BumperConfig, key: str) -> ResolvedTarget:
    """What ``key`` names in ``cfg``; ``PermanentError`` when the config no longer has it."""
    name, _, index = key.rpartition("/")
    rule = cfg.image(name)
    if rule is None or not index.isdigit() or int(index) >= len(rule.targets):
        raise PermanentError(f"target {key!r} is no longer in bumper.yaml", reason="stale-target")
    target = rule.targets[int(index)]
    repo = cfg.repo(target.repo)
    if repo is None:
        raise PermanentError(f"repo {target.repo!r} is not in bumper.yaml", reason="config")
    return ResolvedTarget(key, rule, target, repo)
