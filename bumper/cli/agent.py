"""``bumper agent``: the pull agent (see ``bumper/agent``). Flags override env and ``--config``.

Logs are ``bumper.logs`` lines, as in web and worker (``BUMPER_LOG__*``).

Exit codes with ``--once``: 0 synced, healthy and no error (a refused prune is one), 2 anything
else, with one line on stderr.
Without ``--once`` it runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bumper.settings import LEVELS

# Flag → AgentConfig field, with the type argparse should parse.
FLAGS: list[tuple[str, str, Any, str]] = [
    ("--name", "name", str, "instance name (labels, state ConfigMap prefix)"),
    ("--repo", "repo_url", str, "config repo URL"),
    ("--branch", "branch", str, "branch to follow"),
    ("--path", "paths", str, "directory to render (repeatable)"),
    ("--render", "render", str, "plain | kustomize | helm"),
    ("--helm-release", "helm_release", str, "release name for helm template"),
    ("--helm-values", "helm_values", str, "values file in the repo (repeatable)"),
    ("--interval", "interval", float, "seconds between polls / drift checks"),
    ("--health-timeout", "health_timeout", float, "seconds a rollout may take"),
    ("--scope", "scope", str, "cluster | namespace"),
    ("--namespace", "namespace", str, "default namespace (the only one if --scope namespace)"),
    ("--state-namespace", "state_namespace", str, "namespace of the agent's state ConfigMaps"),
    ("--field-manager", "field_manager", str, "server-side apply field manager"),
    ("--conflicts", "conflicts", str, "force (Git wins) | fail"),
    ("--max-shrink", "max_shrink", float, "largest share of the inventory one sync may prune"),
    ("--git-token-file", "git_token_file", Path, "HTTPS token (read-only)"),
    ("--git-username", "git_username", str, "user name sent with the token"),
    ("--ssh-key-file", "ssh_key_file", Path, "SSH deploy key"),
    ("--ssh-known-hosts", "ssh_known_hosts", Path, "known_hosts for the SSH remote"),
    ("--allowed-signers", "allowed_signers_file", Path, "SSH allowed signers: require signatures"),
    ("--gpg-keys", "gpg_keys_file", Path, "armored GPG public keys: require signatures"),
    ("--listen", "listen", str, "host:port for /healthz /metrics /hooks/git"),
    ("--webhook-secret-file", "webhook_secret_file", Path, "secret of POST /hooks/git"),
    ("--kubeconfig", "kubeconfig", Path, "kubeconfig (default: in-cluster)"),
    ("--context", "kube_context", str, "kubeconfig context"),
    ("--server", "server", str, "API server URL (with --token-file)"),
    ("--token-file", "token_file", Path, "bearer token file (e.g. a ServiceAccount token)"),
    ("--ca-file", "ca_file", Path, "CA bundle of the API server"),
    ("--cache-dir", "cache_dir", Path, "git mirror and checkout directory"),
    ("--report-url", "report_url", str, "Bumper web URL: report bad images and health there"),
    ("--report-token-file", "report_token_file", Path, "this agent's report token file"),
    ("--bad-images-configmap", "bad_images_configmap", str, "ConfigMap of bad images"),
    ("--forge", "forge", str, "none | github | gitlab (commit status, revert requests)"),
    ("--forge-api-url", "forge_api_url", str, "forge API base URL"),
    ("--forge-repo", "forge_repo", str, "owner/name (GitHub) or project path (GitLab)"),
    ("--forge-token-file", "forge_token_file", Path, "forge token file"),
    ("--workers", "workers", int, "concurrent API requests while applying"),
]
REPEATABLE = {"paths", "helm_values"}
SWITCHES = [
    ("--force-prune", "force_prune", "prune even an empty or much smaller render"),
    ("--no-prune", "prune", "never delete anything"),
    ("--no-rollback", "rollback", "report failed health, do not roll back"),
]

EXAMPLES = """\
bumper agent --config examples/agent.yaml --once   # one pass: render, apply, check health
bumper agent --config examples/agent.yaml          # run until SIGTERM
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agent", help="pull agent: apply a branch of a config repo to the cluster"
    )
    parser.add_argument("--config", type=Path, help="YAML config file (the chart's ConfigMap)")
    parser.add_argument("--once", action="store_true", help="one sync, then exit")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        help="DEBUG | INFO | WARNING (default: BUMPER_LOG__LEVEL, INFO)",
    )
    for flag, dest, kind, text in FLAGS:
        action = "append" if dest in REPEATABLE else "store"
        parser.add_argument(
            flag, dest=f"cfg_{dest}", type=kind, action=action, metavar=dest.upper(), help=text
        )
    for flag, dest, text in SWITCHES:
        parser.add_argument(flag, dest=f"cfg_{dest}", action="store_const", const=True, help=text)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bumper import logs, settings
    from bumper.agent import config, main

    logs.configure(settings.load_log(), level=args.log_level)
    flags = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    for negated in ("prune", "rollback"):
        if flags.get(negated):
            flags[negated] = False
    cfg = config.load(flags, args.config)
    if not args.once:
        return main.serve(cfg)
    agent = main.build(cfg)
    status = agent.sync_once()
    agent.close()
    print(f"{status.health} commit={status.commit[:12]} {status.message}".rstrip())
    if status.health != "Healthy" or status.last_error:
        print(f"bumper: error: {status.last_error or status.health}", file=sys.stderr)
        return 2
    return 0
