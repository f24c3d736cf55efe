"""The dashboard's read model: what each panel shows, gathered from Redis and RQ.

One function per panel, each taking the web state (and the page's filters) and returning plain
data for a template; no view or template code here, and nothing is written except what a
read tidies (expired replicas). Every read is bounded: at most ``JOBS_SHOWN`` jobs per list,
the bounded decision log, the targets of bumper.yaml.

Where the data comes from:

- images × environments: bumper.yaml's rules and targets (``WebState.config``), the worker's
  target records (``worker.store``: scan of HEAD, last bump, push deploy), the decision log
  (newest accepted candidate), the CI gate's held pushes, the agents' reports, a reviewer's
  hold and pin (``/bumper`` commands, ``worker.store``);
- jobs: RQ's queues and registries of the event and bump queues, ``job.meta`` (``retry``,
  ``failure``, ``retried``);
- processes: ``bumper.web.replicas``, RQ's worker registry, the agents' reports, push targets;
- decisions and events: ``bumper.decisions``, ``bumper.web.recent`` and the event jobs;
- promotions: ``worker.promotionstore`` (each pipeline's digests and the statuses of the
  worker's last evaluation; docs/promotion.md);
- polling: ``bumper.registry.state`` (each watched repository's last poll, as the worker left
  it, and the running totals), the same read as the metrics' (``bumper.web.pollmetrics``).

Raises ``redis.RedisError`` like any read; the views show "Redis unreachable" then.
Must not: import the worker beyond ``worker.store``, ``worker.retry`` and
``worker.promotionstore`` (.importlinter), or
expose a secret: everything here is names, tags, ids, times and one-line reasons.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rq import Queue, Worker
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from bumper import decisions, rqjobs
from bumper.core import promotion
from bumper.registry import state as poll_state
from bumper.web import recent, replicas
from bumper.web.state import WebState
from worker import retry as retry_module
from worker import store as store_module
from worker.promotionstore import PromotionStore

JOBS_SHOWN = 50
DIGESTS_SHOWN = 5  # per pipeline, newest first (`bumper explain-promotion` shows more)
PAGE_SIZE = 25


def ago(stamp: Any) -> str:
    """``12s ago``, ``3m ago``, ``2h ago``, ``4d ago``; ``never`` for nothing; ``?``."""
    seconds = _age(stamp)
    if seconds is None:
        return "never" if not stamp else "?"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(max(seconds, 0))}s ago"


def _age(stamp: Any) -> float | None:
    if isinstance(stamp, int | float) and stamp > 0:
        return time.time() - float(stamp)
    if isinstance(stamp, datetime):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        return (datetime.now(UTC) - moment).total_seconds()
    if isinstance(stamp, str) and stamp:
        try:
            return _age(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def bump_queue(st: WebState) -> str:
    # worker.jobs.bump_queue_name: the web may not import worker.jobs (.importlinter)
    return f"{st.settings.queue_name}-bumps"


# -- images × environments ---------------------------------------------------------------


def images(st: WebState) -> list[dict[str, Any]]:
    """One row per rule and target (``<rule>/<index>``)."""
    config = st.config
    if config is None:
        return []
    store = store_module.Store(st.redis)
    records = store.target_records()
    agents = store.agent_statuses()
    journal = decisions.DecisionLog(st.redis, limits=st.settings.decisions)
    keys = [f"{rule.name}/{index}" for rule in config.images for index in range(len(rule.targets))]
    reviewer = store.holds_and_pins(keys)
    rows = []
    for rule in config.images:
        newest = _newest_accepted(journal, rule.image, rule.name)
        gate = None
        if rule.gate is not None:
            gate = {"ci": rule.gate.ci, "held": store.held_count(rule.name)}
        for index, target in enumerate(rule.targets):
            key = f"{rule.name}/{index}"
            record = records.get(key, {})
            observed = record.get("observed") or {}
            rows.append(
                {
                    "key": key,
                    "rule": rule.name,
                    "image": rule.image,
                    "repo": target.repo,
                    "paths": target.paths,
                    "mode": target.mode,
                    "deploy": target.deploy,
                    "head": str(observed.get("head") or ""),
                    "files": sorted((observed.get("files") or {}).items()),
                    "scanned": ago(observed.get("at")),
                    "newest": newest,
                    "bump": _with_age(record.get("bump")),
                    "gate": gate,
                    "sync": _sync(target.deploy, record, agents, str(observed.get("head") or "")),
                    "commands": _commands(reviewer.get(key, {})),
                }
            )
    return rows


def _newest_accepted(
    journal: decisions.DecisionLog, image: str, rule: str
) -> dict[str, Any] | None:
    for entry in journal.recent(image=image, limit=journal.limits.per_image):
        policy_verdict = entry.get("rule") != "push-rollout"  # push mode logs rollouts too
        if entry.get("rule_name") == rule and entry.get("result") == "accepted" and policy_verdict:
            return {"candidate": entry.get("candidate"), "ago": ago(entry.get("time"))}
    return None


def _commands(marks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A reviewer's hold and pin of one target (``/bumper`` commands): what, who, via which
    PR (linked only when its URL is http(s)), since when."""
    shown = []
    for kind in ("hold", "pin"):
        entry = marks.get(kind)
        if entry is None:
            continue
        url = str(entry.get("url") or "")
        tag = str(entry.get("tag") or "")
        digest = str(entry.get("digest") or "")
        shown.append(
            {
                "what": "held"
                if kind == "hold"
                else f"pinned to {tag}{'@' + digest if digest else ''}",
                "by": str(entry.get("by") or "?"),
                "pr": str(entry.get("pr") or "?"),
                "url": url if url.startswith(("https://", "http://")) else "",
                "since": ago(entry.get("at")),
            }
        )
    return shown


