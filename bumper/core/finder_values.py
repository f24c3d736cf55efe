"""Helm values conventions: an image split over sibling fields of one mapping (kind
``image-fields``), and the helpers every split form shares.

Forms, at any depth (names as real charts spell them):

* ``{repository, tag}`` (+ ``digest``, + ``registry``), or ``{repository, version}`` under an
  ``…image`` key (Renovate's helm-values convention);
* bitnami's ``{registry, repository, tag, digest}``, with ``global.imageRegistry`` overriding
  the registry;
* prometheus-community's ``{registry, repository, tag, sha}``: ``sha`` holds the digest's hex
  only, and the chart renders ``repository:tag@sha256:<sha>``;
* ``{name, tag}`` and ``{repo, tag}`` under an ``…image`` key;
* ``{image: repo, tag | imageTag}`` (+ ``registry``, + ``digest``).

An empty or null tag is found too: the chart then renders its ``appVersion`` (the reference's
``note`` says so), and a new tag is written in place. A value holding a placeholder
(:mod:`placeholders`) gives a *templated* reference. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from bumper.core import placeholders, refs
from bumper.core.walk import DocumentWalk, Found, Insert, PathKey, Slot
from bumper.core.yaml import scalars
from bumper.errors import InvalidReference

STR_TAG = "tag:yaml.org,2002:str"
Path = tuple[PathKey, ...]
APP_VERSION_NOTE = "empty tag: the chart's appVersion applies"
_TAG_KEYS = ("tag", "imageTag")
_DIGEST_KEYS = ("digest", "sha", "imageDigest")


def is_str(node: Any) -> bool:
    return (
        node is not None
        and node.id == "scalar"
        and node.tag == STR_TAG
        and (bool(node.style) or scalars.reads_as_string(node.value))
    )


def fields_of(node: Any) -> dict[str, Any]:
    return {k.value: v for k, v in node.value if k.id == "scalar"}


def scalar_value(node: Any) -> str:
    return str(node.value) if is_str(node) else ""


def visit(ctx: DocumentWalk, fields: dict[str, Any], path: Path) -> bool:
    """Report the split form ``fields`` holds, if any; True when one was reported."""
    parent = str(path[-1]).lower() if path else ""
    under_image = parent.endswith("image") or "image" in parent
    tag_key = "tag" if "tag" in fields else ""
    if not tag_key and under_image and "version" in fields:
        tag_key = "version"
    digests = any(key in fields for key in _DIGEST_KEYS)
    if is_str(fields.get("repository")) and (tag_key or digests or under_image):
        return _split(ctx, fields, path, "repository", tag_key=tag_key)
    if is_str(fields.get("repo")) and "tag" in fields and under_image:
        return _split(ctx, fields, path, "repo", tag_key="tag")
    if is_str(fields.get("name")) and "tag" in fields and "image" not in fields and under_image:
        return _split(ctx, fields, path, "name", tag_key="tag")
    return False


def image_with_tag(ctx: DocumentWalk, fields: dict[str, Any], path: Path, slot: Slot) -> bool:
    """``image: repo`` beside ``tag:`` / ``imageTag:`` (and ``registry:``): True if reported."""
    tag_key = next((key for key in _TAG_KEYS if key in fields), "")
    if not tag_key:
        return False
    return _split(ctx, fields, path, "image", name_slot=slot, tag_key=tag_key)


def _split(
    ctx: DocumentWalk,
    fields: dict[str, Any],
    path: Path,
    key: str,
    *,
    name_slot: Slot | None = None,
    tag_key: str = "",
) -> bool:
    name_slot = name_slot or ctx.slot(fields[key], (*path, key))
    if name_slot is None:
        return False
    registry_slot = None
    if is_str(fields.get("registry")):
        registry_slot = ctx.slot(fields["registry"], (*path, "registry"))
    registry = ""
    if "registry" in fields:  # bitnami: global.imageRegistry overrides each image's registry
        registry = _global_registry(ctx) or scalar_value(fields.get("registry"))
    name = f"{registry}/{name_slot.value}" if registry else name_slot.value
    tag_slot = ctx.slot(fields[tag_key], (*path, tag_key)) if tag_key else None
    digest_key = next((k for k in _DIGEST_KEYS if k in fields), "")
    digest_slot = ctx.slot(fields[digest_key], (*path, digest_key)) if digest_key else None
    names = (registry_slot, name_slot) if registry_slot is not None else (name_slot,)
    if placeholders.is_templated_ref(name) or (
        tag_slot is not None and placeholders.is_templated(tag_slot.value)
    ):
        add_templated(ctx, "image-fields", name, tag_slot or name_slot, names)
        return True
    try:
        ref = refs.parse(name)
    except InvalidReference:
        return False
    if ref.tag is not None or ref.digest is not None:
        return False  # "repository: repo:tag" is not the split convention
    bare = digest_key == "sha" and not (digest_slot and digest_slot.value.startswith("sha256:"))
    add_split(ctx, "image-fields", ref.name, tag_slot, digest_slot, names, digest_bare=bare)
    return True


def add_templated(
    ctx: DocumentWalk, kind: str, name: str, slot: Slot, names: tuple[Slot, ...] = ()
) -> None:
    """A reference holding a placeholder: reported with its text as written, never edited."""
    try:
        image = refs.normalize_name(name)
    except InvalidReference:
        image = name
    ctx.found.append(
        Found(image, None, None, kind, slot.line, name_slots=names or (slot,), templated=True)
    )


def add_split(
    ctx: DocumentWalk,
    kind: str,
    image: str,
    tag_slot: Slot | None,
    digest_slot: Slot | None,
    names: tuple[Slot, ...],
    *,
    digest_in_tag: bool = True,
    digest_bare: bool = False,
    inserts: tuple[Insert | None, Insert | None] = (None, None),
    note: str = "",
) -> None:
    tag = None if tag_slot is None or tag_slot.is_null else tag_slot.value
    digest = None if digest_slot is None or digest_slot.is_null else digest_slot.value or None
    if digest is not None and digest_bare:
        digest = f"sha256:{digest}"
    if tag is not None and "@" in tag and digest is None:
        tag, _, digest = tag.partition("@")
    if kind == "image-fields" and tag_slot is not None and not tag:
        note = APP_VERSION_NOTE
    ctx.found.append(
        Found(
            image,
            tag or None,
            digest,
            kind,
            (tag_slot or names[0]).line,
            tag_slot=tag_slot,
            digest_slot=digest_slot,
            name_slots=names,
            digest_in_tag=digest_in_tag and digest_slot is None,
            tag_insert=inserts[0] if tag_slot is None else None,
            digest_insert=inserts[1] if digest_slot is None else None,
            digest_bare=digest_bare,
            confidence=confidence(ctx),
            note=note,
        )
    )


# Kinds whose images sit in Helm values (a HelmRelease's spec.values, an Application's
# valuesObject, k3s' HelmChart): an image there follows the values conventions, not a schema.
VALUES_KINDS = frozenset({"HelmRelease", "Application", "ApplicationSet", "HelmChart"})


def confidence(ctx: DocumentWalk) -> str:
    """``generic`` inside a Kubernetes object of a kind with no known image locations (an
    operator's custom resource): an ``image`` key, read by its name alone."""
    if ctx.kind and ctx.api_version and ctx.kind not in VALUES_KINDS:
        return "generic"
    return "known"


def _global_registry(ctx: DocumentWalk) -> str:
    root = ctx.root
    if root is None or root.id != "mapping":
        return ""
    glob = fields_of(root).get("global")
    if glob is None or glob.id != "mapping":
        return ""
    return scalar_value(fields_of(glob).get("imageRegistry"))
