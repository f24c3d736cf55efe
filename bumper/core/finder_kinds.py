"""The location kinds the finder recognises, by walking one composed YAML document.

Kinds (the ``kind`` of a :class:`finder.Found`):

* ``pod-container``: ``image`` of an item of ``containers`` / ``initContainers`` /
  ``ephemeralContainers``, wherever a pod spec sits (every workload kind, CronJob, Argo
  Rollouts, Knative, OpenShift DeploymentConfig... recognised by shape, not by kind).
* ``compose-service``: ``services.<name>.image`` in a docker-compose file.
* ``image-string``: any other ``image: repo[:tag][@digest]`` string (Helm values, CRDs), or
  a ``…Image`` key's string holding a tag, digest or path (``kubectlImage: bitnami/kubectl:1``);
  a folded or literal block holding one line (``image: >-``) too, and an ``"image"``
  member of JSON text in a multi-line quoted string (:mod:`finder_quoted`).
* ``image-fields``: split fields at any depth, see :mod:`finder_values`.
* ``kustomize-images``: ``images:`` entries with ``name`` / ``newName`` / ``newTag`` /
  ``digest`` / ``tagSuffix``, or ``name`` alone in a kustomization (kustomization.yaml,
  Flux Kustomization ``spec.images``).
* ``json-patch``: a JSON patch operation ``{op: add|replace, path: …/image, value}``.
* ``argocd-kustomize-images``: Argo CD ``kustomize.images`` strings (``[old=]new[:tag]``).
* ``argocd-helm-parameters``: Argo CD ``helm.parameters`` name/value pairs, grouped by prefix
  (``image.repository`` + ``image.tag`` + ``image.digest``, or ``image`` alone).
* Argo CD ``helm.values``, ConfigMap ``data`` entries named ``*.yaml`` / ``*.yml`` /
  ``*.json``, and patches held as text (``patch``, ``patchesJson6902``,
  ``patchStrategicMerge``, ``patchesStrategicMerge`` items, k3s ``valuesContent``) are
  literal block strings scanned as YAML (or JSON) of their own (see ``yaml.blocks``).

Not images, by their schema: skaffold's ``build.artifacts[].image`` / ``test[].image``
(artifact names) and a Ceph ``rbd`` volume's ``image``. Every reference's ``confidence`` is
``known``, or ``generic`` for an ``image`` key in a Kubernetes kind with no known image
locations (``finder_values.confidence``). A mapping with a duplicate key gives a warning,
and each of the duplicated values is looked at: the first one is stale but still read by
some tools.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from bumper.core import finder_quoted, finder_values, placeholders, refs
from bumper.core.finder_values import add_split, add_templated, fields_of, is_str, scalar_value
from bumper.core.walk import DocumentWalk, Found, Insert, PathKey, Slot
from bumper.core.yaml import blocks
from bumper.errors import InvalidReference

CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
Path = tuple[PathKey, ...]


# A mapping is looked at closely only if it has one of these keys, a key ending in "image",
# or sits under one of these parents; most mappings of a manifest have none, and the walk
# stays cheap.
EMBEDDED_KEYS = frozenset({"patch", "patchesJson6902", "patchStrategicMerge", "valuesContent"})
_TRIGGER_KEYS = frozenset({"image", "repository", "repo", "name", "op"}) | EMBEDDED_KEYS
_TRIGGER_PARENTS = frozenset({"kustomize", "helm", "data"})
_SEQUENCE_PARENTS = frozenset({"images", "patchesStrategicMerge"})
YAML_SUFFIXES = (".yaml", ".yml", ".json")
# Parents whose ``image`` is not a container image: a Ceph RBD volume's image name.
NOT_IMAGE_PARENTS = frozenset({"rbd"})
# skaffold: the lists whose items name build artifacts (``image`` is an artifact's name).
SKAFFOLD_ARTIFACT_LISTS = frozenset({"artifacts", "test", "requires"})


def walk_document(ctx: DocumentWalk) -> None:
    seen: set[int] = set()
    stack: list[tuple[Any, Path]] = [(ctx.root, ())]
    markers = ctx.markers
    skaffold = ctx.api_version.startswith("skaffold/") or _skaffold_shape(ctx)
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue  # an alias: its anchor was visited, and is edited once
        seen.add(id(node))
        kind = node.id
        if kind == "mapping":
            fields = {k.value: v for k, v in node.value if k.id == "scalar"}
            if len(fields) != len(node.value):
                _duplicates(ctx, node, fields, path)
            if (
                markers
                or not _TRIGGER_KEYS.isdisjoint(fields)
                or (path and path[-1] in _TRIGGER_PARENTS)
                or any(key[-5:].lower() == "image" for key in fields)
            ) and not _not_an_image(path, skaffold):
                _visit_mapping(ctx, fields, path)
            for key, value in reversed(node.value):  # not `fields`: keep duplicate keys' values
                name = key.value if key.id == "scalar" else "?"
                if value.id != "scalar":
                    stack.append((value, (*path, name)))
                elif value.style == "|" and "image:" in value.value and "ontainers:" in value.value:
                    _other_block(ctx, value, (*path, name))
                elif value.style and finder_quoted.holds_json(value):
                    finder_quoted.find(ctx, value, (*path, name))
                elif "@sha256:" in value.value:
                    _pinned(ctx, value, (*path, name))
        elif kind == "sequence":
            items = node.value
            if markers or (path and path[-1] in _SEQUENCE_PARENTS):
                _visit_sequence(ctx, node, path)
            for index in range(len(items) - 1, -1, -1):
                if items[index].id != "scalar":
                    stack.append((items[index], (*path, index)))
                elif "@sha256:" in items[index].value:
                    _pinned(ctx, items[index], (*path, index))


PINNED_NOTE = "a digest-pinned reference, found by its shape"


def _pinned(ctx: DocumentWalk, node: Any, path: Path) -> None:
    """A string that is a whole digest-pinned reference (``repo[:tag]@sha256:…``) under any
    key or in any list (Knative's image ConfigMap, an env value, a Tekton param or arg): a
    reference by its shape alone (confidence ``generic``). A reference a known location
    holds is reported there first, and this one is dropped as a duplicate. It is edited only
    by a bump that brings a digest: without one it would no longer have the shape it was
    found by (``Found.pinned``)."""
    if not is_str(node) or any(c.isspace() for c in node.value):
        return
    slot = ctx.slot(node, path)
    if slot is None:
        return
    try:
        ref = refs.parse(slot.value)
    except InvalidReference:
        return
    if ref.digest is None:
        return
    ctx.found.append(
        Found(
            ref.name,
            ref.tag,
            ref.digest,
            "image-string",
            slot.line,
            ref_slot=slot,
            confidence="generic",
            note=PINNED_NOTE,
            pinned=True,
        )
    )


def _other_block(ctx: DocumentWalk, node: Any, path: Path) -> None:
    """A literal block under any other key that holds a container list with an ``image:``
    (an injector's pod template, a test fixture's manifest): scanned as YAML when it is YAML,
    line by line when it is a template. Prose that merely mentions ``image:`` is left alone."""
    parent, key = (str(path[-2]) if len(path) > 1 else ""), str(path[-1])
    if key in EMBEDDED_KEYS or (parent, key) == ("helm", "values"):
        return  # scanned by _visit_mapping
    if parent == "data" and key.endswith(YAML_SUFFIXES):
        return
    blocks.scan_block(ctx, node, path, _walk_embedded)


def _skaffold_shape(ctx: DocumentWalk) -> bool:
    """A skaffold config quoted without its apiVersion (docs' snippets): a top-level
    ``build.artifacts`` list in a document that is no Kubernetes object."""
    if ctx.kind or ctx.root is None or ctx.root.id != "mapping":
        return False
    build = fields_of(ctx.root).get("build")
    return build is not None and build.id == "mapping" and _seq(fields_of(build).get("artifacts"))


def _not_an_image(path: Path, skaffold: bool) -> bool:
    if path and path[-1] in NOT_IMAGE_PARENTS:
        return True
    return skaffold and len(path) >= 2 and path[-2] in SKAFFOLD_ARTIFACT_LISTS


def _duplicates(ctx: DocumentWalk, node: Any, fields: dict[str, Any], path: Path) -> None:
    """Warn about each duplicate key; look at the earlier values too (YAML readers differ:
    most keep the last, some the first, some refuse), so a stale reference is not hidden."""
    first: dict[str, Any] = {}
    for key, value in node.value:
        if key.id != "scalar":
            continue
        if key.value in first:
            earlier = first[key.value]
            ctx.warnings.append(
                f"line {_line(ctx, key)}: duplicate key {key.value!r} (first at line "
                f"{_line(ctx, earlier[0])}); most YAML readers keep the last one"
            )
            if earlier[1].id == "scalar":
                _visit_mapping(ctx, {**fields, key.value: earlier[1]}, path)
        else:
            first[key.value] = (key, value)


def _line(ctx: DocumentWalk, node: Any) -> int:
    if ctx.remap is None:
        return int(node.start_mark.line) + 1
    return int(ctx.remap.line(node.start_mark.index))


def _visit_mapping(ctx: DocumentWalk, fields: dict[str, Any], path: Path) -> None:
    _index_scalars(ctx, fields, path)
    parent = str(path[-1]) if path else ""
    if is_str(fields.get("image")):
        _image_string(ctx, fields, path)
    elif fields.get("image") is None or fields["image"].id != "scalar":
        finder_values.visit(ctx, fields, path)
    for key, value in fields.items():
        if key != "image" and key[-5:].lower() == "image" and is_str(value):
            _named_image(ctx, value, (*path, key))
    if fields.get("op") is not None and is_str(fields.get("value")):
        _json_patch(ctx, fields, path)
    if parent == "kustomize" and _seq(fields.get("images")):
        _argocd_kustomize_images(ctx, fields["images"], (*path, "images"))
    if parent == "helm":
        if _seq(fields.get("parameters")):
            _argocd_parameters(ctx, fields["parameters"], (*path, "parameters"))
        values = fields.get("values")
        if is_str(values):
            blocks.scan_block(ctx, values, (*path, "values"), _walk_embedded)
    for key in EMBEDDED_KEYS & fields.keys():
        if is_str(fields[key]):
            blocks.scan_block(ctx, fields[key], (*path, key), _walk_embedded)
    if parent == "data":  # ConfigMap files: `config.yaml: |` holds YAML of its own
        for key, value in fields.items():
            if key.endswith(YAML_SUFFIXES) and is_str(value):
                blocks.scan_block(ctx, value, (*path, key), _walk_embedded)


def _walk_embedded(ctx: DocumentWalk) -> None:
    """Walk a document embedded in a block scalar: it is a document of its own."""
    ctx.api_version, ctx.kind = identity(ctx.root)
    walk_document(ctx)


def identity(root: Any) -> tuple[str, str]:
    """A document's ``apiVersion`` and ``kind`` ("" each when it is not a Kubernetes object)."""
    if root is None or root.id != "mapping":
        return "", ""
    fields = fields_of(root)
    return scalar_value(fields.get("apiVersion")), scalar_value(fields.get("kind"))


def _visit_sequence(ctx: DocumentWalk, node: Any, path: Path) -> None:
    if ctx.markers:
        _index_scalars(ctx, dict(enumerate(node.value)), path)
    if not path:
        return
    if path[-1] == "patchesStrategicMerge":
        for index, item in enumerate(node.value):
            if is_str(item):
                blocks.scan_block(ctx, item, (*path, index), _walk_embedded)
        return
    if path[-1] != "images":
        return
    kustomization = _is_kustomization(ctx, path)
    for index, item in enumerate(node.value):
        if item.id == "mapping":
            fields = fields_of(item)
            keys = {"newTag", "newName", "digest", "tagSuffix"} & fields.keys()
            if is_str(fields.get("name")) and (keys or kustomization):
                _kustomize_image(ctx, item, (*path, index))


def _is_kustomization(ctx: DocumentWalk, path: Path) -> bool:
    """An ``images`` list that kustomize reads: a kustomization's (or a Flux Kustomization's
    ``spec.images``), where an entry with only ``name`` is a reference still at its tag."""
    if ctx.kind in ("Kustomization", "Component"):
        return path in (("images",), ("spec", "images"))
    if ctx.kind or path != ("images",):
        return False
    return not _KUSTOMIZE_KEYS.isdisjoint(fields_of(ctx.root))


# Keys only a kustomization has at its top level (with `images`, a Helm values file can not
# be told from one otherwise).
_KUSTOMIZE_KEYS = frozenset(
    {
        "resources",
        "bases",
        "components",
        "patches",
        "patchesStrategicMerge",
        "namePrefix",
        "nameSuffix",
        "commonLabels",
        "labels",
        "configMapGenerator",
        "secretGenerator",
        "helmCharts",
        "replicas",
        "generators",
        "transformers",
        "crds",
    }
)


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
    kind = _string_kind(ctx, path)
    if placeholders.is_templated_ref(slot.value):
        add_templated(ctx, kind, placeholders.split_name(slot.value)[0], slot)
        return
    try:
        ref = refs.parse(slot.value)
    except InvalidReference as error:
        if kind in INVALID_REPORTED_KINDS:
            add_invalid(ctx, kind, slot, error)
        return
    if ref.tag is None and ref.digest is None:
        if finder_values.image_with_tag(ctx, fields, path, slot):
            return
    _add_string(ctx, ref, kind, slot)


# Locations whose schema says the value is an image: one that is not a valid reference is
# reported (never edited) so a user sees it, where an ``image`` key elsewhere may be a word.
INVALID_REPORTED_KINDS = frozenset({"pod-container", "compose-service"})


def add_invalid(ctx: DocumentWalk, kind: str, slot: Slot, error: InvalidReference) -> None:
    """A value in an image location that is not a valid reference: reported, never edited."""
    reason = str(error).splitlines()[0] if str(error) else "not a valid reference"
    ctx.found.append(
        Found(
            slot.value,
            None,
            None,
            kind,
            slot.line,
            name_slots=(slot,),
            invalid=True,
            note=f"not a valid reference ({reason}): never edited",
        )
    )


def _add_string(
    ctx: DocumentWalk, ref: refs.Reference, kind: str, slot: Slot, offset: int = 0
) -> None:
    known = kind != "image-string"
    ctx.found.append(
        Found(
            ref.name,
            ref.tag,
            ref.digest,
            kind,
            slot.line,
            ref_slot=slot,
            ref_offset=offset,
            confidence="known" if known else finder_values.confidence(ctx),
        )
    )


def _named_image(ctx: DocumentWalk, node: Any, path: Path) -> None:
    """``kubectlImage: bitnami/kubectl:1.30``: a key ending in "image" (Renovate's helm-values
    convention). Only a value with a tag, a digest or a path counts: ``useImage: "yes"``
    is a word, not ``docker.io/library/yes``."""
    slot = ctx.slot(node, path)
    if slot is None or not any(c in slot.value for c in ":/@"):
        return
    if placeholders.is_templated_ref(slot.value):
        add_templated(ctx, "image-string", placeholders.split_name(slot.value)[0], slot)
        return
    try:
        ref = refs.parse(slot.value)
    except InvalidReference:
        return
    _add_string(ctx, ref, "image-string", slot)


def _json_patch(ctx: DocumentWalk, fields: dict[str, Any], path: Path) -> None:
    """``{op: replace, path: /spec/template/spec/containers/0/image, value: repo:tag}``."""
    if scalar_value(fields.get("op")) not in ("add", "replace"):
        return
    if not scalar_value(fields.get("path")).endswith("/image"):
        return
    slot = ctx.slot(fields["value"], (*path, "value"))
    if slot is None:
        return
    if placeholders.is_templated_ref(slot.value):
        add_templated(ctx, "json-patch", placeholders.split_name(slot.value)[0], slot)
        return
    try:
        ref = refs.parse(slot.value)
    except InvalidReference:
        return
    _add_string(ctx, ref, "json-patch", slot)


def _string_kind(ctx: DocumentWalk, path: Path) -> str:
    if len(path) >= 2 and path[-2] in CONTAINER_LISTS:
        return "pod-container"
    if len(path) == 2 and path[0] == "services" and ctx.remap is None:
        return "compose-service"
    return "image-string"


def _kustomize_image(ctx: DocumentWalk, node: Any, path: Path) -> None:
    fields = fields_of(node)
    name_key = "newName" if is_str(fields.get("newName")) else "name"
    name_slot = ctx.slot(fields[name_key], (*path, name_key))
    if name_slot is None:
        return
    if placeholders.is_templated_ref(name_slot.value):
        add_templated(ctx, "kustomize-images", name_slot.value, name_slot)
        return
    try:
        image = refs.parse(name_slot.value).name
    except InvalidReference as error:
        add_invalid(ctx, "kustomize-images", name_slot, error)
        return
    tag_slot = ctx.slot(fields["newTag"], (*path, "newTag")) if "newTag" in fields else None
    digest_node = fields.get("digest")
    digest_slot = ctx.slot(digest_node, (*path, "digest")) if digest_node is not None else None
    add_split(
        ctx,
        "kustomize-images",
        image,
        tag_slot,
        digest_slot,
        (name_slot,),
        digest_in_tag=False,
        inserts=(_insert_key(ctx, node, "newTag"), _insert_key(ctx, node, "digest")),
        note=_suffix_note(fields),
    )


def _suffix_note(fields: dict[str, Any]) -> str:
    suffix = scalar_value(fields.get("tagSuffix"))
    return (
        f"tagSuffix {suffix!r}: kustomize appends it to the tag, and ignores it once newTag is set"
        if suffix
        else ""
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
        slot = ctx.slot(item, (*path, index)) if is_str(item) else None
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
        fields = fields_of(item)
        name, value = scalar_value(fields.get("name")), fields.get("value")
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
    add_split(ctx, kind, ref.name, group.get("tag"), group.get("digest"), names)
