"""``bumper explain-promotion IMAGE [--file F] [--limit N] [--json]``: where each digest of a
promoted image stands, per environment, and why.

``IMAGE`` is a pipeline's image (``ghcr.io/acme/api``; a tag or digest in it is ignored) or a
pipeline's name. For each digest (newest first): per environment, ``promoted`` (the commit or
PR, when), ``waiting`` (the gate, since when, and for a soak how long it still runs),
``blocked`` (the reason) or ``pending``. The statuses are those of the worker's last
evaluation (``bumper:promotion:<pipeline>``, written on every agent report and every tick);
nothing is written. Reads bumper.yaml (``--file``, default ``BUMPER_CONFIG_FILE``) and Redis at
``BUMPER_REDIS_URL`` (unset, the Redis of a ``make run`` running in this checkout, from
``.quickstart/redis-url``). Exit 0 when the image is in a pipeline, 1 when it is in none, 2 on
a config or Redis error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bumper import configfile
from bumper.cli import _redis
from bumper.core import config, promotion, refs
from bumper.errors import BumperError, InvalidReference

EXAMPLES = """\
bumper explain-promotion ghcr.io/acme/api
bumper explain-promotion api --limit 3      # by pipeline name, the 3 newest digests
bumper explain-promotion --file bumper.yaml ghcr.io/acme/api:1.2.0 --json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain-promotion", help="show where each digest of a pipeline's image stands, and why"
    )
    parser.add_argument("image", metavar="IMAGE", help="a pipeline's image or name")
    parser.add_argument("--file", type=Path, help="bumper.yaml (default: BUMPER_CONFIG_FILE)")
    parser.add_argument("--limit", type=_count, default=10, help="digests to show (10)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.set_defaults(func=run)


def _count(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def matching(cfg: config.BumperConfig, image: str) -> list[config.Pipeline]:
    """The pipelines of ``image`` (normalised like a pipeline's), or the one named so."""
    try:
        name = refs.parse(image).name
    except InvalidReference:
        name = None
    return [p for p in cfg.pipelines if p.image == name or p.name == image]


def run(args: argparse.Namespace) -> int:
    current = _redis.load_settings()
    cfg = configfile.load(Path(args.file or current.config_file))
    pipelines = matching(cfg, args.image)
    if not pipelines:
        known = ", ".join(f"{p.name} ({p.image})" for p in cfg.pipelines) or "none"
        print(f"bumper: {args.image} is in no pipeline (pipelines: {known})", file=sys.stderr)
        return 1
    import redis  # an extra: `bumper` starts without it

    from bumper import redisconn
    from worker.promotionstore import PromotionStore

    client = redisconn.connect(current, redisconn.Role.CLI, timeout=10)
    try:
        found = {p.name: PromotionStore(client).newest(p.name, args.limit) for p in pipelines}
    except redis.RedisError as error:
        raise BumperError(f"cannot read promotion state: {type(error).__name__}") from None
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    now = time.time()
    for pipeline in pipelines:
        print("\n".join(describe(pipeline, found[pipeline.name], now)))
    return 0


def describe(pipeline: config.Pipeline, records: list[dict[str, Any]], now: float) -> list[str]:
    """The lines for one pipeline: a heading, then per digest one line per environment."""
    lines = [f"pipeline {pipeline.name}: {pipeline.image}"]
    if not records:
        first = pipeline.environments[0]
        lines.append(f"  no digest seen yet (none reported running in {first.name})")
    width = max(len(e.name) for e in pipeline.environments)
    for record in records:
        evaluated = record.get("evaluated_at")
        checked = f", evaluated {_when(evaluated)}" if evaluated else ""
        lines.append(f"  {record.get('tag') or '?'}@{record['digest']}{checked}")
        for status in record.get("statuses") or []:
            lines.append(f"    {str(status.get('environment')):<{width}}  {_line(status, now)}")
    return lines


def _line(status: dict[str, Any], now: float) -> str:
    state = str(status.get("state"))
    text = f"{state:<8}  {status.get('detail')}"
    if status.get("since"):
        text += f", since {_when(status['since'])}"
    remaining = promotion.left(status, now)
    if remaining is not None:
        text += f", {remaining} left" if remaining != "0s" else ", soak over: next evaluation"
    return text


def _when(stamp: object) -> str:
    if not isinstance(stamp, int | float):
        return "?"
    return f"{datetime.fromtimestamp(float(stamp), UTC):%Y-%m-%dT%H:%M:%SZ}"
