"""Pull agent on 1,000 objects against a real kube-apiserver (the test bed, apiserver mode).

Measures, in a child process that is just the agent (so its RSS is the agent's):
- the initial sync (dry-run + server-side apply of everything, inventory, status);
- a no-op resync: its wall time and its API request count (target ≤ kinds + 5, ≤ 1 s);
- the agent's peak RSS (target ≤ 80 MB);
and, as the baseline, a naive resync that server-side applies every object again (what
``kubectl apply --server-side`` of the whole tree costs), timed in the same child.
Skips with a message when the test bed has not been built (``make testbed``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = {"ConfigMap": 600, "Secret": 200, "Service": 100, "ServiceAccount": 99, "Namespace": 1}
NAMESPACE = "bench"


def manifests() -> list[dict[str, object]]:
    objs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    ]
    for i in range(KINDS["ConfigMap"]):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:04d}", "labels": {"app": f"a{i % 7}"}},
                "data": {"config.yaml": f"key: value-{i}\nreplicas: {i % 5}\n" * 4},
            }
        )
    for i in range(KINDS["Secret"]):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"secret-{i:04d}"},
                "stringData": {"password": f"pw-{i}"},
            }
        )
    for i in range(KINDS["Service"]):
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i:04d}"},
                "spec": {"selector": {"app": f"a{i}"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    for i in range(KINDS["ServiceAccount"]):
        objs.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"sa-{i:04d}"}}
        )
    return objs


def child(config: Path) -> None:
    """The agent alone: initial sync, no-op resync, then the naive baseline."""
    from bumper.agent import config as agent_config
    from bumper.agent import main

    agent = main.build(agent_config.load({}, config))
    client = agent.client
    t0 = time.perf_counter()
    first = agent.sync_once()
    initial = time.perf_counter() - t0
    assert first.health == "Healthy", first.to_data()
    before = client.requests
    t0 = time.perf_counter()
    again = agent.sync_once()
    noop = time.perf_counter() - t0
    noop_requests = client.requests - before
    assert again.applied == 0 and again.drifted == 0, again.to_data()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Baseline: apply every object again, as a tool without the skip would.
    planned = agent.applier.plan(agent._render(first.commit))
    before = client.requests
    t0 = time.perf_counter()
    for item in planned:
        assert item.res is not None
        client.apply(item.res, item.obj, manager="bench-naive", force=True)
    naive = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "initial_s": initial,
                "noop_s": noop,
                "noop_requests": noop_requests,
                "naive_s": naive,
                "naive_requests": client.requests - before,
                "rss_mb": rss_kb / 1024,
                "objects": len(planned),
            }
        )
    )


def main() -> int:
    from tests.agent.configrepo import ConfigRepo
    from tests.support import testbed_cluster, testbed_proc

    try:
        bins = testbed_proc.require_binaries(["etcd", "kube-apiserver"])
    except testbed_proc.TestbedNotBuilt as error:
        print(f"bench/agent.py skipped: {error}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    cluster = testbed_cluster.start_cluster("apiserver", bins, work / "kube")
    try:
        repo = ConfigRepo(work / "repo")
        objs = manifests()
        for i in range(0, len(objs), 100):
            repo.write(f"objs/part-{i // 100:02d}.yaml", objs[i : i + 100])  # type: ignore[arg-type]
        repo.commit("1000 objects")
        config = work / "agent.yaml"
        config.write_text(
            json.dumps(
                {
                    "name": "bench",
                    "repo_url": str(repo.path),
                    "namespace": NAMESPACE,
                    "state_namespace": "default",
                    "kubeconfig": str(cluster.kubeconfig),
                    "cache_dir": str(work / "cache"),
                    "health_timeout": 60,
                }
            )
        )
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            return 1
        report(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        testbed_cluster.stop_cluster(cluster)
    return 0


def report(r: dict[str, float]) -> None:
    kinds = len(KINDS)
    rows = [
        ("objects", f"{r['objects']:.0f}", f"{kinds} kinds"),
        ("initial sync", f"{r['initial_s']:.2f} s", "dry-run + apply all"),
        ("no-op resync", f"{r['noop_s']:.3f} s", "target ≤ 1 s"),
        ("no-op requests", f"{r['noop_requests']:.0f}", f"target ≤ {kinds + 5} (kinds + 5)"),
        ("naive resync (baseline)", f"{r['naive_s']:.2f} s", f"{r['naive_requests']:.0f} requests"),
        ("agent peak RSS", f"{r['rss_mb']:.1f} MB", "target ≤ 80 MB"),
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    print(
        f"ratio: no-op resync is {r['naive_s'] / r['noop_s']:.1f}x faster than the baseline, "
        f"with {r['naive_requests'] / max(r['noop_requests'], 1):.0f}x fewer requests"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