def _with_age(record: Any) -> dict[str, Any] | None:
    return {**record, "ago": ago(record.get("at"))} if isinstance(record, dict) else None


def _sync(
    deploy: str, record: dict[str, Any], agents: dict[str, dict[str, Any]], head: str
) -> list[dict[str, Any]]:
    """Who applies the target and what they last said: push mode's last deploy, or each
    agent's health and whether its applied commit is the HEAD the worker last saw."""
    if deploy == "push":
        done = record.get("deploy")
        if not isinstance(done, dict):
            return [{"who": "push mode", "health": "no deploy yet", "ok": None}]
        state = str(done.get("state") or "?")
        return [
            {
                "who": "push mode",
                "health": state,
                "ok": state in ("healthy", "unchanged"),
                "commit": str(done.get("commit") or "")[:12],
                "synced": bool(head) and str(done.get("commit") or "") == head,
                "ago": ago(done.get("at")),
                "message": done.get("message") or "",
            }
        ]
    return [
        {
            "who": f"agent {name}",
            "health": str(status.get("health") or "?"),
            "ok": status.get("health") == "Healthy",
            "commit": str(status.get("commit") or "")[:12],
            "synced": bool(head) and str(status.get("commit") or "") == head,
            "ago": f"synced {ago(status.get('last_sync_time'))}, "
            f"reported {ago(status.get('reported_at'))}",
            "message": status.get("last_error") or status.get("message") or "",
        }
        for name, status in sorted(agents.items())
    ]


# -- jobs ----------------------------------------------------------------------------------


