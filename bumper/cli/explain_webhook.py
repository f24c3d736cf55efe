"""``bumper explain-webhook --source SOURCE [--headers FILE] [FILE|-]``: what would Bumper make
of this payload?

Parses only: no signature check, no queue, no Redis. Prints the normalised events as a JSON
array (image events: ``type``, ``image``, ``tag``, ``digest``; build events: ``type``,
``status``, ``commit``, ``ref``, ``repository``, ``pipeline``, ``url``; both also ``source``,
``delivery_id`` and ``extra``). Why a delivery yields no event is printed on stderr as
``bumper: note: ...`` lines. ``--headers`` is a JSON object of request headers (name → value),
needed where the sender routes by header (``X-GitHub-Event``, ``X-Gitlab-Event``, ``ce-*``).
Exit 0 with the array (possibly ``[]``), 2 with one line on stderr when the input is
unparseable or a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bumper.errors import BumperError

IMAGE_KEYS = ("type", "image", "tag", "digest", "source", "delivery_id", "extra")
BUILD_KEYS = (
    "type",
    "status",
    "commit",
    "ref",
    "repository",
    "pipeline",
    "url",
    "source",
    "delivery_id",
    "extra",
)

EXAMPLES = """\
bumper explain-webhook --source harbor - < payload.json
bumper explain-webhook --source github --headers headers.json payload.json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bumper.sources import SENDER_NAMES

    parser = subparsers.add_parser(
        "explain-webhook",
        help="show the events Bumper would make of a webhook payload (parse only)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--source", required=True, choices=SENDER_NAMES, help="sender name")
    parser.add_argument("--headers", type=Path, help="JSON file of request headers")
    parser.add_argument("file", nargs="?", default="-", help="payload file, or - for stdin")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bumper import sources
    from bumper.core import events

    headers = _read_headers(args.headers) if args.headers else {}
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    sender = sources.get(args.source)
    notes = _Notes()
    logger = logging.getLogger("bumper.sources")
    logger.addHandler(notes)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        parsed = sender.parse(sources.Headers(headers), body)
    except BumperError as error:
        raise BumperError(f"cannot parse this {args.source} payload: {error}") from None
    finally:
        logger.removeHandler(notes)
        logger.setLevel(previous)
    delivery = sender.delivery_id(sources.Headers(headers), body)
    out: list[dict[str, Any]] = []
    for event in parsed:
        data = events.to_dict(event)
        data["source"], data["delivery_id"] = args.source, delivery
        keys = IMAGE_KEYS if data["type"] != "build.finished" else BUILD_KEYS
        out.append({key: data.get(key) for key in keys})
    for note in notes.lines:
        print(f"bumper: note: {note}", file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


def _read_headers(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise BumperError(f"--headers {path}: not JSON ({error})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise BumperError(f"--headers {path}: expected a JSON object of string values")
    return data


class _Notes(logging.Handler):
    """Collects the parsers' 'dropped: ...' reasons to show them to the user."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().splitlines()[0][:300])
