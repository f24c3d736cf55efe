"""The agent's configuration: command-line flags > ``BUMPER_AGENT__<FIELD>`` env > a YAML file.

The YAML file is what the Helm chart mounts from its ConfigMap (``--config``); keys are the
field names below (``repo_url``, ``branch``...). Secrets are never values here, only paths of
files (mounted Secrets): ``git_token_file``, ``ssh_key_file``, ``webhook_secret_file``,
``forge_token_file``, ``report_token_file``. A relative path in the YAML file is relative to
the file's directory (``bumper.secrets.locate``); one from a flag or the environment, to the
current directory. A removed field (``REMOVED``: ``redis_url``) is a one-line error pointing
at its replacement.

The environment follows Bumper's one scheme (``bumper.settings``); the old
``BUMPER_AGENT_<FIELD>`` names are accepted for one release, with a warning.
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bumper import secrets, settings
from bumper.core import urls
from bumper.errors import ConfigError

ENV_PREFIX = "BUMPER_AGENT__"
# An allowed remote names a host and at least the "/" after it: never "https://" or "" alone.
REMOTE_PREFIX = re.compile(
    r"^([a-z][a-z0-9+.-]*://[^/\s?#@]+/|git@[^:\s/]+:|[\w-]+(\.[\w-]+)+(:\d+)?/)\S*$"
)


class AgentConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    name: str = Field(
        "bumper-agent",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$",
        description="instance name: label value on owned objects, prefix of state ConfigMaps",
    )
    repo_url: str = Field(
        min_length=1, description="config repo (https://, ssh://, git@host:path or a path)"
    )
    branch: str = Field("main", description="branch to follow")
    paths: list[str] = Field(default_factory=lambda: ["."], description="dirs to render")
    render: Literal["plain", "kustomize", "helm"] = Field(
        "plain", description="how paths become manifests: plain, kustomize or helm"
    )
    helm_release: str = Field("release", description="release name for helm template")
    helm_values: list[str] = Field(default_factory=list, description="values files in the repo")
    helm_bin: str = Field("helm", description="helm executable")
    kustomize_bin: str | None = Field(
        None,
        description="kustomize executable (default: kustomize on PATH, else kubectl kustomize)",
    )

    interval: float = Field(60.0, gt=0, description="seconds between polls and drift checks")
    health_timeout: float = Field(300.0, gt=0, description="seconds a rollout may take")
    scope: Literal["cluster", "namespace"] = Field(
        "cluster", description="cluster, or namespace: only objects in namespace"
    )
    namespace: str = Field("default", description="default namespace; the only one if scoped")
    state_namespace: str | None = Field(
        None, description="where inventory/status/bad-images live (default: the pod's namespace)"
    )
    field_manager: str = Field("bumper-agent", description="server-side apply field manager")
    conflicts: Literal["force", "fail"] = Field(
        "force", description="force: Git wins over other field managers; fail: report"
    )
    prune: bool = Field(True, description="delete owned objects that left the render")
    max_shrink: float = Field(0.5, ge=0, le=1, description="largest prunable share")
    force_prune: bool = Field(False, description="prune even an empty or much smaller render")
    rollback: bool = Field(True, description="roll back a rollout that fails its health check")
    workers: int = Field(16, ge=1, le=64, description="concurrent API requests while applying")

    git_token_file: Path | None = Field(None, description="file holding an HTTPS token (read-only)")
    git_username: str = Field("x-access-token", description="user name sent with the token")
    ssh_key_file: Path | None = Field(None, description="SSH deploy key file")
    ssh_known_hosts: Path | None = Field(None, description="known_hosts file for an SSH remote")
    allowed_signers_file: Path | None = Field(
        None, description="SSH allowed signers: only signed commits are applied"
    )
    gpg_keys_file: Path | None = Field(
        None, description="armored GPG public keys: only signed commits are applied"
    )

    allow_rewind: bool = Field(
        False, description="apply a tip that does not descend from the last applied commit"
    )
    max_verified_commits: int = Field(
        500, ge=1, le=100_000, description="new commits one sync may verify; more is refused"
    )
    allowed_remotes: list[str] = Field(
        default_factory=list,
        description="URL prefixes kustomize and helm may fetch from (default: none)",
    )

    listen: str = Field("0.0.0.0:8080", description="host:port of /healthz /metrics /hooks/git")
    webhook_secret_file: Path | None = Field(None, description="secret of POST /hooks/git")

    kubeconfig: Path | None = Field(None, description="kubeconfig (default: in-cluster)")
    kube_context: str | None = Field(None, description="kubeconfig context")
    server: str | None = Field(None, description="API server URL (with token_file/ca_file)")
    token_file: Path | None = Field(None, description="API bearer token file (with server)")
    ca_file: Path | None = Field(None, description="CA bundle of the API server")

    cache_dir: Path = Field(Path("/tmp/bumper-agent"), description="git mirror and checkouts")
    report_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="base URL of Bumper's web process: bad images and health are reported to "
        "its POST /agent/v1/reports (needs report_token_file)",
    )
    report_token_file: Path | None = Field(
        None, description="file holding this agent's report token (bumper.yaml's agents)"
    )
    bad_images_configmap: str = Field(
        "bumper-bad-images", description="ConfigMap recording images that failed to roll out"
    )
    forge: Literal["none", "github", "gitlab"] = Field(
        "none", description="none, github or gitlab: commit statuses and revert requests"
    )
    forge_api_url: str | None = Field(None, description="forge API base URL")
    forge_repo: str | None = Field(None, description="owner/name (GitHub) or project path (GitLab)")
    forge_token_file: Path | None = Field(None, description="forge token file")

    @field_validator("repo_url", "forge_api_url", "server", "report_url")
    @classmethod
    def _no_inline_credentials(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            instead = {
                "repo_url": "git_token_file",
                "forge_api_url": "forge_token_file",
                "report_url": "report_token_file",
            }
            urls.refuse_inline_credentials(
                value, instead=instead.get(info.field_name or "", "token_file")
            )
        return value

    @field_validator("allowed_remotes")
    @classmethod
    def _remote_prefixes(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            if not REMOTE_PREFIX.match(prefix):
                raise ValueError(
                    f"{prefix!r} is not a URL prefix with a host and a path "
                    "(https://host/org/, git@host:org/, host/org/)"
                )
        return prefixes

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.forge != "none" and not (self.forge_repo and self.forge_token_file):
            raise ValueError("forge needs forge_repo and forge_token_file")
        if self.server and not self.token_file:
            raise ValueError("server needs token_file")
        if bool(self.report_url) != bool(self.report_token_file):
            raise ValueError("report_url and report_token_file go together")
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
        settings.accept_renamed(env_settings, RENAMED)
        if isinstance(env_settings, EnvSettingsSource):
            _refuse_removed(set(env_settings.env_vars))
        return (init_settings, env_settings, _FileSource(settings_cls))


# Fields that are gone, and what replaces them: a config still naming one is refused at start.
REMOVED = {
    "redis_url": "the agent no longer writes to Redis; set report_url and report_token_file "
    "instead (CHANGELOG.md, migration note 'agent: redis_url → report_url')",
}


def _refuse_removed(names: set[str]) -> None:
    """A ``ConfigError`` if ``names`` (config file keys, or environment variable names as
    pydantic-settings folds them) hold a removed field."""
    for field, instead in REMOVED.items():
        spellings = {field, f"{ENV_PREFIX}{field}".lower(), f"BUMPER_AGENT_{field}".lower()}
        if spellings & {name.lower() for name in names}:
            raise ConfigError(f"agent config: {field} is no longer supported: {instead}")


# The agent's names before the one scheme (``BUMPER_AGENT_REPO_URL``), for one release.
RENAMED = {
    f"BUMPER_AGENT_{name.upper()}": f"{ENV_PREFIX}{name.upper()}"
    for name in AgentConfig.model_fields
}
# Fields holding a path of a file the agent reads: relative to the YAML file that names them.
FILE_FIELDS = frozenset(
    name
    for name in AgentConfig.model_fields
    if name.endswith("_file") or name in ("ssh_known_hosts", "kubeconfig")
)


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
        _refuse_removed(set(loaded))
        values.update(_located(loaded, config_file.resolve().parent))
    token = _FILE_VALUES.set(values)
    try:
        return AgentConfig(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"agent config: {where}: {first['msg']}") from error
    finally:
        _FILE_VALUES.reset(token)


def _located(values: dict[str, Any], base: Path) -> dict[str, Any]:
    """The file's values, its relative file paths made relative to ``base`` (its directory)."""
    return {
        key: str(secrets.locate(value, base))
        if key in FILE_FIELDS and isinstance(value, str) and value
        else value
        for key, value in values.items()
    }
