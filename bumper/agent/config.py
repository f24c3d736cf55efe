"""The agent's configuration: command-line flags > ``BUMPER_AGENT_*`` env > a YAML file.

The YAML file is what the Helm chart mounts from its ConfigMap (``--config``); keys are the
field names below (``repo_url``, ``branch``...). Secrets are never values here, only paths of
files (mounted Secrets): ``git_token_file``, ``ssh_key_file``, ``webhook_secret_file``,
``forge_token_file``.
"""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bumper.errors import ConfigError


class AgentConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUMPER_AGENT_", extra="forbid", frozen=True)

    name: str = Field(
        "bumper-agent",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$",
        description="instance name: label value on owned objects, prefix of state ConfigMaps",
    )
    repo_url: str = Field(
        min_length=1, description="config repo (https://, ssh://, git@host:path or a path)"
    )
    branch: str = "main"
    paths: list[str] = Field(default_factory=lambda: ["."], description="dirs to render")
    render: Literal["plain", "kustomize", "helm"] = "plain"
    helm_release: str = "release"
    helm_values: list[str] = Field(default_factory=list, description="values files in the repo")
    helm_bin: str = "helm"
    kustomize_bin: str | None = None

    interval: float = Field(60.0, gt=0, description="seconds between polls and drift checks")
    health_timeout: float = Field(300.0, gt=0, description="seconds a rollout may take")
    scope: Literal["cluster", "namespace"] = "cluster"
    namespace: str = Field("default", description="default namespace; the only one if scoped")
    state_namespace: str | None = Field(
        None, description="where inventory/status/bad-images live (default: the pod's namespace)"
    )
    field_manager: str = "bumper-agent"
    conflicts: Literal["force", "fail"] = "force"
    prune: bool = True
    max_shrink: float = Field(0.5, ge=0, le=1, description="largest prunable share")
    force_prune: bool = False
    rollback: bool = True
    workers: int = Field(8, ge=1, le=64)

    git_token_file: Path | None = None
    git_username: str = "x-access-token"
    ssh_key_file: Path | None = None
    ssh_known_hosts: Path | None = None
    allowed_signers_file: Path | None = None
    gpg_keys_file: Path | None = None

    listen: str = Field("0.0.0.0:8080", description="host:port of /healthz /metrics /hooks/git")
    webhook_secret_file: Path | None = None

    kubeconfig: Path | None = None
    kube_context: str | None = None
    server: str | None = Field(None, description="API server URL (with token_file/ca_file)")
    token_file: Path | None = None
    ca_file: Path | None = None

    cache_dir: Path = Path("/tmp/bumper-agent")
    redis_url: str | None = None
    bad_images_configmap: str = "bumper-bad-images"
    forge: Literal["none", "github", "gitlab"] = "none"
    forge_api_url: str | None = None
    forge_repo: str | None = None
    forge_token_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.forge != "none" and not (self.forge_repo and self.forge_token_file):
            raise ValueError("forge needs forge_repo and forge_token_file")
        if self.server and not self.token_file:
            raise ValueError("server needs token_file")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))


_FILE_VALUES: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("agent_file")


class _FileSource(PydanticBaseSettingsSource):
    """The YAML config file, lowest precedence (the chart's ConfigMap)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _FILE_VALUES.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get({}))


def load(flags: dict[str, Any], config_file: Path | None = None) -> AgentConfig:
    """Merge file < env < flags (flags that are ``None`` were not given)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read agent config {config_file}: {error}") from error
        if not isinstance(loaded, dict):
            raise ConfigError(f"agent config {config_file} is not a mapping")
        values.update(loaded)
    token = _FILE_VALUES.set(values)
    try:
        return AgentConfig(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"agent config: {where}: {first['msg']}") from error
    finally:
        _FILE_VALUES.reset(token)
