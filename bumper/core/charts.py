"""Helm chart identity: which chart a reference or a rule means, and what a version is.

A chart lives in a *repository*: an OCI registry path (``oci://ghcr.io/acme/charts``, the
chart ``podinfo`` is then the registry repository ``ghcr.io/acme/charts/podinfo``) or a
classic Helm repository, a URL serving ``index.yaml`` (``https://charts.bitnami.com/bitnami``).
:func:`normalize_repository` spells both one way; :func:`key` is the one string that names a
chart: for an OCI chart its registry repository (what registry webhooks and the tags list
name, normalised as image names are), for a classic chart ``<repository URL>/<name>``, and
for a reference whose repository the file does not say, the bare chart name.

A chart version is a SemVer 2 version (Helm requires one). :func:`is_exact` tells a version
from a range (``6.5.x``, ``^6``, ``>=1.0 <2``, ``*``), which Flux and Helm resolve
themselves: ranges are reported, never edited. Pure: no I/O.
"""

from __future__ import annotations

import re

from bumper.core import refs
from bumper.errors import InvalidReference

OCI = "oci://"
_EXACT = re.compile(r"v?[0-9]+(?:\.[0-9]+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")
_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?", re.IGNORECASE)


def is_oci(repository: str | None) -> bool:
    return bool(repository) and str(repository).startswith(OCI)


def normalize_repository(url: str, *, oci: bool = False) -> str:
    """A repository spelled one way: no trailing ``/``, OCI ones with ``oci://`` (``oci``: the
    source says OCI though the URL has no scheme, as Argo CD and helmfile write it)."""
    url = url.strip().rstrip("/")
    if url.startswith(OCI):
        return OCI + url[len(OCI) :].lower()
    if oci or "://" not in url:
        return OCI + url.lower()
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def split_oci(url: str) -> tuple[str, str]:
    """``oci://ghcr.io/acme/charts/podinfo`` → (``oci://ghcr.io/acme/charts``, ``podinfo``)."""
    base, _, name = normalize_repository(url, oci=True).rpartition("/")
    return base, name


def key(repository: str | None, chart: str) -> str:
    """The one string naming ``chart`` in ``repository`` (None: a repository not known)."""
    if not repository:
        return chart
    if is_oci(repository):
        path = f"{repository[len(OCI) :]}/{chart}"
        try:
            return refs.normalize_name(path)
        except InvalidReference:
            return path
    return f"{repository}/{chart}"


def oci_key(url: str) -> str:
    """The key of a whole OCI chart URL (``oci://host/path/name``)."""
    base, name = split_oci(url)
    return key(base, name)


def is_exact(version: str) -> bool:
    """Whether ``version`` names one version (not a range Flux or Helm resolves)."""
    return bool(_EXACT.fullmatch(version))


def validate_version(version: str) -> str:
    """``version`` if it can be written as a chart version, else :class:`InvalidReference`."""
    if not _VERSION.fullmatch(version):
        raise InvalidReference(f"{version[:80]!r} is not a chart version such as 6.5.0")
    return version


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidReference(f"{name[:80]!r} is not a chart name such as podinfo")
    return name
