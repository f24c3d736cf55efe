"""Pure functions over manifests: identity, ownership marks, ordering, hashing, drift, images.

No I/O and no API calls: everything here is unit-tested on plain dicts. The agent marks what it
applies with two labels (``app.kubernetes.io/managed-by=bumper-agent`` and
``bumper.dev/agent=<name>``) and one annotation (``bumper.dev/hash``, a digest of the manifest as
rendered). An unchanged hash plus live values equal to the desired ones on every field the
manifest sets is what lets a resync skip an object without a request of its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bumper.errors import ManifestError

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
AGENT_LABEL = "bumper.dev/agent"
HASH_ANNOTATION = "bumper.dev/hash"
TIMEOUT_ANNOTATION = "bumper.dev/health-timeout"
MANAGED_BY_VALUE = "bumper-agent"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
# The apply stages, in order (``None``: every kind not named). Each stage is applied, objects
# concurrently, before the next starts; pruning walks the stages backwards (contents before
# containers). The order is what the API server itself needs:
# - CRDs, then Namespaces: the objects inside them are refused until they exist (a CRD's
#   objects until it is Established);
# - Roles before everything else: without the ``bind`` verb, the RBAC escalation check reads a
#   binding's role and refuses the binding while that role does not exist;
# - admission webhooks last: registered earlier, they would intercept this same sync's objects
#   while their own Service and Deployment are not serving yet (Helm orders them last too).
# ServiceAccounts, ConfigMaps or Secrets before workloads is not needed: the API server does not
# check references, and the Pods that use them are created later by controllers.
APPLY_STAGES: tuple[frozenset[str] | None, ...] = (
    frozenset({"CustomResourceDefinition"}),
    frozenset({"Namespace"}),
    frozenset({"ClusterRole", "Role"}),
    None,
    frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}),
)
_OTHER_STAGE = APPLY_STAGES.index(None)


@dataclass(frozen=True, order=True)
class Key:
    """Identity of an object: API group, kind, namespace ('' if cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}.{self.group or 'core'} {where}{self.name}"

    def encode(self) -> str:
        return "|".join((self.group, self.kind, self.namespace, self.name))

    @classmethod
    def decode(cls, text: str) -> Key:
        group, kind, namespace, name = text.split("|")
        return cls(group, kind, namespace, name)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return Key(
        group_of(str(obj.get("apiVersion", ""))),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def validate(docs: Iterable[Any], *, source: str = "render") -> list[Obj]:
    """Check each document's shape; flatten ``kind: List``; refuse duplicates."""
    objs: list[Obj] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: a document is a {type(doc).__name__}, not a mapping")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            objs.extend(validate(doc["items"], source=source))
            continue
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str) or not doc[field]:
                raise ManifestError(f"{source}: a document has no {field}")
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            raise ManifestError(f"{source}: a {doc['kind']} has no metadata.name")
        objs.append(doc)
    seen: set[Key] = set()
    for obj in objs:
        key = key_of(obj)
        if key in seen:
            raise ManifestError(f"{source}: {key} is declared twice")
        seen.add(key)
    return objs


class Rendered(list[Obj]):
    """A commit's objects, and the files its render left out: ``skipped`` holds ``(path,
    reason)`` pairs (a symbolic link leaving the config path), reported, never applied."""

    def __init__(self, objs: Iterable[Obj] = (), skipped: Iterable[tuple[str, str]] = ()):
        super().__init__(objs)
        self.skipped = tuple(skipped)

    def skipped_summary(self, limit: int = 500) -> str:
        """One line naming every skipped file with its reason, cut at ``limit`` characters."""
        line = "; ".join(f"{path}: {why}" for path, why in self.skipped)
        return line if len(line) <= limit else line[: limit - 1] + "…"


