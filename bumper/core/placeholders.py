"""Placeholders: text that a tool substitutes before the value is an image reference.

``${VAR}`` / ``$(VAR)`` (envsubst, Kubernetes and Tekton variables), ``{{ ... }}`` (Helm and Go
templates, skaffold, Argo Workflows) and ``<image>`` (documentation placeholders). A value
holding one is reported as *templated* and never edited: what it becomes is another tool's
business. Pure: no I/O.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\{\{.*?\}\}|<[^<>\s]+>")


def is_templated(value: str) -> bool:
    """Whether ``value`` holds a placeholder."""
    return bool(_PLACEHOLDER.search(value))


def split_name(value: str) -> tuple[str, str | None]:
    """``value`` as ``name`` and the text after the tag's ``:`` (None without one), for a
    templated reference: ``ghcr.io/acme/api:${TAG}`` → (``ghcr.io/acme/api``, ``${TAG}``)."""
    body = value.partition("@")[0]
    colon = body.rfind(":")
    if colon > body.rfind("/") and not body[colon - 1 : colon + 1] == "{:":
        return body[:colon], body[colon + 1 :]
    return body, None