def jobs(st: WebState) -> dict[str, list[dict[str, Any]]]:
    """Jobs of the event and bump queues by state. ``failed`` are retryable from the page;
    ``dead`` (dead-lettered) are refused jobs, which never run."""
    found: dict[str, list[dict[str, Any]]] = {
        "pending": [],
        "running": [],
        "retrying": [],
        "failed": [],
        "dead": [],
    }
    for name in (st.settings.queue_name, bump_queue(st)):
        queue = rqjobs.queue(name, st.redis)
        registries = _registries(queue)
        found["pending"] += _load(st, queue.get_job_ids(0, JOBS_SHOWN))  # offset, length
        found["running"] += _load(st, registries["started"].get_job_ids(0, JOBS_SHOWN - 1))
        found["retrying"] += _load(st, registries["scheduled"].get_job_ids(0, JOBS_SHOWN - 1))
        for job in _load(st, registries["failed"].get_job_ids(0, JOBS_SHOWN - 1, desc=True)):
            found["dead" if job["dead"] else "failed"].append(job)
    return {state: entries[:JOBS_SHOWN] for state, entries in found.items()}


def _registries(queue: Queue) -> dict[str, Any]:
    name, client = queue.name, queue.connection
    job_class, serializer = rqjobs.BumperJob, rqjobs.JobSerializer
    return {
        "started": StartedJobRegistry(
            name, connection=client, job_class=job_class, serializer=serializer
        ),
        "scheduled": ScheduledJobRegistry(  # type: ignore[no-untyped-call]
            name, connection=client, job_class=job_class, serializer=serializer
        ),
        "failed": FailedJobRegistry(
            name, connection=client, job_class=job_class, serializer=serializer
        ),
    }


def _load(st: WebState, ids: Iterable[str]) -> list[dict[str, Any]]:
    wanted = [job_id.split(":", 1)[0] for job_id in ids]  # started entries: "<id>:<execution>"
    loaded = rqjobs.BumperJob.fetch_many(
        wanted, connection=st.redis, serializer=rqjobs.JobSerializer
    )
    return [job_view(job) for job in loaded if job is not None]


def job_view(job: Job) -> dict[str, Any]:
    """What the jobs panel and the event page show of one job."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    failure = meta.get("failure") if isinstance(meta.get("failure"), dict) else None
    retry = meta.get("retry") if isinstance(meta.get("retry"), dict) else None
    refusal = getattr(job, "refusal", None)
    try:
        what = job.description or job.func_name
    except DeserializationError:
        what = "unreadable job"
    status = job.get_status(refresh=False)
    return {
        "id": job.id,
        "what": str(what)[:200],
        "queue": job.origin,
        "status": status.value if status else "?",
        "enqueued": ago(job.enqueued_at),
        "ended": ago(job.ended_at) if job.ended_at else "",
        "failure": failure,
        "retry": retry,
        "retried": meta.get("retried") if isinstance(meta.get("retried"), dict) else None,
        "attempts": job.number_of_retries or 0,
        "dead": isinstance(job, rqjobs.BumperJob) and retry_module.dead_lettered(job),
        "refusal": refusal,
    }


# -- processes -----------------------------------------------------------------------------


# -- registry polling ---------------------------------------------------------------------

POLL_OK = ("ok", "baseline")


def polling(st: WebState) -> dict[str, Any]:
    """Each watched repository's last poll (when, result, tags seen, events made, webhooks it
    caught that were missed) and the totals of every worker's polls."""
    rows = [
        {**row, "ago": ago(row["last_poll"]), "ok": row["result"] in POLL_OK}
        for row in poll_state.poll_status(st.redis)
    ]
    return {"repositories": rows, "totals": poll_state.totals(st.redis)}


def promotions(st: WebState) -> list[dict[str, Any]]:
    """Per pipeline of bumper.yaml, its newest digests, each with one status per environment
    (promoted, waiting with the gate, since when and the soak left, blocked with the reason,
    pending), as the worker's last evaluation left them."""
    pipelines = st.config.pipelines if st.config else []
    store = PromotionStore(st.redis)
    now = time.time()
    shown = []
    for pipeline in pipelines:
        digests = []
        for record in store.newest(pipeline.name, DIGESTS_SHOWN):
            statuses = {str(s.get("environment")): s for s in record.get("statuses") or []}
            cells = []
            for env in pipeline.environments:
                status = statuses.get(env.name, {"state": "pending", "detail": "not evaluated"})
                since = status.get("since")
                cells.append(
                    {
                        "state": str(status.get("state")),
                        "detail": str(status.get("detail") or ""),
                        "since": ago(since) if since else "",
                        "left": promotion.left(status, now),
                    }
                )
            digest = str(record["digest"])
            digests.append({"tag": record.get("tag") or "?", "digest": digest, "cells": cells})
        shown.append(
            {
                "name": pipeline.name,
                "image": pipeline.image,
                "environments": [e.name for e in pipeline.environments],
                "digests": digests,
            }
        )
    return shown


