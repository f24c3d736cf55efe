"""Record the images of a commit that failed health as *bad*, where the worker can read them.

Two places, same record (documented in docs/agent.md, "Bad images"):

- the ConfigMap ``bumper-bad-images`` (name configurable) in the agent's namespace, key
  ``records.json``: a JSON list, newest last, at most ``LIMIT`` entries;
- the engine's ``ports.BadImageSink``: the pull agent reports them to the web process
  (``bumper.agent.reporter``), push mode writes them through the worker's store; either way
  they land in the store's ``bumper:bad-images`` hash, which the bump worker reads.

A record is ``{"ref", "repository", "tag", "digest", "commit", "reason", "at", "agent"}``.
``suspects`` decides which images to blame: those of unhealthy workloads that differ from the
last healthy render of the same object (all of them when the object is new).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bumper.agent import inventory, manifests
from bumper.agent.manifests import Key, Obj

log = logging.getLogger("bumper.agent")
LIMIT = 500
DATA_KEY = "records.json"


def suspects(
    failed: Iterable[Key], new: Mapping[Key, Obj], healthy: Mapping[Key, Obj]
) -> list[str]:
    """Images introduced by the failed render in the workloads that did not become healthy."""
    found: list[str] = []
    for key in failed:
        obj = new.get(key)
        if obj is None:
            continue
        before = set(manifests.images(healthy[key])) if key in healthy else set()
        for image in manifests.images(obj):
            if image not in before and image not in found:
                found.append(image)
    return found


def record_for(image: str, *, commit: str, reason: str, at: str, agent: str) -> dict[str, Any]:
    ref = manifests.ImageRef.split(image)
    return {
        "ref": image,
        "repository": ref.repository,
        "tag": ref.tag,
        "digest": ref.digest,
        "commit": commit,
        "reason": reason[:500],
        "at": at,
        "agent": agent,
    }


def store(records: list[dict[str, Any]], *, state: inventory.Records, configmap: str) -> None:
    """Append to the ConfigMap (bounded). The engine's sink is the second place."""
    if not records:
        return
    current = state.read(configmap) or {}
    try:
        existing = json.loads(current.get(DATA_KEY, "[]"))
    except ValueError:
        existing = []  # a hand-edited, broken record must not stop a rollback
    merged = (existing + records)[-LIMIT:]
    state.write(configmap, {DATA_KEY: json.dumps(merged, indent=1)})
