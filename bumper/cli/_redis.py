"""Which Redis the CLI reads (``bumper log``, ``bumper retry``): ``BUMPER_REDIS_URL`` when set;
otherwise, run inside a checkout where ``make run`` is running, the quickstart's Redis, whose
URL it writes to ``.quickstart/redis-url`` (its port changes on each start)."""

from __future__ import annotations

from pathlib import Path

from bumper import quickstart, settings


def load_settings(cwd: Path | None = None) -> settings.Settings:
    current = settings.load()
    if "redis_url" in current.model_fields_set:  # BUMPER_REDIS_URL was given
        return current
    url = quickstart.running_redis_url(cwd or Path.cwd())
    return current.model_copy(update={"redis_url": url}) if url else current
