"""``bumper log [--image X] [--limit N] [--json] [--jobs]``: show recent policy decisions, newest
first, then the jobs waiting to retry (next run, time, reason) and the failed ones (reason).

Reads the decision log and RQ's registries in Redis (``BUMPER_REDIS_URL``; unset, the Redis
of a ``make run`` running in this checkout, from ``.quickstart/redis-url``). ``--image`` takes an
image name (``nginx``, ``ghcr.io/acme/api``) or the name of an image rule in bumper.yaml, and
shows decisions only. ``--jobs`` shows the jobs only. ``--json`` prints a JSON array of entries
(decisions: keys as in :mod:`bumper.decisions`; with ``--jobs``: as in :mod:`bumper.jobstates`).
Exit 1 when nothing matches, 2 when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bumper.cli import _redis
from bumper.errors import BumperError

EXAMPLES = """\
bumper log                           # newest 20 decisions (make run's Redis found by itself)
bumper log --image hello --limit 5
BUMPER_REDIS_URL=redis://redis:6379/0 bumper log --json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("log", help="show recent policy decisions (newest first)")
    parser.add_argument("--image", help="image name or image rule name")
    parser.add_argument("--limit", type=count, default=20, help="entries to show (20)")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument(
        "--jobs", action="store_true", help="show only retrying and failed jobs, with reasons"
    )
    parser.set_defaults(func=run)


def count(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def run(args: argparse.Namespace) -> int:
    # Imported here: redis is an extra, and `bumper` must start without it.
    import redis

    from bumper import decisions, jobstates, redisconn

    config = _redis.load_settings()
    client = redisconn.connect(config, redisconn.Role.CLI, timeout=10)
    log = decisions.DecisionLog(client, limits=config.decisions)
    try:
        entries = [] if args.jobs else log.recent(image=args.image, limit=args.limit)
        jobs = (
            []
            if args.image
            else jobstates.troubled(log.client, config.queue_name, limit=args.limit)
        )
    except redis.RedisError as error:
        where = _redacted(config.redis_url)
        raise BumperError(
            f"cannot read the decision log at {where}: {type(error).__name__}"
        ) from None
    if args.jobs:
        return _show_jobs(jobs, as_json=args.json)
    if args.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
    else:
        for entry in entries:
            print(format_entry(entry))
        for job in jobs:
            print(job.line())
    if not entries and not jobs:
        what = f" for {args.image}" if args.image else ""
        print(f"no decisions logged{what}", file=sys.stderr)
        return 1
    return 0


def _show_jobs(jobs: list[Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps([job.as_dict() for job in jobs], indent=2, sort_keys=True))
    else:
        for job in jobs:
            print(job.line())
    if not jobs:
        print("no retrying or failed jobs", file=sys.stderr)
        return 1
    return 0


def format_entry(entry: dict[str, Any]) -> str:
    """One line: time, image (rule), candidate, result, rule, why."""
    when = datetime.fromtimestamp(float(entry.get("time") or 0), UTC)
    image = str(entry.get("image") or "?")
    if entry.get("rule_name"):
        image += f" ({entry['rule_name']})"
    current = f" (current {entry['current']})" if entry.get("current") else ""
    source = f" [{entry['source']} {entry.get('delivery_id') or ''}]".rstrip()
    if not entry.get("source"):
        source = ""
    return (
        f"{when:%Y-%m-%dT%H:%M:%SZ} {image} {entry.get('candidate')}{current} "
        f"{str(entry.get('result', '?')).upper()} by {entry.get('rule')}: {entry.get('why')}"
        f"{source}"
    )


def _redacted(url: str) -> str:
    """host:port/db of a Redis URL, without any password in it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}:{parts.port or ''}{parts.path}"
