"""The prune decision: only what left the render, never on an empty or shrunken render."""

from __future__ import annotations

from bumper.agent import inventory
from bumper.agent.inventory import Entry


def entries(n: int) -> list[Entry]:
    return [Entry("v1", "ConfigMap", "ns", f"cm-{i}") for i in range(n)]


def test_prunes_only_what_left_the_render() -> None:
    owned = entries(4)
    plan = inventory.prune_plan([e.key for e in owned[:3]], owned, max_shrink=0.5)
    assert plan.refused is None
    assert plan.delete == (owned[3],)


def test_empty_render_prunes_nothing_unless_forced() -> None:
    owned = entries(3)
    plan = inventory.prune_plan([], owned, max_shrink=1.0)
    assert plan.delete == () and plan.refused and "empty" in plan.refused
    assert len(inventory.prune_plan([], owned, max_shrink=1.0, force=True).delete) == 3


def test_shrinking_past_the_fraction_is_refused() -> None:
    owned = entries(10)
    keep = [e.key for e in owned[:4]]
    plan = inventory.prune_plan(keep, owned, max_shrink=0.5)
    assert plan.delete == () and plan.refused and "6 of 10" in plan.refused
    assert len(inventory.prune_plan(keep, owned, max_shrink=0.6).delete) == 6


def test_namespaces_are_pruned_after_their_contents() -> None:
    owned = [Entry("v1", "Namespace", "", "shop"), Entry("v1", "ConfigMap", "shop", "a")]
    plan = inventory.prune_plan([], owned, max_shrink=1.0, force=True)
    assert [e.kind for e in plan.delete] == ["ConfigMap", "Namespace"]


def test_entries_round_trip_through_the_configmap_data() -> None:
    owned = entries(2)
    assert inventory.load_entries(inventory.dump_entries(owned)) == owned
    assert inventory.load_entries(None) == []
