"""Process settings: ``BUMPER_*`` environment variables, one scheme for every process.

The scheme: ``BUMPER_<FIELD>`` for the few settings every process shares (``BUMPER_REDIS_URL``,
``BUMPER_CONFIG_FILE``, ``BUMPER_QUEUE_NAME``), and ``BUMPER_<SECTION>__<FIELD>`` for the rest,
one section per process or concern: ``WEB``, ``WORKER``, ``DECISIONS``, ``LOG``, ``RUN``
(``bumper run``) and ``AGENT`` (``bumper/agent/config.py``). The double underscore is the
only separator that cannot occur inside a field name, so every variable maps to exactly one
field and back; pydantic-settings reads it natively. docs/settings.md lists every variable,
generated from these models (``bumper.settingsdoc``).

Old names are accepted for one release with a one-line deprecation warning (``RENAMED``
here, ``bumper.agent.config.RENAMED`` for the agent's ``BUMPER_AGENT_<FIELD>``).

Entry points load settings once: ``create_app`` and ``gunicorn_conf`` (web), ``bumper worker``
and its jobs, ``bumper agent``, ``bumper run``. Nothing else reads ``os.environ`` for a setting
(tests/test_settings.py checks); secrets named by ``{env: NAME}`` are read by ``bumper.secrets``.
Must not: import anything heavier than pydantic (the agent imports this module).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bumper import secrets
from bumper.core import urls
from bumper.errors import ConfigError

log = logging.getLogger("bumper.settings")

_S = TypeVar("_S", bound=BaseSettings)


class DecisionLogSettings(BaseModel):
    """Bounds of the decision log in Redis (``BUMPER_DECISIONS__TOTAL`` etc.)."""

    total: int = Field(1000, gt=0, description="entries kept in the global list, newest first")
    per_image: int = Field(200, gt=0, description="entries kept per image")
    image_ttl_seconds: int = Field(
        30 * 86400, gt=0, description="a per-image list expires after this long without entries"
    )


class WorkerSettings(BaseModel):
    """The bump worker (``BUMPER_WORKER__<FIELD>``), read by ``bumper worker`` and its jobs."""

    cache_dir: Path = Field(
        Path(".bumper-cache"),
        description="git mirrors and the work trees of config repos kept for the worker's jobs",
    )
    retry_max: int = Field(10, ge=1, description="retries of a job failing with a transient error")
    retry_base_seconds: float = Field(
        1.0, gt=0, description="first retry delay; doubles per retry (a forge's wait wins)"
    )
    retry_cap_seconds: float = Field(600.0, gt=0, description="longest delay between retries")
    crash_retries: int = Field(3, ge=0, description="re-runs of a job whose worker died mid-job")
    abandoned_after_seconds: int = Field(
        60,
        ge=3,
        description="a job whose worker stopped sending heartbeats (killed, OOM, node lost) this "
        "long ago is re-run by the next worker that looks; workers look this often",
    )
    coalesce_seconds: float = Field(
        0.1,
        ge=0,
        description="while a burst of pushes for one target is arriving (more than one waiting, "
        "or more came while the first run prepared its change), the bump waits until this long "
        "after its enqueue, so the burst becomes one commit with the newest tag; a lone push is "
        "bumped at once",
    )
    job_timeout_seconds: int = Field(600, gt=0, description="RQ timeout of a bump job")
    lock_wait_seconds: float = Field(
        30.0, gt=0, description="wait for another bump of the same repo before retrying later"
    )
    ci_result_ttl_seconds: int = Field(
        7 * 86_400, gt=0, description="how long a CI result is kept for pushes that come later"
    )
    render_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="a PR's rendered effect in the cluster (targets with pr_render: true): the "
        "time all its renders together may take, before and after the change",
    )
    helm_bin: str = Field(
        "helm", min_length=1, description="helm executable (pr_render, deploy: push)"
    )
    kustomize_bin: str | None = Field(
        None,
        min_length=1,
        description="kustomize executable (pr_render, deploy: push); unset: kustomize, else "
        "kubectl kustomize, from PATH",
    )
    poll_tick_seconds: float = Field(
        10.0,
        ge=0.5,
        le=3600,
        description="registry polling: how often the one polling job looks for repositories "
        "whose poll interval ran out (bumper.yaml's poll: sets the intervals)",
    )
    promotion_tick_seconds: float = Field(
        15.0,
        ge=0.5,
        le=3600,
        description="how often promotion pipelines are evaluated without a report (soak timers)",
    )


class WebSettings(BaseModel):
    """The webhook receiver (``BUMPER_WEB__<FIELD>``), read by ``create_app`` and gunicorn."""

    bind: str = Field(
        "127.0.0.1:8000",
        description="gunicorn listen address (host:port); the Procfile and containers listen on "
        "0.0.0.0 explicitly, behind a proxy (docs/receiver.md)",
    )
    ops_bind: str = Field(
        "127.0.0.1:8001",
        description="second gunicorn listen address (host:port or unix:PATH) for the dashboard, "
        "/metrics and the detailed /readyz; they answer 404 on BIND. Empty: no operations "
        "listener. Its port must differ from BIND's",
    )
    workers: int = Field(
        0,
        ge=0,
        description="gunicorn worker processes; 0 means CPU cores + 1 with THREADS > 1, "
        "2 x cores + 1 with one thread",
    )
    threads: int = Field(
        4,
        ge=1,
        description="threads per worker that run the app; a request is read whole before it "
        "takes a thread (bumper.web.serving), so a slow client holds none",
    )
    timeout_seconds: int = Field(30, gt=0, description="gunicorn worker timeout")
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a client must send its request line and headers within this long of "
        "connecting (or of its first byte on a kept-alive connection), else 408 and close",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="then its whole body within this long (and read the reply within it), "
        "else 408 and close",
    )
    max_connections: int = Field(
        1000,
        ge=2,
        description="open connections per worker; at the bound the oldest one not being served "
        "(still sending, or idle) is closed, 503 if it was sending, so new clients are still read",
    )
    buffer_bytes: int = Field(
        32 * 1_048_576,
        gt=0,
        description="request bytes a worker may hold while requests arrive; over it the oldest "
        "connections still sending are closed (503). At least MAX_BODY_BYTES + 64 KiB",
    )
    pin_workers: bool = Field(
        True,
        description="pin each worker with THREADS > 1 to one CPU, spread evenly over the "
        "CPUs the process may use: a worker's threads share one GIL, and handing it between "
        "cores costs more than the work (+16 % deliveries/s on 2 cores, see bench/ingest.py)",
    )
    max_body_bytes: int = Field(
        4 * 1_048_576,
        gt=0,
        description="hard cap on any request body, bytes; each receiver may set a lower one",
    )
    dedup_window_seconds: int = Field(
        86_400,
        gt=0,
        description="how long a delivery id / body hash is remembered; a replay inside the "
        "window answers 200 'duplicate'. One day covers senders' automatic and manual retries",
    )
    redis_timeout_seconds: float = Field(
        1.0,
        gt=0,
        description="socket connect/read timeout towards Redis; an outage answers 503 this fast",
    )
    wait_replicas: int = Field(
        0,
        ge=0,
        description="after enqueueing, wait (Redis WAIT) until this many replicas hold the job "
        "before answering 202; fewer acknowledgements answer 503 so the sender retries",
    )
    wait_timeout_ms: int = Field(200, ge=0, description="longest WAIT for replicas, ms")
    retry_after_seconds: int = Field(
        10, gt=0, description="Retry-After sent with 503 when Redis is unreachable"
    )
    recent_deliveries: int = Field(
        200, ge=0, description="deliveries kept in Redis for the dashboard (bounded list)"
    )

    @field_validator("ops_bind")
    @classmethod
    def _ops_bind_parses(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @model_validator(mode="after")
    def _listeners_and_buffer(self) -> WebSettings:
        # The app tells the listeners apart by the local port of each connection.
        if self.ops_bind and listen_address(self.ops_bind) == listen_address(self.bind):
            raise ValueError("OPS_BIND must not use the same port (or socket) as BIND")
        if self.buffer_bytes < self.max_body_bytes + 65_536:
            raise ValueError("BUFFER_BYTES must be at least MAX_BODY_BYTES + 65536 (one request)")
        return self

    def pins_workers(self, cpus: int) -> bool:
        """Whether gunicorn pins each worker to one of ``cpus`` CPUs (see ``gunicorn_conf``).

        A worker with one app thread passes the GIL only between it and the event loop that
        reads requests: the scheduler places it freely.
        """
        return self.pin_workers and self.threads > 1 and cpus > 1

    def worker_count(self, cpus: int) -> int:
        """gunicorn workers for ``cpus`` cores when ``workers`` is 0."""
        if self.workers:
            return self.workers
        return cpus + 1 if self.threads > 1 else 2 * cpus + 1


def listen_address(bind: str) -> int | str:
    """What identifies a gunicorn bind among the listeners of one process: its TCP port, or
    the path of a ``unix:`` socket. ``ValueError`` for anything else (gunicorn's ``fd://``)."""
    if bind.startswith("unix:"):
        path = bind[5:]
        if not path:
            raise ValueError("unix: needs a socket path")
        return path
    _, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port (or unix:PATH)")
    return int(port)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
"""Log levels a setting or ``--log-level`` may name."""


class LogSettings(BaseModel):
    """Log lines of every process (``BUMPER_LOG__<FIELD>``), see ``bumper.logs``."""

    format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object per line (time, level, logger, message, context); "
        "text: readable lines; auto: text when stderr is a terminal, else json",
    )
    level: str = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR; a --log-level flag overrides it"
    )
    rq_level: str = Field(
        "WARNING", description="level of RQ's own loggers in the worker (INFO shows each job)"
    )

    @field_validator("level", "rq_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        if isinstance(value, str) and value.upper() in LEVELS:
            return value.upper()
        raise ValueError(f"must be one of {', '.join(LEVELS)}")


class RunSettings(BaseModel):
    """``bumper run``, the quickstart launcher (``BUMPER_RUN__<FIELD>``)."""

    port: int = Field(8080, gt=0, lt=65536, description="web port on 127.0.0.1")
    ops_port: int = Field(
        8081, gt=0, lt=65536, description="dashboard and /metrics port on 127.0.0.1"
    )
    redis_port: int = Field(
        0, ge=0, lt=65536, description="port of the quickstart's Redis; 0 picks a free one"
    )


# Old name → canonical name, accepted for one release with a warning.
RENAMED: dict[str, str] = {"PORT": "BUMPER_RUN__PORT", "REDIS_PORT": "BUMPER_RUN__REDIS_PORT"}

_CONFIG = SettingsConfigDict(env_prefix="BUMPER_", env_nested_delimiter="__")


class _Renamed(BaseSettings):
    """A settings class whose old variable names still work (``renamed``), with a warning."""

    @classmethod
    def renamed(cls) -> Mapping[str, str]:
        return {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        accept_renamed(env_settings, cls.renamed())
        return (init_settings, env_settings)


def accept_renamed(source: PydanticBaseSettingsSource, renamed: Mapping[str, str]) -> None:
    """Let ``source`` (pydantic-settings' environment reader) see each old name's value under
    its new name, unless the new name is set too; warn once per old name in use."""
    if not isinstance(source, EnvSettingsSource) or not renamed:
        return
    env_vars = dict(source.env_vars)
    # pydantic-settings lower-cases names unless the class is case sensitive
    fold = (lambda name: name) if source.case_sensitive else str.lower
    for old, new in renamed.items():
        value = env_vars.get(fold(old))
        if value is None:
            continue
        _warn_renamed(old, new)
        env_vars.setdefault(fold(new), value)
    source.env_vars = env_vars


_warned: set[str] = set()


def _warn_renamed(old: str, new: str) -> None:
    if old in _warned:  # the worker loads settings for every job
        return
    _warned.add(old)
    log.warning("%s is deprecated and will be ignored in the next release: use %s", old, new)


class Settings(_Renamed):
    model_config = _CONFIG

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description=(
            "Redis for the queue, dedup keys and logs: redis://, rediss:// (TLS) or "
            "redis+sentinel://host:port[,host:port]/service_name[/db] (docs/redis.md); "
            "never with a password in it"
        ),
    )
    redis_ca_file: Path | None = Field(
        None,
        description="CA bundle that verifies a rediss:// (or rediss+sentinel://) server; "
        "default: the system's CAs",
    )
    redis_password_file: Path | None = Field(
        None, description="file holding the Redis password (AUTH), read at start"
    )
    redis_sentinel_password_file: Path | None = Field(
        None,
        description="file holding the Sentinels' own password (their requirepass), read at "
        "start; only with a redis+sentinel:// URL (the primary's is redis_password_file)",
    )
    config_file: Path = Field(Path("bumper.yaml"), description="path of bumper.yaml")
    queue_name: str = Field("bumper", description="RQ queue the receiver enqueues on")
    decisions: DecisionLogSettings = Field(default_factory=DecisionLogSettings)
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings())
    web: WebSettings = Field(default_factory=WebSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("redis_url")
    @classmethod
    def _no_inline_password(cls, value: str) -> str:
        # The variable is inherited by every child process (git, gpg, kubectl); a file is not.
        return urls.refuse_inline_credentials(value, instead="BUMPER_REDIS_PASSWORD_FILE")

    def config_dir(self) -> Path:
        """bumper.yaml's directory: the base of its relative paths (``bumper.secrets``)."""
        return self.config_file.resolve().parent

    def redis_password(self) -> str | None:
        """The Redis password from ``redis_password_file``, or None; ``ConfigError`` if unreadable.
        Every Redis client is made with it by ``bumper.redisconn.connect``."""
        if self.redis_password_file is None:
            return None
        return secrets.read_file(self.redis_password_file, "Redis password")

    def redis_sentinel_password(self) -> str | None:
        """The Sentinels' password from ``redis_sentinel_password_file``, or None;
        ``ConfigError`` if unreadable. ``bumper.redisconn.connect`` asks the Sentinels with it."""
        if self.redis_sentinel_password_file is None:
            return None
        return secrets.read_file(self.redis_sentinel_password_file, "Redis Sentinel password")


class _LogOnly(_Renamed):
    model_config = _CONFIG

    log: LogSettings = Field(default_factory=LogSettings)


class _RunOnly(_Renamed):
    model_config = _CONFIG

    run: RunSettings = Field(default_factory=RunSettings)

    @classmethod
    def renamed(cls) -> Mapping[str, str]:
        return RENAMED


def load() -> Settings:
    """The settings of web and worker; a bad value is a ``ConfigError`` naming the variable."""
    return _checked(Settings)


def environment_fingerprint() -> tuple[tuple[str, str], ...]:
    """Every ``BUMPER_*`` variable and its value (case-insensitive, as pydantic-settings reads
    them): equal fingerprints give equal ``load()`` results, so a caller may keep its copy."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("BUMPER_")))


def load_log() -> LogSettings:
    """Only ``BUMPER_LOG__*``: what every process needs before its other settings."""
    return _checked(_LogOnly).log


def load_run() -> RunSettings:
    """Only ``BUMPER_RUN__*`` (old names ``PORT``, ``REDIS_PORT``), for ``bumper run``."""
    return _checked(_RunOnly).run


def _checked(cls: type[_S]) -> _S:
    try:
        return cls()
    except ValidationError as error:
        raise ConfigError(f"settings: {describe(error, cls.model_config)}") from None


def describe(error: ValidationError, config: SettingsConfigDict) -> str:
    """The first problem as ``VARIABLE: message``, never the value (it may be anything)."""
    first = error.errors()[0]
    prefix = str(config.get("env_prefix") or "")
    delimiter = str(config.get("env_nested_delimiter") or "_")
    name = prefix + delimiter.join(str(part) for part in first["loc"]).upper()
    return f"{name}: {str(first['msg']).removeprefix('Value error, ')}"
