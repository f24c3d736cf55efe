"""What the agent owns, and the prune decision (pure), plus the ConfigMap records it keeps.

Ownership is double-booked: every applied object carries the agent's labels, and the
inventory ConfigMap ``<agent>-inventory`` lists them. Only an object that is in the inventory
*and* still carries the labels is ever deleted. ``prune_plan`` refuses to delete anything when
the new render is empty, or when it would delete more than ``max_shrink`` of the inventory,
unless forced: a broken render must not wipe a namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bumper.agent import kube, manifests
from bumper.agent.manifests import Key


@dataclass(frozen=True, order=True)
class Entry:
    """An inventory row: the key plus the apiVersion needed to address it."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def key(self) -> Key:
        return Key(manifests.group_of(self.api_version), self.kind, self.namespace, self.name)

    @classmethod
    def of(cls, obj: Mapping[str, object]) -> Entry:
        key = manifests.key_of(obj)
        return cls(str(obj["apiVersion"]), key.kind, key.namespace, key.name)


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[Entry, ...]
    refused: str | None = None


def prune_plan(
    desired: Iterable[Key],
    inventory: Iterable[Entry],
    *,
    max_shrink: float,
    force: bool = False,
) -> PrunePlan:
    """Which inventory entries to delete; ``refused`` says why none will be, if so."""
    wanted = set(desired)
    owned = sorted(set(inventory))
    gone = tuple(e for e in owned if e.key not in wanted)
    if not gone or force:
        return PrunePlan(_prune_order(gone))
    if not wanted:
        return PrunePlan((), f"render is empty; refusing to prune {len(gone)} objects")
    if len(gone) > max_shrink * len(owned):
        return PrunePlan(
            (),
            f"render would prune {len(gone)} of {len(owned)} objects "
            f"(more than {max_shrink:.0%}); refusing without --force-prune",
        )
    return PrunePlan(_prune_order(gone))


def _prune_order(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Contents before containers: Namespaces and CRDs go last."""
    return tuple(sorted(entries, key=lambda e: -manifests.apply_rank({"kind": e.kind})))


# -- ConfigMap records ------------------------------------------------------------------------


class Records:
    """Small JSON records kept in ConfigMaps of the agent's namespace (one request each)."""

    def __init__(self, client: kube.Client, namespace: str, *, manager: str) -> None:
        self.client = client
        self.namespace = namespace
        self.manager = manager
        self._cm = kube.Resource("", "v1", "ConfigMap", "configmaps", True)

    def read(self, name: str) -> dict[str, str] | None:
        obj = self.client.get(self._cm, name, self.namespace)
        return None if obj is None else dict(obj.get("data") or {})

    def write(self, name: str, data: Mapping[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/component": "bumper-agent-state"},
            },
            "data": dict(data),
        }
        self.client.apply(self._cm, body, manager=self.manager, force=True)


def load_entries(data: Mapping[str, str] | None) -> list[Entry]:
    if not data or "objects" not in data:
        return []
    return [Entry(*row) for row in json.loads(data["objects"])]


def dump_entries(entries: Iterable[Entry]) -> dict[str, str]:
    rows = [[e.api_version, e.kind, e.namespace, e.name] for e in sorted(set(entries))]
    return {"objects": json.dumps(rows, separators=(",", ":"))}
