"""Credentials never ride inside a URL: ``inline_credentials`` says why a URL carries some.

A URL is copied into places a secret must not go: git's command line (``ps`` shows it to every
user of the host), ``.git/config``, error messages and logs. So a token or password belongs in
a credentials file, and the configs that take URLs (``bumper.core.config`` repos, the agent's
``repo_url``, ``forge_api_url`` and ``server``, ``BUMPER_REDIS_URL``) refuse one inline;
the Redis password has ``BUMPER_REDIS_PASSWORD_FILE``.

An SSH login name (``git@host:path``, ``ssh://git@host/path``) is not a secret and is allowed;
over HTTP any user-info is refused, since forges accept a token as the user name alone.
Must not: quote the URL or any part of its user-info in a message.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_SCP_LIKE = re.compile(r"^([^/@]*)@[^/]*:")


def inline_credentials(url: str) -> str | None:
    """Why ``url`` carries credentials inline ("a password", "a user name or token"), or None."""
    found = _SCHEME.match(url)
    if found is None:
        scp = _SCP_LIKE.match(url)  # user@host:path, git's scp-like syntax
        return "a password" if scp is not None and ":" in scp.group(1) else None
    scheme, authority = found.group(1).lower(), found.group(2)
    if "@" not in authority:
        return None
    userinfo = authority.rsplit("@", 1)[0]
    if ":" in userinfo:
        return "a password"
    if scheme in ("http", "https"):
        return "a user name or token"
    return None


def refuse_inline_credentials(url: str, *, instead: str) -> str:
    """``url`` unchanged, or ``ValueError`` saying what it carries and where that goes
    (``instead``, e.g. "credentials: {file: PATH}"), without quoting it."""
    carried = inline_credentials(url)
    if carried is not None:
        raise ValueError(f"the URL carries {carried} inline; remove it and use {instead}")
    return url
