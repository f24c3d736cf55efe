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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUMPER_", env_nested_delimiter="__")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for the queue, dedup keys and logs"
    )
    config_file: Path = Field(Path("bumper.yaml"), description="path of bumper.yaml")
    queue_name: str = Field("bumper", description="RQ queue the receiver enqueues on")
    decisions: DecisionLogSettings = Field(default_factory=DecisionLogSettings)


def load() -> Settings:
    return Settings()
