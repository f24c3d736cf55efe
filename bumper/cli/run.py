"""``bumper run``: the embedded default (``make run``): Redis, web and worker on the quickstart.

Serves on ``http://127.0.0.1:8080`` (``--port`` or ``BUMPER_RUN__PORT`` override it; the old
``PORT`` works for one release); the dashboard and ``/metrics`` on ``http://127.0.0.1:8081``
(``BUMPER_RUN__OPS_PORT``), the operations listener. Run it from the checkout root: it reads
``examples/quickstart/bumper.yaml`` and keeps its state in ``.quickstart/``. Ctrl-C stops every
process it started.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXAMPLES = """\
bumper run                 # what make run does
BUMPER_RUN__PORT=9090 bumper run
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run Redis, web and worker on the quickstart (what `make run` does)"
    )
    parser.add_argument(
        "--port",
        type=int,
        help="web port on 127.0.0.1 (default: BUMPER_RUN__PORT, 8080)",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="checkout root (default .)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bumper import quickstart, settings

    wanted = settings.load_run()
    return quickstart.run(
        args.root,
        port=args.port or wanted.port,
        ops_port=wanted.ops_port,
        redis_port=wanted.redis_port,
    )
