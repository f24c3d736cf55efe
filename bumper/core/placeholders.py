"""Placeholders: text that a tool substitutes before the value is an image reference.

``${VAR}`` / ``$(VAR)`` (envsubst, Kubernetes and Tekton variables), ``{{ ... }}`` (Helm and Go
templates, skaffold, Argo Workflows), ``{name}`` (Python ``str.format`` and documentation
placeholders), ``<image>`` (documentation placeholders) and, in a reference's name only,
``ko://import/path`` (ko builds the image and writes its reference) and an upper-case
component (``PROJECT_ID``, ``CONTAINER_IMAGES_REGISTRY/x``, ``REPOSITORY:TAG``: a repository
path is lower-case, so such a word is one a user replaces). A value holding one is reported
as *templated* and never edited: what it becomes is another tool's business. Pure: no I/O.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\{\{.*?\}\}|\{[^{}\s]+\}|<[^<>\s]+>")
# A name component that is a word in capitals (a tag may be upper-case: ``nginx:V1`` is valid).
_CAPITALS = re.compile(r"[A-Z][A-Z0-9_]*")
KO_PREFIX = "ko://"


def is_templated(value: str) -> bool:
    """Whether ``value`` (any part of a reference: a name, a tag) holds a placeholder."""
    return bool(_PLACEHOLDER.search(value))


def is_templated_ref(value: str) -> bool:
    """Whether ``value``, a whole reference or a name, holds a placeholder, counting the
    name-only ones (``ko://``, a component in capitals) too."""
    if is_templated(value) or value.startswith(KO_PREFIX):
        return True
    name = split_name(value)[0]
    return any(_CAPITALS.fullmatch(part) and len(part) > 1 for part in name.split("/"))


def split_name(value: str) -> tuple[str, str | None]:
    """``value`` as ``name`` and the text after the tag's ``:`` (None without one), for a
    templated reference: ``ghcr.io/acme/api:${TAG}`` → (``ghcr.io/acme/api``, ``${TAG}``)."""
    if value.startswith(KO_PREFIX):
        return value, None  # ko://host/path: the colon is the scheme's
    body = value.partition("@")[0]
    colon = body.rfind(":")
    if colon > body.rfind("/") and not body[colon - 1 : colon + 1] == "{:":
        return body[:colon], body[colon + 1 :]
    return body, None
