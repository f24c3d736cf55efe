"""``bumper explain-policy RULE TAG... [--current REF] [--file F] [--json] [--offline]``: try a
policy.

Loads bumper.yaml, takes the image rule named ``RULE`` and decides each ``TAG`` (``tag`` or
``tag@digest``) against ``--current`` as the worker would, printing one decision per tag and
the one selected. When the rule needs signatures (``verify``), each tag's signatures are
first read from its registry (the rule's ``registries:`` entry, nothing else) and checked as
the worker checks them (``worker.verification``); a tag they refuse is not selected.
``--offline`` skips that and says so. Nothing is written anywhere. Exit 0 when a tag is
selected, 1 when none is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bumper import configfile, settings
from bumper.core import config, policy
from bumper.errors import ConfigError

EXAMPLES = """\
bumper explain-policy --file examples/bumper.yaml api 1.5.0 1.6.1 2.0.0 --current 1.4.2
bumper explain-policy --file examples/bumper.yaml --offline api 1.5.0   # no signature check
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain-policy", help="decide tags with an image rule's policy and explain each verdict"
    )
    parser.add_argument("rule", help="name of an entry of images in bumper.yaml")
    parser.add_argument("tags", nargs="+", metavar="TAG", help="candidate tag or tag@digest")
    parser.add_argument("--current", help="what the target holds now (tag or tag@digest)")
    parser.add_argument("--file", type=Path, help="bumper.yaml (default: BUMPER_CONFIG_FILE)")
    parser.add_argument("--json", action="store_true", help="print the decisions as JSON")
    parser.add_argument(
        "--offline", action="store_true", help="do not read signatures from the registry"
    )
    parser.set_defaults(func=run)


def _split(text: str) -> tuple[str, str | None]:
    tag, _, digest = text.partition("@")
    return tag, digest or None


def run(args: argparse.Namespace) -> int:
    path = Path(args.file or settings.load().config_file)
    cfg = configfile.load(path)
    rule = cfg.image(args.rule)
    if rule is None:
        known = ", ".join(i.name for i in cfg.images) or "none"
        raise ConfigError(f"no image rule named {args.rule!r} (rules: {known})")
    compiled = policy.from_config(rule.policy)
    candidates = [
        policy.Candidate(tag, digest, float(order))
        for order, (tag, digest) in enumerate(map(_split, args.tags))
    ]
    checked = _signatures(cfg, rule, candidates, path.parent, offline=args.offline)
    usable = [c for c, d in zip(candidates, checked, strict=True) if d is None or d.accepted]
    current = policy.Current(*_split(args.current)) if args.current else None
    selection = policy.select(compiled, usable, current)
    shown = [d for d in checked if d is not None] + list(selection.decisions)
    if args.json:
        best = selection.best.to_dict() if selection.best else None
        data = {"best": best, "decisions": [d.to_dict() for d in shown]}
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        for d in shown:
            print(f"{d.candidate}: {d.result} by {d.rule}: {d.why}")
        print(f"selected: {selection.best.pin if selection.best else 'nothing'}")
    return 0 if selection.best is not None else 1


def _signatures(
    cfg: config.BumperConfig,
    rule: config.Image,
    candidates: list[policy.Candidate],
    config_dir: Path,
    *,
    offline: bool,
) -> list[policy.Decision | None]:
    """Each candidate's signature decision (None: not checked), read as the worker reads it."""
    verify = cfg.verify_for(rule)
    if verify is None:
        return [None] * len(candidates)
    if offline:
        print("explain-policy: --offline: signatures (verify) not checked", file=sys.stderr)
        return [None] * len(candidates)
    from worker import registries, verification  # the worker's own check, imported on need

    host, _ = registries.split(rule.image)
    entry = cfg.registry(host)
    if entry is None:
        raise ConfigError(f"verifying signatures on {host} needs an entry in registries")
    client = registries.new_client(entry, config_dir)
    return [
        verification.judge(client, rule, verify, config_dir, c.tag or "", c.digest)
        for c in candidates
    ]
