"""``bumper retry ID``: queue a failed job again (the dashboard's retry button does the same).

Reads Redis at ``BUMPER_REDIS_URL`` (unset, the Redis of a ``make run`` running in this
checkout, from ``.quickstart/redis-url``). A bump job whose target already has a pending bump is not
queued twice: the pending job does the work, and the command says so. Exit 0 when the job is
queued again (or its work is pending), 2 when it is unknown, not failed, dead-lettered, or
Redis cannot be reached.
"""

from __future__ import annotations

import argparse

from bumper.cli import _redis
from bumper.errors import BumperError

EXAMPLES = """\
bumper log --jobs                    # find the failed job's id and reason
bumper retry bump-api_0-3f2a1c-7
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "retry",
        help="queue a failed job again",
    )
    parser.add_argument("job_id", metavar="ID", help="the job's id (dashboard, bumper log)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: redis and rq are extras, and `bumper` must start without them.
    import redis

    from bumper import redisconn
    from worker import retry

    config = _redis.load_settings()
    client = redisconn.connect(config, redisconn.Role.CLI, timeout=10)
    try:
        done = retry.retry(client, args.job_id, by="cli", crash_retries=config.worker.crash_retries)
    except redis.RedisError as error:
        raise BumperError(f"cannot reach Redis: {type(error).__name__}") from None
    print(done.message)
    return 0
