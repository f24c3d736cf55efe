"""The promotion test's two pull agents as charts/bumper-agent releases, one per environment.

Release ``dev`` in the dev namespace applies overlays/dev, release ``staging`` in the staging
namespace applies overlays/staging, both from the forge simulator's one config repo; each
applies and keeps its state only in its own namespace (a Role there, nothing cluster-wide) and
reports what its pods run to the host's web process at ``web`` (the node's pods reach the host's
127.0.0.1 listeners at the veth's host address, through ``Node.forward``). Their tokens come
from Secrets created in each namespace before the install, never from values. Used by
tests/e2e/test_promotion_node.py (installed on the real node) and
tests/e2e/test_promotion_chart.py (the same values through ``helm template``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e import node_bed as bed
from tests.support.forgesim import ForgeSim
from tests.support.testbed import BedCluster, Node

ENVS = ("dev", "staging")
TOKENS = {env: f"promotion-node-{env}-token-0123456789" for env in ENVS}
GIT_SECRET = "promotion-git"  # key token: the forge simulator's token, to clone the config repo
REPORT_SECRET = "promotion-report"  # key token: this agent's report token (TOKENS[env])
# No webhook reaches an in-cluster agent from the host's forge simulator (its Service is a
# ClusterIP): it polls the config repo this often, in seconds.
INTERVAL = 2
HEALTH_TIMEOUT = 20


def values(sim: ForgeSim, node: Node, registry_host: str, env: str, ns: str, web: str) -> Any:
    """The release's values: agent ``env`` applying overlays/``env`` into ``ns``."""
    return bed.agent_values(
        sim,
        node,
        registry_host,
        ns,
        web,
        name=env,
        paths=(f"overlays/{env}",),
        git_secret=GIT_SECRET,
        report_secret=REPORT_SECRET,
        report_key="token",
        interval=INTERVAL,
        health_timeout=HEALTH_TIMEOUT,
        # As the host agents did: a rollback records failedCommit, no revert PR on the forge.
        forge=False,
    )


def install(
    cluster: BedCluster,
    node: Node,
    sim: ForgeSim,
    chart_version: str,
    reg_host: str,
    local: str,
    env: str,
    ns: str,
    web: str,
    workdir: Path,
) -> None:
    """The Secrets the release names, then ``helm install <env>`` from the OCI chart."""
    bed.secret(cluster, ns, GIT_SECRET, {"token": sim.token})
    bed.secret(cluster, ns, REPORT_SECRET, {"token": TOKENS[env]})
    release_values = values(sim, node, local, env, ns, web)
    bed.install_chart(
        cluster, "bumper-agent", chart_version, reg_host, ns, release_values, workdir, release=env
    )
