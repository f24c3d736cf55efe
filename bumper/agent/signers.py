"""SSH allowed-signers files judged at a time the agent chooses, not at the commit's date.

git verifies an SSH-signed commit with ``ssh-keygen -Y verify -Overify-time=<committer
date>``, and the committer date is whatever the signer wrote: a key past its
``valid-before`` signs a backdated commit and is accepted. ``valid_at`` returns the file's
text as of a given time instead: the keys valid then, with their ``valid-after`` and
``valid-before`` options removed, so the date in the commit no longer matters.

Must not: run anything or read files other than the one it is given (pure text in, text out).
"""

from __future__ import annotations

import datetime as dt
import re

_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-|rsa-)")
_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')
_OPTION = re.compile(r'(?:[^,"]|"[^"]*")+')
_TIME_OPTIONS = ("valid-after", "valid-before")


def valid_at(text: str, when: float) -> str:
    """The allowed-signers ``text`` restricted to keys valid at Unix time ``when``."""
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        entry = _entry_at(stripped, when)
        if entry is not None:
            kept.append(entry)
    return "\n".join(kept) + "\n" if kept else ""


def _entry_at(line: str, when: float) -> str | None:
    tokens = _TOKEN.findall(line)
    if len(tokens) < 3 or _KEY_TYPE.match(tokens[1]):
        return line  # principals, key type, key: no options to judge
    principals, options, rest = tokens[0], _OPTION.findall(tokens[1]), tokens[2:]
    kept = []
    for option in options:
        name, _, value = option.partition("=")
        if name.lower() not in _TIME_OPTIONS:
            kept.append(option)
            continue
        at = _timestamp(value.strip('"'))
        if at is None:
            return None  # a validity this module cannot read: the key is not trusted
        if (name.lower() == "valid-after" and when < at) or (
            name.lower() == "valid-before" and when >= at
        ):
            return None
    head = [principals, ",".join(kept)] if kept else [principals]
    return " ".join([*head, *rest])


def _timestamp(value: str) -> float | None:
    """ssh-keygen's YYYYMMDD[HHMM[SS]][Z]: UTC with a Z, else the local time zone."""
    utc = value.endswith(("Z", "z"))
    digits = value[:-1] if utc else value
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if not digits.isdigit() or len(digits) not in formats:
        return None
    try:
        parsed = dt.datetime.strptime(digits, formats[len(digits)])
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC).timestamp() if utc else parsed.timestamp()
