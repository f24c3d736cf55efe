"""Server-side apply of a render: compare with live, dry-run the changes, apply, prune.

One ``sync`` call:

1. resolves each object's resource (discovery is cached) and marks it (labels, hash);
2. LISTs each kind once with the agent's label selector (the whole cost of a no-op resync);
3. keeps only objects that differ on fields the agent manages (``manifests.in_sync``);
4. dry-runs (``dryRun=All``) every change the API server can check, all of them before anything
   is applied, concurrently (``workers`` at a time); one refusal means nothing is applied;
5. applies the changes stage by stage (``manifests.APPLY_STAGES``: CRDs, then Namespaces, then
   Roles, then the rest, then admission webhooks), each stage concurrently (``workers`` at a
   time); a refused apply stops the sync before the next stage;
6. prunes inventory entries that left the render, within the safety rules of ``inventory``.

The guarantee of step 4: a change the server refuses (schema, admission, quota, immutable
field, RBAC, a conflict under ``fail``) is refused before any object of the sync is applied.
Two kinds of object the server cannot check before the sync has created their container:
- a custom resource whose CRD arrives in the same sync (discovery does not know its kind yet);
- an object whose Namespace arrives in the same sync. Before the Namespace exists, a dry-run
  only gets as far as authorization and field types, then waits 50 ms server-side and answers
  404; at 1,000 objects those dry-runs cost more API server time than the applies themselves.
  The agent asks the authorization part instead, with one SelfSubjectAccessReview per kind
  and new Namespace for each verb an apply needs (create, patch), with the other checks, all
  before anything is applied; a field of the wrong type in such an object is refused by its
  apply, as a custom resource's is.
Both kinds are applied in a later stage than their container, and a refused apply stops the
sync at the end of its stage. Whether a Namespace exists is known from step 2's LIST, or, for
a Namespace the agent does not own yet, from one GET.

Conflict policy: with ``force`` (the default) Git wins, and fields another manager took over
(``kubectl edit``, ``kubectl scale``) are taken back and reported as drift; with ``fail``, a
conflict fails the dry-run and the sync applies nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar, cast

from bumper.agent import inventory, kube, manifests, phases
from bumper.agent.inventory import Entry
from bumper.agent.manifests import Key, Obj
from bumper.errors import ApplyError, KubeApiError

T = TypeVar("T")
R = TypeVar("R")
CRD = "CustomResourceDefinition"
APPLY_VERBS = ("create", "patch")  # a server-side apply that creates needs both


@dataclass
class SyncResult:
    """What one sync did."""

    applied: list[Key] = field(default_factory=list)
    drifted: list[Key] = field(default_factory=list)
    unchanged: int = 0
    pruned: list[Key] = field(default_factory=list)
    prune_refused: str | None = None
    inventory: list[Entry] = field(default_factory=list)
    live: dict[Key, Obj] = field(default_factory=dict)
    desired: dict[Key, Obj] = field(default_factory=dict)
    resources: dict[Key, kube.Resource] = field(default_factory=dict)


@dataclass
class Planned:
    obj: Obj
    key: Key
    res: kube.Resource | None  # None: its CRD arrives in this same sync


class Applier:
    def __init__(
        self,
        client: kube.Client,
        *,
        agent: str,
        manager: str = "bumper-agent",
        conflicts: str = "force",
        default_namespace: str = "default",
        scope_namespace: str | None = None,
        workers: int = 16,
    ) -> None:
        self.client = client
        self.agent = agent
        self.manager = manager
        self.force = conflicts == "force"
        self.default_namespace = scope_namespace or default_namespace
        self.scope_namespace = scope_namespace
        self.workers = workers
        # key -> (manifest hash, fingerprint of the live projection right after our apply)
        self.memo: dict[Key, tuple[str, str]] = {}
        self._last_plan: tuple[Sequence[Obj], list[Planned]] | None = None

    # -- planning ---------------------------------------------------------------------------

    def plan(self, desired: Iterable[Obj]) -> list[Planned]:
        crd_kinds = {
            (o.get("spec", {}).get("group", ""), o.get("spec", {}).get("names", {}).get("kind"))
            for o in desired
            if o.get("kind") == CRD
        }
        planned: list[Planned] = []
        for obj in manifests.ordered(desired):
            res = self._resource_or_none(obj, crd_kinds)
            namespace = None
            if res is None or res.namespaced:
                namespace = self.default_namespace
            marked = manifests.mark(obj, agent=self.agent, namespace=namespace)
            if res is not None and not res.namespaced:
                marked["metadata"].pop("namespace", None)
            self._check_scope(marked, res)
            planned.append(Planned(marked, manifests.key_of(marked), res))
        return planned

    def _plan_cached(self, desired: Sequence[Obj]) -> list[Planned]:
        """The plan of the same render object is reused: a resync marks nothing again."""
        if (
            self._last_plan is None
            or self._last_plan[0] is not desired
            or any(p.res is None for p in self._last_plan[1])
        ):
            self._last_plan = (desired, self.plan(desired))
        return self._last_plan[1]

    def _resource_or_none(self, obj: Obj, crd_kinds: set[tuple[str, str]]) -> kube.Resource | None:
        try:
            return self.client.resource(obj["apiVersion"], obj["kind"])
        except KubeApiError as error:
            if (manifests.group_of(obj["apiVersion"]), obj["kind"]) in crd_kinds:
                return None
            raise ApplyError(f"{manifests.key_of(obj)}: {error}") from error

    def _check_scope(self, obj: Obj, res: kube.Resource | None) -> None:
        if self.scope_namespace is None:
            return
        key = manifests.key_of(obj)
        if res is not None and not res.namespaced:
            raise ApplyError(f"{key} is cluster-scoped; the agent is scoped to a namespace")
        if key.namespace != self.scope_namespace:
            raise ApplyError(f"{key} is outside the agent's namespace {self.scope_namespace}")

    # -- reading live state -----------------------------------------------------------------

    def list_live(self, resources: Iterable[kube.Resource]) -> dict[Key, Obj]:
        """One LIST per kind, filtered by the agent's labels, ``workers`` at a time."""
        live: dict[Key, Obj] = {}
        kinds = sorted(set(resources), key=lambda r: (r.group, r.kind))
        for items in self._parallel(self._list_owned, kinds):
            for item in items:
                (item.get("metadata") or {}).pop("managedFields", None)
                live[manifests.key_of(item)] = item
        return live

    def _list_owned(self, res: kube.Resource) -> list[Obj]:
        try:
            return self.client.list(
                res, namespace=self.scope_namespace, selector=manifests.selector(self.agent)
            )
        except KubeApiError as error:
            if error.status == 404:
                return []  # the kind itself is gone (its CRD was removed)
            raise

    def resources_of(self, entries: Iterable[Entry]) -> list[kube.Resource]:
        found = []
        for entry in entries:
            try:
                found.append(self.client.resource(entry.api_version, entry.kind))
            except KubeApiError:
                continue
        return found

    # -- the sync ---------------------------------------------------------------------------

    def sync(
        self,
        desired: Sequence[Obj],
        owned: Sequence[Entry],
        *,
        max_shrink: float = 0.5,
        force_prune: bool = False,
        prune: bool = True,
        clock: phases.Clock | None = None,
    ) -> SyncResult:
        """``clock`` gets the seconds of each phase, also those of a sync that fails."""
        clock = phases.Clock() if clock is None else clock
        with clock.timed("plan"):
            planned = self._plan_cached(desired)
        resources = [p.res for p in planned if p.res is not None]
        with clock.timed("list"):
            live = self.list_live([*resources, *self.resources_of(owned)])
        out = SyncResult(live=live, desired={p.key: p.obj for p in planned})
        changes = []
        for item in planned:
            current = live.get(item.key)
            memo = self.memo.get(item.key)
            digest = item.obj["metadata"]["annotations"][manifests.HASH_ANNOTATION]
            remembered = memo[1] if memo and memo[0] == digest else None
            if manifests.in_sync(item.obj, current, remembered):
                out.unchanged += 1
                continue
            if current is not None and _hash_of(current) == digest:
                out.drifted.append(item.key)
            changes.append(item)
        render_namespaces = {p.key.name for p in planned if p.key.kind == "Namespace"}
        if changes:  # a phase with nothing to do is not timed: it counts 0 s (``phases``)
            with clock.timed("dry_run"):
                self._dry_run(changes, render_namespaces, live)
            with clock.timed("apply"):
                self._apply(changes, out)
        out.resources = {p.key: p.res for p in planned if p.res is not None}
        wanted = [Entry.of(p.obj) for p in planned]
        plan = inventory.prune_plan(
            [p.key for p in planned], owned, max_shrink=max_shrink, force=force_prune
        )
        out.prune_refused = plan.refused
        planned_keys = {p.key for p in planned}
        kept = {e for e in owned if e.key not in planned_keys}
        if prune and plan.refused is None and plan.delete:
            with clock.timed("prune"):
                self._prune(plan.delete, live, out)
            kept -= set(plan.delete)
        out.inventory = sorted(set(wanted) | kept)
        return out

    def _dry_run(
        self, changes: Sequence[Planned], render_namespaces: set[str], live: dict[Key, Obj]
    ) -> None:
        unborn = self._unborn_namespaces(changes, render_namespaces, live)

        def check(item: Planned) -> tuple[str, str] | None:
            assert item.res is not None
            try:
                self.client.apply(
                    item.res, item.obj, manager=self.manager, force=self.force, dry_run=True
                )
            except KubeApiError as error:
                ns_missing = error.status == 404 and item.key.namespace in render_namespaces
                if not ns_missing:
                    return (str(item.key), str(error))
            return None

        def authorized(access: tuple[str, kube.Resource, str]) -> tuple[str, str] | None:
            verb, res, namespace = access
            if self.client.allowed(verb, res, namespace):
                return None
            what = f"{verb} {res.plural}" + (f".{res.group}" if res.group else "")
            return (f"{res.kind} in new namespace {namespace}", f"forbidden: may not {what}")

        accesses = sorted(
            {
                (verb, c.res, c.key.namespace)
                for c in changes
                if c.res is not None and c.key.namespace in unborn
                for verb in APPLY_VERBS
            },
            key=lambda a: (a[2], a[1].group, a[1].plural, a[0]),
        )
        # An object whose CRD or Namespace comes with this sync has nothing to dry-run yet.
        checkable = [c for c in changes if c.res is not None and c.key.namespace not in unborn]
        checks: list[Callable[[], tuple[str, str] | None]] = [
            *(partial(check, c) for c in checkable),
            *(partial(authorized, a) for a in accesses),
        ]
        failures = [f for f in self._parallel(lambda run: run(), checks) if f is not None]
        if failures:
            first = failures[0]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise ApplyError(f"dry-run refused {first[0]}: {first[1]}{more}", failures)

    def _unborn_namespaces(
        self, changes: Sequence[Planned], render_namespaces: set[str], live: dict[Key, Obj]
    ) -> set[str]:
        """Namespaces of the render that do not exist yet and hold a change of this sync."""
        wanted = {c.key.namespace for c in changes} & render_namespaces
        unborn = set()
        for name in sorted(wanted):
            if Key("", "Namespace", "", name) in live:
                continue
            res = self.client.resource("v1", "Namespace")
            if self.client.get(res, name) is None:  # not ours yet (unlabelled), or absent
                unborn.add(name)
        return unborn

    def _apply(self, changes: Sequence[Planned], out: SyncResult) -> None:
        """Stage by stage; a stage's refusal stops before the next (``_parallel``)."""
        for rank in sorted({manifests.apply_rank(c.obj) for c in changes}):
            stage = [c for c in changes if manifests.apply_rank(c.obj) == rank]
            for item in stage:
                if item.res is None:
                    item.res = self._resource_eventually(item.obj)
            self._parallel(lambda c: self._apply_one(c, out), stage)
            for item in stage:
                if item.key.kind == CRD:
                    self._wait_established(item.obj)

    def _apply_one(self, item: Planned, out: SyncResult) -> None:
        assert item.res is not None
        try:
            result = self.client.apply(item.res, item.obj, manager=self.manager, force=self.force)
        except KubeApiError as error:
            raise ApplyError(f"apply {item.key}: {error}", [(str(item.key), str(error))]) from error
        result.get("metadata", {}).pop("managedFields", None)
        digest = item.obj["metadata"]["annotations"][manifests.HASH_ANNOTATION]
        self.memo[item.key] = (digest, manifests.normalised_fingerprint(item.obj, result))
        out.live[item.key] = result
        out.applied.append(item.key)

    def _wait_established(self, crd: Obj, timeout: float = 30.0) -> None:
        group, versions = crd["spec"]["group"], crd["spec"].get("versions") or []
        for version in versions:
            self.client.forget(f"{group}/{version['name']}")
        res = self.client.resource("apiextensions.k8s.io/v1", CRD)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self.client.get(res, crd["metadata"]["name"]) or {}
            conditions = (live.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c["status"] == "True" for c in conditions):
                return
            time.sleep(0.2)
        raise ApplyError(f"CRD {crd['metadata']['name']} not established after {timeout:g}s")

    def _resource_eventually(self, obj: Obj, timeout: float = 30.0) -> kube.Resource:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.client.resource(obj["apiVersion"], obj["kind"])
            except KubeApiError as error:
                if time.monotonic() > deadline:
                    raise ApplyError(f"{manifests.key_of(obj)}: {error}") from error
                time.sleep(0.3)

    def _prune(self, entries: Sequence[Entry], live: dict[Key, Obj], out: SyncResult) -> None:
        for entry in entries:
            current = live.get(entry.key)
            if current is None or not manifests.owned_by(current, self.agent):
                continue  # gone already, or someone took it over: not ours to delete
            res = self.client.resource(entry.api_version, entry.kind)
            if self.client.delete(res, entry.name, entry.namespace or None):
                out.pruned.append(entry.key)
            self.memo.pop(entry.key, None)

    def _parallel(self, func: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``func`` over ``items`` on ``workers`` threads, results in order. Each thread takes
        the next item itself: a future per item (``ThreadPoolExecutor.submit``) cost the client
        about half as much CPU again as the thousand requests it ran. The first exception (in
        item order, of those raised) stops the threads from taking more items and is raised
        once the running calls are done."""
        if len(items) <= 1 or self.workers <= 1:
            return [func(i) for i in items]
        results: list[R | None] = [None] * len(items)
        errors: list[tuple[int, BaseException]] = []
        indexes = iter(range(len(items)))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    index = None if errors else next(indexes, None)
                if index is None:
                    return
                try:
                    results[index] = func(items[index])
                except BaseException as error:  # noqa: BLE001 - re-raised by the caller's thread
                    with lock:
                        errors.append((index, error))
                    return

        threads = [threading.Thread(target=work) for _ in range(min(self.workers, len(items)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise min(errors, key=lambda e: e[0])[1]
        return cast(list[R], results)


def _hash_of(obj: Obj) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(manifests.HASH_ANNOTATION)
    return str(value) if value is not None else None
