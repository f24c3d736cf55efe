"""Process settings (``BUMPER_*`` environment variables), loaded once by each entry point.

``load()`` is called in ``create_app``, the worker entry point and the agent ``main``;
nothing else reads ``os.environ``. Each area adds its own nested section.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        Path(".bumper-cache"), description="git mirrors and per-job work trees of config repos"
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
        description="a new bump job waits this long after being enqueued, so a burst of pushes "
        "for one target becomes one commit with the newest tag",
    )
    job_timeout_seconds: int = Field(600, gt=0, description="RQ timeout of a bump job")
    lock_wait_seconds: float = Field(
        30.0, gt=0, description="wait for another bump of the same repo before retrying later"
    )
    ci_result_ttl_seconds: int = Field(
        7 * 86_400, gt=0, description="how long a CI result is kept for pushes that come later"
    )


class WebSettings(BaseModel):
    """The webhook receiver (``BUMPER_WEB__<FIELD>``), read by ``create_app`` and gunicorn."""

    bind: str = Field("0.0.0.0:8000", description="gunicorn listen address (host:port)")
    workers: int = Field(
        0,
        ge=0,
        description="gunicorn worker processes; 0 means CPU cores + 1 with threads, "
        "2 x cores + 1 without",
    )
    threads: int = Field(
        4,
        ge=1,
        description="threads per worker (gthread worker: keep-alive, and a slow client holds "
        "one thread, not a whole process); 1 selects gunicorn's sync worker",
    )
    timeout_seconds: int = Field(30, gt=0, description="gunicorn worker timeout")
    pin_workers: bool = Field(
        True,
        description="pin each gthread worker (THREADS > 1) to one CPU, spread evenly over the "
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

    def pins_workers(self, cpus: int) -> bool:
        """Whether gunicorn pins each worker to one of ``cpus`` CPUs (see ``gunicorn_conf``).

        A sync worker (one thread) has no GIL to pass around: the scheduler places it freely.
        """
        return self.pin_workers and self.threads > 1 and cpus > 1

    def worker_count(self, cpus: int) -> int:
        """gunicorn workers for ``cpus`` cores when ``workers`` is 0."""
        if self.workers:
            return self.workers
        return cpus + 1 if self.threads > 1 else 2 * cpus + 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUMPER_", env_nested_delimiter="__")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for the queue, dedup keys and logs"
    )
    config_file: Path = Field(Path("bumper.yaml"), description="path of bumper.yaml")
    queue_name: str = Field("bumper", description="RQ queue the receiver enqueues on")
    decisions: DecisionLogSettings = Field(default_factory=DecisionLogSettings)
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings())
    web: WebSettings = Field(default_factory=WebSettings)


def load() -> Settings:
    return Settings()
