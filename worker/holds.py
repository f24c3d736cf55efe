"""What a reviewer's ``/bumper hold`` and ``/bumper pin`` do to a bump (``worker.commands``
records them in the store; this module applies them on the bump path, ``worker.bump``).

- A held target is not bumped at all: each candidate is logged as ``held`` ("held by @user
  via PR #n") once per hold, however many bump runs see it, and left in the store, so
  ``/bumper release`` bumps what waited.
- A pinned target never moves past its pin: a candidate whose tag the rule's policy orders
  after the pinned tag (or, where the policy gives no order, any other tag) is refused
  ("pinned to ... by @user via PR #n") and left in the store, for after the release.

Must not: talk to git or a forge, or decide anything else (``worker.bump`` and
``bumper.core.policy`` do).
"""

from __future__ import annotations

from typing import Any

from bumper.core import config, policy
from worker.context import WorkerContext
from worker.records import Verdict
from worker.store import Store, StoredCandidate


def who(entry: dict[str, Any]) -> str:
    """``@user via PR #n`` of a stored hold or pin."""
    return f"@{entry.get('by')} via PR #{entry.get('pr')}"


def held(ctx: WorkerContext, rule: config.Image, key: str, seen: list[StoredCandidate]) -> bool:
    """Whether ``key`` is held; if so, the ``held`` verdict of each candidate new to this hold
    is logged (a run per push would otherwise log every waiting candidate again)."""
    hold = ctx.store.hold_of(key)
    if hold is None:
        return False
    names = {str(policy.Candidate(c.tag, c.digest)): c for c in seen}
    for name in ctx.store.newly_held(key, list(names)):
        decision = policy.Decision(
            candidate=name, rule="hold", result="held", why=f"held by {who(hold)}"
        )
        ctx.log(decision, rule=rule, event=names[name].event, target=key)
    return True


def screen_pin(
    repo_store: Store,
    compiled: policy.CompiledPolicy,
    key: str,
    candidates: list[StoredCandidate],
) -> tuple[list[StoredCandidate], list[Verdict]]:
    """The candidates a pin allows, and a ``rejected`` verdict for each past it."""
    pin = repo_store.pin_of(key)
    if pin is None:
        return candidates, []
    tag, digest = str(pin.get("tag") or ""), pin.get("digest")
    usable: list[StoredCandidate] = []
    past: list[Verdict] = []
    for candidate in candidates:
        if _within(compiled, candidate, tag, digest):
            usable.append(candidate)
            continue
        name = str(policy.Candidate(candidate.tag, candidate.digest))
        shown = f"{tag}@{digest}" if digest else tag
        why = f"pinned to {shown} by {who(pin)}"
        past.append((candidate, policy.Decision(name, rule="pin", result="rejected", why=why)))
    return usable, past


def _within(
    compiled: policy.CompiledPolicy, candidate: StoredCandidate, tag: str, digest: Any
) -> bool:
    if candidate.tag == tag:
        return not digest or candidate.digest in (None, digest)
    try:
        return policy.sort_key(compiled, candidate.tag) < policy.sort_key(compiled, tag)
    except (ValueError, TypeError):
        return False  # no order to compare by: only the pinned tag itself
