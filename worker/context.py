"""The worker's context: everything a job needs, built once per worker process.

``current()`` returns the process-wide ``WorkerContext``, rebuilt only when the settings or the
config file (path, size, mtime) change. ``bumper worker`` builds it before RQ forks its work
horses, so a job does not parse bumper.yaml again (that costs ~0.3 s for 200 images); an
edited file is still picked up by the next job. The context is complete when built (its
forges included) and never changed afterwards.

Must not: route, bump or deploy (``bump``, ``pullrequests``, ``pushdeploy`` do), or import rq.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import redis

from bumper import configfile, decisions, gitrepo, jobmetrics, redisconn, settings
from bumper.core import config, events, policy
from bumper.scm import failures
from bumper.settings import DecisionLogSettings, WorkerSettings
from worker import effect, pullrequests, remotes, store

log = logging.getLogger("bumper.worker")


class LogDecision(Protocol):
    """Writes one verdict to the decision log (``bumper.decisions``)."""

    def __call__(
        self,
        decision: policy.Decision,
        *,
        rule: config.Image,
        event: dict[str, Any],
        target: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class WorkerContext:
    """What a job needs; see the module docstring."""

    config: config.BumperConfig
    store: store.Store
    cache: gitrepo.RepoCache
    settings: WorkerSettings
    log: LogDecision
    forges: pullrequests.Forges  # the PR/MR side, and clone URLs of forge repos
    config_dir: Path  # where relative paths and file: secrets of bumper.yaml resolve
    metrics: jobmetrics.Recorder  # the worker's metrics, kept in Redis (docs/metrics.md)


def build(current: settings.Settings) -> WorkerContext:
    """A complete context for ``current`` settings (reads bumper.yaml; connects lazily)."""
    cfg = configfile.load(current.config_file)
    client = redisconn.connect(current, redisconn.Role.WORKER)
    repo_store = store.Store(client)
    config_dir = current.config_dir()
    recorder = jobmetrics.Recorder(client)
    failures.listen(forge_observer(recorder))
    return WorkerContext(
        config=cfg,
        store=repo_store,
        cache=gitrepo.RepoCache(
            current.worker.cache_dir.resolve(),
            on_race=lambda cause: recorder.inc(jobmetrics.PUSH_RETRIES, cause),
        ),
        settings=current.worker,
        log=decision_logger(client, current.decisions),
        forges=pullrequests.Forges(
            cfg,
            repo_store,
            read_token=lambda repo: remotes.token(repo, config_dir),
            tools=effect.Tools.from_settings(current.worker),
        ),
        config_dir=config_dir,
        metrics=recorder,
    )


def forge_observer(recorder: jobmetrics.Recorder) -> failures.Listener:
    """Counts each forge reply by status, and keeps the rate limit it says is left."""

    def observe(forge: str, host: str, status: int | None, headers: Mapping[str, str]) -> None:
        recorder.inc(jobmetrics.FORGE_REQUESTS, forge, host, str(status or "error"))
        remaining = failures.rate_limit_remaining(headers)
        if remaining is not None:
            recorder.set(jobmetrics.FORGE_RATE_LIMIT, remaining, forge, host)

    return observe


class _Contexts:
    """The process-wide context, rebuilt when the settings or the config file changed."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._ctx: WorkerContext | None = None
        self._environ: tuple[tuple[str, str], ...] | None = None
        self._settings: settings.Settings | None = None

    def __call__(self) -> WorkerContext:
        current = self.loaded()
        try:
            stat = current.config_file.stat()
            version: tuple[Any, ...] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            version = ()
        key = (current.model_dump_json(), str(current.config_file.resolve()), version)
        if self._ctx is None or key != self._key:
            self._ctx = build(current)
            self._key = key
        return self._ctx

    def loaded(self) -> settings.Settings:
        """``settings.load()``, parsed again only when a ``BUMPER_*`` variable changed: it
        costs milliseconds, and every job asks (issue 18: webhook → PR latency)."""
        environ = settings.environment_fingerprint()
        if self._settings is None or environ != self._environ:
            self._settings, self._environ = settings.load(), environ
        return self._settings

    def cache_clear(self) -> None:
        self._key, self._ctx = None, None
        self._environ, self._settings = None, None


current = _Contexts()


def decision_logger(client: redis.Redis, limits: DecisionLogSettings) -> LogDecision:
    """Verdicts go to the bounded decision log that ``bumper log`` and the dashboard read."""
    journal = decisions.DecisionLog(client, limits=limits)

    def write(
        decision: policy.Decision,
        *,
        rule: config.Image,
        event: dict[str, Any],
        target: str | None = None,
    ) -> None:
        try:
            parsed: events.Event | None = events.from_dict(event) if event else None
        except (TypeError, ValueError):
            parsed = None
        log.info(
            "decision %s %s: %s (%s)", rule.name, decision.result, decision.candidate, decision.why
        )
        journal.record(decision, image=rule.image, rule_name=rule.name, target=target, event=parsed)

    return write
