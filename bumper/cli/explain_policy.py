"""``bumper explain-policy RULE TAG... [--current REF] [--file F] [--json]``: try a policy offline.

Loads bumper.yaml, takes the image rule named ``RULE`` and decides each ``TAG`` (``tag`` or
``tag@digest``) against ``--current`` as the worker would, printing one decision per tag and
the one selected. Nothing is written anywhere. Exit 0 when a tag is selected, 1 when none is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bumper import configfile, settings
from bumper.core import policy
from bumper.errors import ConfigError

EXAMPLES = """\
bumper explain-policy --file examples/bumper.yaml api 1.5.0 1.6.1 2.0.0 --current 1.4.2
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
    parser.set_defaults(func=run)


def _split(text: str) -> tuple[str, str | None]:
    tag, _, digest = text.partition("@")
    return tag, digest or None


def run(args: argparse.Namespace) -> int:
    cfg = configfile.load(args.file or settings.load().config_file)
    rule = cfg.image(args.rule)
    if rule is None:
        known = ", ".join(i.name for i in cfg.images) or "none"
        raise ConfigError(f"no image rule named {args.rule!r} (rules: {known})")
    compiled = policy.from_config(rule.policy)
    candidates = [
        policy.Candidate(tag, digest, float(order))
        for order, (tag, digest) in enumerate(map(_split, args.tags))
    ]
    current = policy.Current(*_split(args.current)) if args.current else None
    selection = policy.select(compiled, candidates, current)
    if args.json:
        best = selection.best.to_dict() if selection.best else None
        data = {"best": best, "decisions": [d.to_dict() for d in selection.decisions]}
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        for d in selection.decisions:
            print(f"{d.candidate}: {d.result} by {d.rule}: {d.why}")
        print(f"selected: {selection.best.pin if selection.best else 'nothing'}")
    return 0 if selection.best is not None else 1
