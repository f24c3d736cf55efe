"""``bumper explain-webhook --source SOURCE [--headers FILE] [--query QUERY] [FILE|-]``: what
would Bumper make of this payload?

Parses only: no signature check, no queue, no Redis. Prints the normalised events as a JSON
array (image events: ``type``, ``image``, ``tag``, ``digest``, ``artifact``; build events:
``type``, ``status``, ``commit``, ``ref``, ``repository``, ``pipeline``, ``url``; both also
``source``, ``delivery_id`` and ``extra``). Why a delivery yields no event, or an ambiguous
one, or one whose ref the sender did not say was a branch or a tag, is printed
on stderr as ``bumper: note: ...`` lines. ``--headers`` is the request's headers, needed where
the sender routes by header (``X-GitHub-Event``, ``X-Gitlab-Event``, ``ce-*``): a JSON object
(name → value), or ``Name: value`` lines as vendors show them (a request line, curl's ``>``
prefixes and HTTP/2 pseudo-headers are skipped). ``--query`` is the webhook URL's query string
(``event=build_success``), checked as the receiver checks it. Exit 0 with the array (possibly
``[]``), 2 with one line on stderr when the input is unparseable or a file cannot be read.

Example::

    bumper explain-webhook --source quay --query event=build_success build.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bumper.errors import BumperError

IMAGE_KEYS = ("type", "image", "tag", "digest", "artifact", "source", "delivery_id", "extra")
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
bumper explain-webhook --source harbor - < examples/webhooks/harbor-push.json
bumper explain-webhook --source github \\
  --headers examples/webhooks/github-package.headers.json examples/webhooks/github-package.json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bumper.sources import SENDER_NAMES

    parser = subparsers.add_parser(
        "explain-webhook",
        help="show the events Bumper would make of a webhook payload (parse only)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--source", required=True, choices=SENDER_NAMES, help="sender name")
    parser.add_argument(
        "--headers",
        type=Path,
        help="file of request headers: a JSON object, or 'Name: value' lines",
    )
    parser.add_argument(
        "--query",
        default="",
        help="the webhook URL's query string, e.g. event=build_success",
    )
    parser.add_argument("file", nargs="?", default="-", help="payload file, or - for stdin")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bumper import sources
    from bumper.core import events

    headers = _read_headers(args.headers) if args.headers else {}
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    sender = sources.get(args.source)
    headers.update(_hint_header(sender, args.query))
    notes = _Notes()
    logger = logging.getLogger("bumper.sources")
    logger.addHandler(notes)
    previous = logger.level
    logger.setLevel(logging.INFO)
    # The reasons are shown once, as notes: not also as log lines when logging is configured.
    logger.propagate = False
    try:
        parsed = sender.parse(sources.Headers(headers), body)
    except BumperError as error:
        raise BumperError(f"cannot parse this {args.source} payload: {error}") from None
    finally:
        logger.removeHandler(notes)
        logger.setLevel(previous)
        logger.propagate = True
    delivery = sender.delivery_id(sources.Headers(headers), body)
    out: list[dict[str, Any]] = []
    for event in parsed:
        data = events.to_dict(event)
        data["source"], data["delivery_id"] = args.source, delivery
        keys = IMAGE_KEYS if data["type"] != "build.finished" else BUILD_KEYS
        out.append({key: data.get(key) for key in keys})
        found = data.get("extra")
        extra: dict[str, Any] = found if isinstance(found, dict) else {}
        if extra.get("ambiguous"):
            notes.lines.append(f"ambiguous: {extra['ambiguous']}")
        if extra.get("ref_unknown"):
            notes.lines.append(f"ref unknown: {extra['ref_unknown']}")
    for note in notes.lines:
        print(f"bumper: note: {note}", file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


MAX_HEADERS_FILE = 65_536
MAX_HEADER_LINES = 200


def _hint_header(sender: Any, query: str) -> dict[str, str]:
    """The event hint of ``--query``, checked as the receiver checks it (one line if not)."""
    from bumper import sources
    from bumper.errors import WebhookRejected

    try:
        hint = sources.hint_from_query(query.lstrip("?"))
        return {sources.EVENT_HINT_HEADER: sender.check_hint(hint)} if hint is not None else {}
    except WebhookRejected as error:
        raise BumperError(f"--query: {error}") from None


def _read_headers(path: Path) -> dict[str, str]:
    """A JSON object of headers, or the ``Name: value`` lines of a request as vendors show it."""
    raw = path.read_bytes()
    if len(raw) > MAX_HEADERS_FILE:
        raise BumperError(f"--headers {path}: larger than {MAX_HEADERS_FILE} bytes")
    text = raw.decode("utf-8", "replace")
    if text.lstrip().startswith(("{", "[")):
        return _json_headers(path, text)
    return _header_lines(path, text)


def _json_headers(path: Path, text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise BumperError(f"--headers {path}: not JSON ({error})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise BumperError(f"--headers {path}: expected a JSON object of string values")
    return data


def _header_lines(path: Path, text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.removeprefix(">").strip()
        if not line:
            if headers:
                break  # the blank line before the body
            continue
        if number == 1 and _is_request_line(line) or line.startswith(":"):
            continue  # POST /hooks/x HTTP/1.1, or an HTTP/2 pseudo-header
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise BumperError(f"--headers {path}: line {number} is not 'Name: value'")
        headers[name.strip()] = value.strip()
        if len(headers) > MAX_HEADER_LINES:
            raise BumperError(f"--headers {path}: more than {MAX_HEADER_LINES} headers")
    return headers


def _is_request_line(line: str) -> bool:
    parts = line.split()
    return len(parts) == 3 and parts[2].startswith("HTTP/") and parts[0].isupper()


class _Notes(logging.Handler):
    """Collects the parsers' 'dropped: ...' reasons to show them to the user."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().splitlines()[0][:300])
