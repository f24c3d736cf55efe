"""What really runs: per container of each applied workload, the digest its pods run and
whether they are all ready on it (the report's ``running`` list, ``bumper.core.agentreport``).

The digest is OBSERVED, never taken from the manifest: it is parsed from the pods'
``status.containerStatuses[].imageID`` (``<repository>@sha256:<hex>``, what the kubelet says
the container runtime resolved). A bare image ID without ``@`` (a runtime that names the
image's config, or kwok, which sets none) is no evidence and yields nothing.

One entry per (workload, container, observed digest). ``ready`` is true only when every pod
of the workload that runs that container is ready and on that digest: in the middle of a
rollout, old and new digests each get an entry, both not ready.

Bounds: pods are read with one LIST per workload, by the workload's own label selector and
``limit=MAX_PODS`` (a workload with more pods is reported not ready: its other pods were not
seen); at most ``MAX_WORKLOADS`` workloads are read per call and at most
``agentreport.MAX_RUNNING`` entries returned. A workload without a selector is skipped (an
empty selector would list every pod of the namespace). A call takes at most ``BUDGET_SECONDS``
(each LIST is bounded by what is left, retries included): an API server that hangs or refuses
(403: the agent's Role lacks ``pods: list``) costs the caller's loop seconds, never a stall.

Shared by the pull agent (``runner``) and push mode (``worker.pushdeploy``).
Must not: apply, delete or wait; raise for an API error on one workload (that one is skipped
with a log line, the others are still read).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from bumper.agent import kube, manifests
from bumper.agent.manifests import Key
from bumper.core import agentreport
from bumper.errors import BumperError

log = logging.getLogger("bumper.agent.running")

MAX_PODS = 100
MAX_WORKLOADS = 200
BUDGET_SECONDS = 10.0
LIST_TIMEOUT = 5.0  # one LIST of a workload's pods, at most
# Kinds whose pods keep running (a Job's finish: nothing to observe afterwards).
KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
_IMAGE_ID = re.compile(r"@(sha256:[0-9a-f]{64})$")
_SELECTOR_OPS = {"In": "in", "NotIn": "notin"}


def observed_digest(image_id: object) -> str | None:
    """``sha256:<hex>`` from an ``imageID`` such as ``docker-pullable://r/a@sha256:...``."""
    if not isinstance(image_id, str):
        return None
    found = _IMAGE_ID.search(image_id)
    return found.group(1) if found else None


def label_selector(selector: object) -> str | None:
    """A workload's ``spec.selector`` as a ``labelSelector`` query; None when it is empty or
    not understood (never a selector wider than the workload's)."""
    if not isinstance(selector, Mapping):
        return None
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not isinstance(key, str):
            return None
        if op in _SELECTOR_OPS:
            parts.append(f"{key} {_SELECTOR_OPS[op]} ({','.join(map(str, values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            return None
    return ",".join(parts) or None


def from_pods(
    key: Key,
    workload: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    commit: str,
    *,
    complete: bool = True,
) -> list[dict[str, Any]]:
    """The entries of one workload from its pods (pure). ``complete``: every pod was seen."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    entries: list[dict[str, Any]] = []
    for container, image in _template_images(workload).items():
        # (pod, its status of the container or None, the observed digest or None)
        seen = [
            (p, s, observed_digest(s.get("imageID")) if s else None)
            for p, s in ((p, _status_of(p, container)) for p in live)
        ]
        for digest in dict.fromkeys(d for _, _, d in seen if d):
            ready = complete and all(
                d == digest and s is not None and s.get("ready") is True for _, s, d in seen
            )
            # The pods' own image (an old pod mid-rollout has the old tag), else the template's.
            pod = next(p for p, _, d in seen if d == digest)
            ref = manifests.ImageRef.split(_spec_image(pod, container) or image)
            entries.append(
                {
                    "namespace": key.namespace,
                    "kind": key.kind,
                    "name": key.name,
                    "container": container,
                    "repository": ref.repository,
                    "tag": ref.tag,
                    "digest": digest,
                    "ready": ready,
                    "commit": commit,
                }
            )
    return [e for e in entries if _fits(e)]


def observe(
    client: kube.Client,
    workloads: Iterable[tuple[Key, Mapping[str, Any]]],
    commit: str,
    *,
    budget: float = BUDGET_SECONDS,
) -> list[dict[str, Any]]:
    """Read the pods of each workload (``KINDS`` only) and return the bounded entries, within
    ``budget`` seconds (the workloads not read by then are left out, with a log line)."""
    entries: list[dict[str, Any]] = []
    read = 0
    deadline = time.monotonic() + budget
    for key, obj in workloads:
        if key.kind not in KINDS or not key.namespace:
            continue
        if read >= MAX_WORKLOADS or len(entries) >= agentreport.MAX_RUNNING:
            log.warning("running: only the first %d workloads are reported", read)
            break
        selector = label_selector((obj.get("spec") or {}).get("selector"))
        if selector is None:
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("running: out of time after %d workloads; the others not reported", read)
            break
        read += 1
        try:
            pods, complete = _pods(client, key.namespace, selector, left)
        except BumperError as error:
            log.warning("running: pods of %s not read: %s", key, error)
            continue
        entries.extend(from_pods(key, obj, pods, commit, complete=complete))
    return entries[: agentreport.MAX_RUNNING]


def _pods(
    client: kube.Client, namespace: str, selector: str, left: float
) -> tuple[list[Mapping[str, Any]], bool]:
    """One bounded LIST, in at most ``left`` seconds: the pods, and whether that was all."""
    res = client.resource("v1", "Pod")
    page = client.request(
        "GET",
        res.path(namespace),
        params={"labelSelector": selector, "limit": str(MAX_PODS)},
        timeout=min(LIST_TIMEOUT, left),
        retry_for=left,
    )
    items = [p for p in page.get("items") or [] if isinstance(p, Mapping)]
    return items[:MAX_PODS], not (page.get("metadata") or {}).get("continue")


def _template_images(workload: Mapping[str, Any]) -> dict[str, str]:
    """container name -> image, of the workload's pod template (regular containers only)."""
    spec = manifests.pod_spec(workload) or {}
    found: dict[str, str] = {}
    for container in spec.get("containers") or []:
        if isinstance(container, Mapping):
            name, image = container.get("name"), container.get("image")
            if isinstance(name, str) and isinstance(image, str):
                found[name] = image
    return found


def _spec_image(pod: Mapping[str, Any], container: str) -> str | None:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(spec, Mapping) and spec.get("name") == container:
            image = spec.get("image")
            return image if isinstance(image, str) else None
    return None


def _status_of(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, Mapping) and status.get("name") == container:
            return status
    return None


def _fits(entry: dict[str, Any]) -> bool:
    try:
        agentreport.Running.model_validate(entry)
    except ValidationError:
        log.warning(
            "running: %s/%s not reported (the schema refuses it)", entry["name"], entry["container"]
        )
        return False
    return True