def processes(st: WebState) -> dict[str, Any]:
    workers = []
    for worker in Worker.all(connection=st.redis):
        current = worker.get_current_job_id()
        workers.append(
            {
                "name": worker.name,
                "host": worker.hostname,
                "pid": worker.pid,
                "state": str(worker.get_state()),
                "queues": worker.queue_names(),
                "job": current or "",
                "heartbeat": ago(worker.last_heartbeat),
                "started": ago(worker.birth_date),
            }
        )
    store = store_module.Store(st.redis)
    agents = [
        {**status, "name": name, "ago": ago(status.get("reported_at"))}
        for name, status in sorted(store.agent_statuses().items())
    ]
    push = []
    records = store.target_records()
    for row in _push_targets(st):
        done = records.get(row, {}).get("deploy")
        push.append({"key": row, "deploy": _with_age(done)})
    return {
        "replicas": [
            {**r, "ago": ago(r["seen"]), "up": ago(r["started"])} for r in replicas.read(st.redis)
        ],
        "workers": workers,
        "agents": agents,
        "agents_configured": sorted(agent.name for agent in st.agents),
        "push": push,
    }


def _push_targets(st: WebState) -> list[str]:
    if st.config is None:
        return []
    return [
        f"{rule.name}/{index}"
        for rule in st.config.images
        for index, target in enumerate(rule.targets)
        if target.deploy == "push"
    ]


# -- decisions and events --------------------------------------------------------------------


def decision_page(
    st: WebState, *, image: str | None, rule: str | None, outcome: str | None, page: int
) -> dict[str, Any]:
    journal = decisions.DecisionLog(st.redis, limits=st.settings.decisions)
    entries, more = journal.page(
        image=image, rule=rule, outcome=outcome, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    for entry in entries:
        entry["when"] = _when(entry.get("time"))
    return {"entries": entries, "more": more, "page": page}


def event(st: WebState, delivery_id: str) -> dict[str, Any]:
    """One delivery: its recent-deliveries entry, its events as normalised (from their jobs,
    while RQ keeps them), the decisions made for it and the bumps they led to."""
    entry = next(
        (
            e
            for e in recent.read(st.redis, st.settings.web.recent_deliveries)
            if e.get("delivery_id") == delivery_id
        ),
        None,
    )
    job_ids = [str(j) for j in (entry or {}).get("jobs") or [] if isinstance(j, str)]
    normalised = []
    for job in rqjobs.BumperJob.fetch_many(
        job_ids, connection=st.redis, serializer=rqjobs.JobSerializer
    ):
        if job is None:
            continue
        try:
            args = list(job.args) if job.func_name == rqjobs.HANDLE_EVENT else []
        except DeserializationError:
            args = []
        normalised.append({"job": job_view(job), "event": args[0] if args else None})
    journal = decisions.DecisionLog(st.redis, limits=st.settings.decisions)
    made = [
        e
        for e in journal.recent(limit=st.settings.decisions.total)
        if e.get("delivery_id") == delivery_id
    ]
    for decision in made:
        decision["when"] = _when(decision.get("time"))
    if entry is not None:
        entry["when"] = _when(entry.get("time"))
    return {
        "delivery": entry,
        "events": normalised,
        "decisions": made,
        "missing_jobs": len(job_ids) - len(normalised),
    }


def _when(stamp: Any) -> str:
    if isinstance(stamp, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
    return "?"
