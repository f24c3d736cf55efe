"""Assemble an ``Agent`` from its config and run it (once, or as a service with HTTP)."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from bumper import secrets
from bumper.agent import forge, kube, reporter, runner, server
from bumper.agent import source as git
from bumper.agent.config import AgentConfig
from bumper.core import strength
from bumper.errors import ConfigError

log = logging.getLogger("bumper.agent")


def connection(cfg: AgentConfig) -> kube.Connection:
    """Explicit server+token, else a kubeconfig, else the in-cluster ServiceAccount."""
    if cfg.server:
        return kube.Connection(
            server=cfg.server.rstrip("/"),
            ca_file=str(cfg.ca_file) if cfg.ca_file else None,
            token_file=str(cfg.token_file) if cfg.token_file else None,
        )
    if cfg.kubeconfig:
        return kube.from_kubeconfig(cfg.kubeconfig, cfg.kube_context)
    return kube.in_cluster()


def _secret(path: Path | None, what: str) -> str | None:
    """A secret file's value (``bumper.secrets``); the config already located the path."""
    return None if path is None else secrets.read_file(path, what)


def _shared_secret(path: Path | None, what: str) -> str | None:
    """A secret this agent shares with a sender or the web process: at least 16 bytes
    (``core.strength``). Errors name the file, never the value."""
    value = _secret(path, what)
    if value is None:
        return None
    try:
        strength.check(value, what)
    except ConfigError as error:
        raise ConfigError(f"{error} (file {path})", reason="secret") from None
    return value


def build(cfg: AgentConfig) -> runner.Agent:
    client = kube.Client(connection(cfg), pool_size=cfg.workers)
    if cfg.ssh_key_file is not None and cfg.ssh_known_hosts is None:
        # accept-new trusts whichever host answers first (a man in the middle at the first
        # fetch after each start, when the cache dir is fresh): say so once. The chart always
        # mounts known_hosts.
        log.warning(
            "ssh_key_file without ssh_known_hosts: the git host's key is not verified "
            "on first use (StrictHostKeyChecking=accept-new); set ssh_known_hosts"
        )
    source = git.GitSource(
        url=cfg.repo_url,
        branch=cfg.branch,
        cache=cfg.cache_dir / "git",
        auth=git.GitAuth(
            token_file=cfg.git_token_file,
            username=cfg.git_username,
            ssh_key_file=cfg.ssh_key_file,
            ssh_known_hosts=cfg.ssh_known_hosts,
        ),
        trust=git.Trust(allowed_signers=cfg.allowed_signers_file, gpg_keys=cfg.gpg_keys_file),
    )
    forge_client = None
    if cfg.forge != "none":
        token = _secret(cfg.forge_token_file, "forge token")
        default_api = (
            "https://api.github.com" if cfg.forge == "github" else "https://gitlab.com/api/v4"
        )
        forge_client = forge.Forge(
            kind=cfg.forge,
            api_url=cfg.forge_api_url or default_api,
            repo=cfg.forge_repo or "",
            token=token or "",
            branch=cfg.branch,
        )
    reports = None
    if cfg.report_url:
        token = _shared_secret(cfg.report_token_file, "report token") or ""
        reports = reporter.Reporter(cfg.report_url, token)
    return runner.Agent(
        cfg,
        client,
        source,
        state_namespace=runner.state_namespace(cfg),
        forge_client=forge_client,
        reporter=reports,
    )


def serve(cfg: AgentConfig) -> int:
    """Run until SIGTERM/SIGINT: the sync loop plus the HTTP endpoints."""
    agent = build(cfg)
    host, _, port = cfg.listen.rpartition(":")
    http = server.AgentServer(
        (host or "0.0.0.0", int(port)),
        metrics=agent.metrics.render,
        trigger=agent.trigger,
        last_pass=lambda: agent.last_pass,
        branch=cfg.branch,
        secret=_shared_secret(cfg.webhook_secret_file, "webhook secret"),
        stale_after=3 * cfg.interval + cfg.health_timeout + 120,
    )
    http.serve_in_thread()
    log.info("listening on %s:%d", *http.server_address[:2])
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        agent.trigger()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # What exists by now (modules, settings, the client) lives as long as the process: frozen,
    # the collector's full passes skip it. One such pass over the imports took about 20 ms,
    # holding the GIL while every apply thread waited.
    gc.freeze()
    agent.run(stop)
    http.shutdown()
    agent.close()
    return 0
