"""How long a shared secret must be: one rule for receivers' secrets, the agents' report tokens
and the agent's own webhook secret (issue 13, item 11).

A blank secret, or one under ``MIN_SECRET_BYTES`` once surrounding blanks are cut, is a
``ConfigError`` at start. Messages say what the secret is for and how long it was, never the
value. Pure: callers read the secret and name where it came from.
"""

from __future__ import annotations

from bumper.errors import ConfigError

MIN_SECRET_BYTES = 16
"""The shortest shared secret accepted (16 bytes, as Standard Webhooks asks)."""


def check(material: str | bytes, what: str) -> None:
    """``ConfigError`` (reason ``secret``) when ``material`` is blank or too short.

    Text is counted without surrounding blanks; bytes (a decoded binary key) as they are."""
    raw = material.strip().encode("utf-8") if isinstance(material, str) else material
    if not raw:
        raise ConfigError(f"the {what} is empty or blank", reason="secret")
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the {what} is too short: {len(raw)} bytes, at least {MIN_SECRET_BYTES} are "
            "required (generate one with `openssl rand -hex 32`)",
            reason="secret",
        )
