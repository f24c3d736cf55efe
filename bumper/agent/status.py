"""How the agent reports: the status ConfigMap, Kubernetes Events, Prometheus metrics.

The status record ``<agent>-status`` (in the agent's namespace) holds, as plain string keys:
``commit`` (whose render is live), ``revision`` (branch tip last seen), ``health``
(``Healthy`` | ``Progressing`` | ``Degraded`` | ``RolledBack`` | ``Error``), ``lastError``,
``lastHealthyCommit``, ``failedCommit``, ``lastSyncTime`` (RFC 3339), ``applied``, ``pruned``,
``drifted``, ``managed``, ``message`` and ``skipped`` (files of the tip's render left out,
e.g. a symbolic link leaving the config path: ``path: reason; ...``, "" when none). Events
are best effort: a refused Event never fails a sync. Metrics are kept in memory and rendered
in the Prometheus text format.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from bumper.agent import kube
from bumper.agent.manifests import Key

log = logging.getLogger("bumper.agent")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Status:
    commit: str = ""
    revision: str = ""
    health: str = "Progressing"
    last_error: str = ""
    last_healthy_commit: str = ""
    failed_commit: str = ""
    last_sync_time: str = ""
    applied: int = 0
    pruned: int = 0
    drifted: int = 0
    managed: int = 0
    message: str = ""
    skipped: str = ""  # files of the tip's render left out (path: reason; ...)

    _KEYS = {
        "commit": "commit",
        "revision": "revision",
        "health": "health",
        "last_error": "lastError",
        "last_healthy_commit": "lastHealthyCommit",
        "failed_commit": "failedCommit",
        "last_sync_time": "lastSyncTime",
        "applied": "applied",
        "pruned": "pruned",
        "drifted": "drifted",
        "managed": "managed",
        "message": "message",
        "skipped": "skipped",
    }

    def to_data(self) -> dict[str, str]:
        return {wire: str(getattr(self, attr)) for attr, wire in self._KEYS.items()}

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> Status:
        status = cls()
        for attr, wire in cls._KEYS.items():
            if data and wire in data:
                current = getattr(status, attr)
                value = data[wire]
                setattr(status, attr, int(value) if isinstance(current, int) else value)
        return status


class Events:
    """Posts core/v1 Events; ``regarding`` is an object the agent manages or its status."""

    def __init__(self, client: kube.Client, *, component: str, namespace: str) -> None:
        self.client = client
        self.component = component
        self.namespace = namespace
        self._res = kube.Resource("", "v1", "Event", "events", True)

    def emit(
        self,
        reason: str,
        message: str,
        *,
        regarding: Key | None = None,
        api_version: str = "v1",
        warning: bool = False,
    ) -> None:
        if regarding is None:
            regarding = Key("", "ConfigMap", self.namespace, f"{self.component}-status")
        # Events about cluster-scoped objects must live in "default" (API validation).
        namespace = regarding.namespace or "default"
        stamp = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{regarding.name}.{uuid.uuid4().hex[:12]}"},
            "involvedObject": {
                "apiVersion": api_version,
                "kind": regarding.kind,
                "name": regarding.name,
                "namespace": regarding.namespace or None,
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self.component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.client.create(self._res, body, namespace)
        except Exception as error:  # noqa: BLE001 - events must never break a sync
            log.warning("event %s for %s not recorded: %s", reason, regarding, error)


@dataclass
class Metrics:
    """A handful of counters and gauges, rendered as Prometheus text."""

    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    HELP = {
        "bumper_agent_syncs_total": "Syncs by result (ok, error, rolled_back).",
        "bumper_agent_applied_objects_total": "Objects applied (created, changed or healed).",
        "bumper_agent_pruned_objects_total": "Objects deleted because they left Git.",
        "bumper_agent_drift_total": "Objects found changed in the cluster and re-applied.",
        "bumper_agent_rollbacks_total": "Automatic rollbacks to the last healthy commit.",
        "bumper_agent_api_requests_total": "HTTP requests sent to the API server.",
        "bumper_agent_managed_objects": "Objects in the agent's inventory.",
        "bumper_agent_healthy": "1 when the last sync ended healthy.",
        "bumper_agent_last_sync_timestamp_seconds": "Unix time of the last finished sync.",
        "bumper_agent_sync_duration_seconds": "Duration of the last sync.",
        "bumper_agent_sync_phase_seconds": "Seconds the last sync spent per phase (label phase).",
        "bumper_agent_commit_info": "The commit whose render is live (label commit).",
    }

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self.lock:
            self.counters[key] = self.counters.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self.lock:
            if name == "bumper_agent_commit_info":
                self.gauges = {k: v for k, v in self.gauges.items() if k[0] != name}
            self.gauges[key] = value

    def render(self) -> str:
        lines: list[str] = []
        with self.lock:
            series = [("counter", self.counters), ("gauge", self.gauges)]
            for kind, values in series:
                for name in sorted({k[0] for k in values}):
                    lines.append(f"# HELP {name} {self.HELP.get(name, name)}")
                    lines.append(f"# TYPE {name} {kind}")
                    for (metric, labels), value in sorted(values.items()):
                        if metric == name:
                            lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"