def content_hash(obj: Mapping[str, Any]) -> str:
    """Digest of a manifest as rendered (before the agent's own marks)."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def mark(obj: Mapping[str, Any], *, agent: str, namespace: str | None) -> Obj:
    """A copy with ownership labels, the hash annotation and, if namespaced, a namespace."""
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    if namespace and not meta.get("namespace"):
        meta["namespace"] = namespace
    digest = content_hash(out)
    meta["labels"] = {
        **(meta.get("labels") or {}),
        MANAGED_BY: MANAGED_BY_VALUE,
        AGENT_LABEL: agent,
    }
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: digest}
    return out


def selector(agent: str) -> str:
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{AGENT_LABEL}={agent}"


def owned_by(obj: Mapping[str, Any], agent: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY) == MANAGED_BY_VALUE and labels.get(AGENT_LABEL) == agent)


def apply_rank(obj: Mapping[str, Any]) -> int:
    """The index of the object's stage in ``APPLY_STAGES``."""
    kind = obj.get("kind")
    for rank, kinds in enumerate(APPLY_STAGES):
        if kinds is not None and kind in kinds:
            return rank
    return _OTHER_STAGE


def ordered(objs: Iterable[Obj]) -> list[Obj]:
    """Stage by stage (``APPLY_STAGES``), in render order within a stage (a stable sort)."""
    return sorted(objs, key=apply_rank)


# -- drift ------------------------------------------------------------------------------------


def project(desired: Any, live: Any) -> Any:
    """The live values at the paths the desired manifest sets, shaped like ``desired``.

    Lists are compared position by position when both have the same length; otherwise the whole
    live list stands in, which compares unequal and so counts as a difference.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return live
        return {k: project(v, live[k]) if k in live else _MISSING for k, v in desired.items()}
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return live
        return [project(d, v) for d, v in zip(desired, live, strict=True)]
    return live


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Missing)

    def __hash__(self) -> int:
        return 0


_MISSING = _Missing()


def comparable(obj: Mapping[str, Any]) -> Obj:
    """What drift compares: the manifest minus fields the server owns or rewrites."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for field in ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"):
        meta.pop(field, None)
    out["metadata"] = meta
    return out


def fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()


def in_sync(desired: Obj, live: Obj | None, remembered: str | None) -> bool:
    """True when applying ``desired`` again would change nothing the agent manages.

    ``remembered`` is the fingerprint of the projection right after the agent's last apply of
    this exact manifest: the server may normalise values (``0.5`` → ``500m``), and those must
    not look like drift forever.
    """
    if live is None:
        return False
    live_hash = ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if live_hash != desired["metadata"]["annotations"][HASH_ANNOTATION]:
        return False
    want = comparable(desired)
    seen = project(want, live)
    return bool(seen == want or (remembered and fingerprint(seen) == remembered))


def normalised_fingerprint(desired: Obj, live: Obj) -> str:
    """What ``in_sync`` remembers of ``live`` right after applying ``desired``: the fingerprint
    of the projection when the server normalised a value, "" when it did not (equal values need
    no memory, and most applies normalise nothing: this skips their digest)."""
    want = comparable(desired)
    seen = project(want, live)
    return "" if seen == want else fingerprint(seen)


def health_timeouts(objs: Mapping[Key, Mapping[str, Any]]) -> dict[Key, float]:
    """Per-object rollout timeouts (seconds) from the ``bumper.dev/health-timeout`` annotation."""
    found: dict[Key, float] = {}
    for key, obj in objs.items():
        value = ((obj.get("metadata") or {}).get("annotations") or {}).get(TIMEOUT_ANNOTATION)
        try:
            seconds = float(value) if value is not None else None
        except (TypeError, ValueError):
            seconds = None  # a malformed annotation falls back to the global timeout
        if seconds is not None and seconds > 0:
            found[key] = seconds
    return found


# -- images -----------------------------------------------------------------------------------


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    return (template or {}).get("spec") if isinstance(template, dict) else None


def images(obj: Mapping[str, Any]) -> list[str]:
    """Container images (init containers included) of a workload, in manifest order."""
    spec = pod_spec(obj) or {}
    found: list[str] = []
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            image = container.get("image") if isinstance(container, dict) else None
            if isinstance(image, str) and image not in found:
                found.append(image)
    return found


@dataclass(frozen=True)
class ImageRef:
    """An image reference split without normalising: ``repository[:tag][@digest]``."""

    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def split(cls, ref: str) -> ImageRef:
        name, _, digest = ref.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = None
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        return cls(name, tag, digest or None)
