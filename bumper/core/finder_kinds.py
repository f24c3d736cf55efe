"""The location kinds the finder recognises, by walking one composed YAML document.

Kinds (the ``kind`` of a :class:`finder.Found`):

* ``pod-container``: ``image`` of an item of ``containers`` / ``initContainers`` /
  ``ephemeralContainers``, wherever a pod spec sits (every workload kind, CronJob, Argo
  Rollouts, Knative, OpenShift DeploymentConfig... recognised by shape, not by kind).
* ``compose-service``: ``services.<name>.image`` in a docker-compose file.
* ``image-string``: any other ``image: repo[:tag][@digest]`` string (Helm values, CRDs).
* ``image-fields``: split fields at any depth: ``{repository, tag, digest}``, bitnami's
  ``{registry, repository, tag, digest}`` (with ``global.imageRegistry`` overriding the
  registry), ``{name, tag}`` and ``{repo, tag}`` under an ``image``-named key,
  ``{image: repo, tag}``.
* ``kustomize-images``: ``images:`` entries with ``name`` / ``newName`` / ``newTag`` /
  ``digest`` (kustomization.yaml, Flux Kustomization ``spec.images``).
* ``argocd-kustomize-images``: Argo CD ``kustomize.images`` strings (``[old=]new[:tag]``).
* ``argocd-helm-parameters``: Argo CD ``helm.parameters`` name/value pairs, grouped by prefix
  (``image.repository`` + ``image.tag`` + ``image.digest``, or ``image`` alone).
* Argo CD ``helm.values`` and ConfigMap ``data`` entries named ``*.yaml`` / ``*.yml`` are
  literal block strings scanned as YAML of their own (see ``yaml.blocks``).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from bumper.core import refs
from bumper.core.walk import DocumentWalk, Found, Insert, PathKey, Slot
from bumper.core.yaml import blocks, scalars
from bumper.errors import InvalidReference

STR_TAG = "tag:yaml.org,2002:str"
CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
Path = tuple[PathKey, ...]


# A mapping is looked at closely only if it has one of these keys or sits under one of
# these parents; most mappings of a manifest have neither, and the walk stays cheap.
_TRIGGER_KEYS = frozenset({"image", "repository", "repo", "name"})
_TRIGGER_PARENTS = frozenset({"kustomize", "helm", "data"})
YAML_SUFFIXES = (".yaml", ".yml")


def walk_document(ctx: DocumentWalk) -> None:
    seen: set[int] = set()
    stack: list[tuple[Any, Path]] = [(ctx.root, ())]
    markers = ctx.markers
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue  # an alias: its anchor was visited, and is edited once
        seen.add(id(node))
        kind = node.id
        if kind == "mapping":
            fields = {k.value: v for k, v in node.value if k.id == "scalar"}
            if (
                markers
                or not _TRIGGER_KEYS.isdisjoint(fields)
                or (path and path[-1] in _TRIGGER_PARENTS)
            ):
                _visit_mapping(ctx, fields, path)
            for key, value in reversed(node.value):  # not `fields`: keep duplicate keys' values
                if value.id != "scalar":
                    stack.append((value, (*path, key.value if key.id == "scalar" else "?")))
        elif kind == "sequence":
            items = node.value
            if markers or (path and path[-1] == "images"):
                _visit_sequence(ctx, node, path)
            for index in range(len(items) - 1, -1, -1):
                if items[index].id != "scalar":
                    stack.append((items[index], (*path, index)))


def _fields(node: Any) -> dict[str, Any]:
    return {k.value: v for k, v in node.value if k.id == "scalar"}


def _is_str(node: Any) -> bool:
    return (
        node is not None
        and node.id == "scalar"
        and node.tag == STR_TAG
        and (bool(node.style) or scalars.reads_as_string(node.value))
    )


def _visit_mapping(ctx: DocumentWalk, fields: dict[str, Any], path: Path) -> None:
    _index_scalars(ctx, fields, path)
    parent = str(path[-1]) if path else ""
    image = fields.get("image")
    if _is_str(image):
        _image_string(ctx, fields, path)
    if _is_str(fields.get("repository")) and (
        "tag" in fields or "digest" in fields or "image" in parent.lower()
    ):
        _split(ctx, fields, path, fields["repository"], "repository")
    elif _is_str(fields.get("repo")) and "tag" in fields and "image" in parent.lower():
        _split(ctx, fields, path, fields["repo"], "repo")
    elif (
        _is_str(fields.get("name"))
        and "tag" in fields
        and "image" not in fields
        and "image" in parent.lower()
    ):
        _split(ctx, fields, path, fields["name"], "name")
    if parent == "kustomize" and _seq(fields.get("images")):
        _argocd_kustomize_images(ctx, fields["images"], (*path, "images"))
    if parent == "helm":
        if _seq(fields.get("parameters")):
            _argocd_parameters(ctx, fields["parameters"], (*path, "parameters"))
        values = fields.get("values")
        if _is_str(values):
            blocks.scan_block(ctx, values, (*path, "values"), walk_document)
    if parent == "data":  # ConfigMap files: `config.yaml: |` holds YAML of its own
        for key, value in fields.items():
            if key.endswith(YAML_SUFFIXES) and _is_str(value):
                blocks.scan_block(ctx, value, (*path, key), walk_document)


def _visit_sequence(ctx: DocumentWalk, node: Any, path: Path) -> None:
    if ctx.markers:
        _index_scalars(ctx, dict(enumerate(node.value)), path)
    if not path or path[-1] != "images":
        return
    for index, item in enumerate(node.value):
        if item.id == "mapping":
            fields = _fields(item)
            if _is_str(fields.get("name")) and ({"newTag", "newName", "digest"} & fields.keys()):
                _kustomize_image(ctx, item, (*path, index))


def _seq(node: Any) -> bool:
    return node is not None and node.id == "sequence"


def _index_scalars(ctx: DocumentWalk, fields: dict[Any, Any], path: Path) -> None:
    """Remember value scalars by line, for marker comments."""
    if not ctx.markers:
        return
    for key, value in fields.items():
        if value.id == "scalar":
            slot = ctx.slot(value, (*path, key))
            if slot is not None:
                ctx.scalars_by_line.setdefault(slot.line, []).append(slot)


def _image_string(ctx: DocumentWalk, fields: dict[str, Any], path: Path) -> None:
    slot = ctx.slot(fields["image"], (*path, "image"))
    if slot is None:
        return
    try:
        ref = refs.parse(slot.value)
    except InvalidReference:
        return
    tag_node = fields.get("tag", fields.get("imageTag"))
    if ref.tag is None and ref.digest is None and tag_node is not None:
        tag_key = "tag" if "tag" in fields else "imageTag"
        tag_slot = ctx.slot(tag_node, (*path, tag_key))
        if tag_slot is not None:
            _add_split(ctx, "image-fields", ref.name, tag_slot, None, (slot,))
        return
    ctx.found.append(
        Found(ref.name, ref.tag, ref.digest, _string_kind(ctx, path), slot.line, ref_slot=slot)
    )


def _string_kind(ctx: DocumentWalk, path: Path) -> str:
    if len(path) >= 2 and path[-2] in CONTAINER_LISTS:
        return "pod-container"
    if len(path) == 2 and path[0] == "services" and ctx.remap is None:
        return "compose-service"
    return "image-string"


def _split(ctx: DocumentWalk, fields: dict[str, Any], path: Path, name_node: Any, key: str) -> None:
    name_slot = ctx.slot(name_node, (*path, key))
    if name_slot is None:
        return
    # bitnami convention: global.imageRegistry overrides an image's own `registry` field.
    registry = ""
    if "registry" in fields:
        registry = _global_registry(ctx) or _scalar_value(fields.get("registry"))
    name = f"{registry}/{name_slot.value}" if registry else name_slot.value
    try:
        ref = refs.parse(name)
    except InvalidReference:
        return
    if ref.tag is not None or ref.digest is not None:
        return  # "repository: repo:tag" is not the split convention
    tag_slot = ctx.slot(fields["tag"], (*path, "tag")) if "tag" in fields else None
    digest_slot = ctx.slot(fields["digest"], (*path, "digest")) if "digest" in fields else None
    names: tuple[Slot, ...] = (name_slot,)
    if _is_str(fields.get("registry")):
        registry_slot = ctx.slot(fields["registry"], (*path, "registry"))
        names = (registry_slot, name_slot) if registry_slot else names
    _add_split(ctx, "image-fields", ref.name, tag_slot, digest_slot, names)


def _add_split(
    ctx: DocumentWalk,
    kind: str,
    image: str,
    tag_slot: Slot | None,
    digest_slot: Slot | None,
    names: tuple[Slot, ...],
    *,
    digest_in_tag: bool = True,
    inserts: tuple[Insert | None, Insert | None] = (None, None),
) -> None:
    tag = None if tag_slot is None or tag_slot.is_null else tag_slot.value
    digest = None if digest_slot is None or digest_slot.is_null else digest_slot.value or None
    if tag is not None and "@" in tag and digest is None:
        tag, _, digest = tag.partition("@")
    line = (tag_slot or names[0]).line
    ctx.found.append(
        Found(
            image,
            tag or None,
            digest,
            kind,
            line,
            tag_slot=tag_slot,
            digest_slot=digest_slot,
            name_slots=names,
            digest_in_tag=digest_in_tag and digest_slot is None,
            tag_insert=inserts[0] if tag_slot is None else None,
            digest_insert=inserts[1] if digest_slot is None else None,
        )
    )


def _global_registry(ctx: DocumentWalk) -> str:
    root = ctx.root
    if root is None or root.id != "mapping":
        return ""
    glob = _fields(root).get("global")
    if glob is None or glob.id != "mapping":
        return ""
    return _scalar_value(_fields(glob).get("imageRegistry"))


def _scalar_value(node: Any) -> str:
    return str(node.value) if _is_str(node) else ""


def _kustomize_image(ctx: DocumentWalk, node: Any, path: Path) -> None:
    fields = _fields(node)
    name_key = "newName" if _is_str(fields.get("newName")) else "name"
    name_slot = ctx.slot(fields[name_key], (*path, name_key))
    if name_slot is None:
        return
    try:
        image = refs.parse(name_slot.value).name
    except InvalidReference:
        return
    tag_slot = ctx.slot(fields["newTag"], (*path, "newTag")) if "newTag" in fields else None
    digest_node = fields.get("digest")
    digest_slot = ctx.slot(digest_node, (*path, "digest")) if digest_node is not None else None
    _add_split(
        ctx,
        "kustomize-images",
        image,
        tag_slot,
        digest_slot,
        (name_slot,),
        digest_in_tag=False,
        inserts=(_insert_key(ctx, node, "newTag"), _insert_key(ctx, node, "digest")),
    )


def _insert_key(ctx: DocumentWalk, node: Any, key: str) -> Insert | None:
    """Where ``key: value`` can be added to mapping ``node`` (after its last one-line value)."""
    if ctx.remap is not None or not node.value:
        return None
    text = ctx.text
    if node.flow_style:
        close = node.end_mark.index - 1
        return Insert(close + ctx.offset, f", {key}: ", "") if text[close] == "}" else None
    last_value = node.value[-1][1]
    if last_value.id != "scalar" or ctx.slot(last_value, ()) is None:
        return None
    indent = " " * node.value[0][0].start_mark.column
    eol = text.find("\n", last_value.end_mark.index)
    if eol == -1:
        return Insert(len(text) + ctx.offset, f"\n{indent}{key}: ", "")
    newline = "\r\n" if text[eol - 1 : eol] == "\r" else "\n"
    return Insert(eol + 1 + ctx.offset, f"{indent}{key}: ", newline)


def _argocd_kustomize_images(ctx: DocumentWalk, node: Any, path: Path) -> None:
    for index, item in enumerate(node.value):
        slot = ctx.slot(item, (*path, index)) if _is_str(item) else None
        if slot is None:
            continue
        offset = slot.value.find("=") + 1
        try:
            ref = refs.parse(slot.value[offset:])
        except InvalidReference:
            continue
        ctx.found.append(
            Found(
                ref.name,
                ref.tag,
                ref.digest,
                "argocd-kustomize-images",
                slot.line,
                ref_slot=slot,
                ref_offset=offset,
            )
        )


def _argocd_parameters(ctx: DocumentWalk, node: Any, path: Path) -> None:
    """Group ``{name: x.repository|x.tag|x.digest|x.registry|x.image, value}`` by prefix ``x``."""
    groups: dict[str, dict[str, Slot]] = {}
    for index, item in enumerate(node.value):
        if item.id != "mapping":
            continue
        fields = _fields(item)
        name, value = _scalar_value(fields.get("name")), fields.get("value")
        if not name or value is None:
            continue
        prefix, _, field = name.rpartition(".")
        slot = ctx.slot(value, (*path, index, "value"))
        if slot is not None:
            groups.setdefault(prefix if field != "image" else name, {})[field] = slot
    for group in groups.values():
        _parameter_group(ctx, group)


def _parameter_group(ctx: DocumentWalk, group: dict[str, Slot]) -> None:
    kind = "argocd-helm-parameters"
    whole = group.get("image")
    if whole is not None and "repository" not in group:
        try:
            ref = refs.parse(whole.value)
        except InvalidReference:
            return
        ctx.found.append(Found(ref.name, ref.tag, ref.digest, kind, whole.line, ref_slot=whole))
        return
    repo = group.get("repository") or group.get("image")
    if repo is None:
        return
    registry = group.get("registry")
    name = f"{registry.value}/{repo.value}" if registry and registry.value else repo.value
    try:
        ref = refs.parse_name(name)
    except InvalidReference:
        return
    names = (registry, repo) if registry else (repo,)
    _add_split(ctx, kind, ref.name, group.get("tag"), group.get("digest"), names)
