"""Pull agent on 1,000 objects against a real kube-apiserver (the test bed, apiserver mode).

Runs the real ``bumper agent`` process (serve mode) and reads, from its ``/metrics`` and
``/proc/<pid>/status``:
- the initial sync (fetch, render, server-side apply of everything stage by stage, inventory,
  status), against its baseline measured in the same run on the same API server: the test
  bed's ``kubectl apply --server-side`` of the same 1,000 objects into a namespace of its own
  (cold discovery cache, like the agent's); target ratio ≤ 0.5 (issue 18). Both run
  ``--rounds`` times, interleaved (the order alternates, each round in fresh namespaces with an
  agent of its own name), and the ratio is the median of the rounds' ratios: on a shared
  machine one pair of runs says little. Each run's API server and etcd CPU is read from
  ``/proc`` too, since on a saturated machine that CPU, not the client, sets both times;
- a no-op resync, triggered by a signed push webhook: its duration and its API request count
  (targets ≤ 1 s and ≤ kinds + 5 requests), against a naive resync that server-side applies
  every object again;
- the agent's peak RSS (VmHWM; target ≤ 80 MB).
Skips with a message when the test bed has not been built (``make testbed``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from bench import summary
from bumper.agent import kube, phases
from tests.agent.configrepo import ConfigRepo
from tests.support import testbed_cluster, testbed_proc

ROOT = Path(__file__).resolve().parent.parent

KINDS = {"ConfigMap": 600, "Secret": 200, "Service": 100, "ServiceAccount": 99, "Namespace": 1}
NAMESPACE = "bench"
HOOK_SECRET = "bench-webhook-secret"  # 16 bytes at least, as the agent requires


def manifests() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
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


def metric(text: str, name: str) -> float:
    """The first series of ``name`` (or exactly ``name{labels}``) in a /metrics text."""
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and "{" not in name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(what)


def server_cpu_s(cluster: testbed_cluster.BedCluster) -> float:
    """CPU seconds the API server and etcd have used so far (user + system, /proc)."""
    total = 0.0
    for proc in cluster.procs:
        fields = Path(f"/proc/{proc.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(work: Path, config: Path) -> dict[str, float]:
    """Run the real ``bumper agent`` process; read its figures from /metrics and /proc."""
    port = testbed_proc.free_port()
    secret = work / "hook"
    secret.write_text(HOOK_SECRET)
    log = open(work / "agent.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bumper",
            "agent",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "3600",
            "--webhook-secret-file",
            str(secret),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: requests.get(f"{base}/readyz", timeout=2).ok, 300, "the initial sync")
        first = requests.get(f"{base}/metrics", timeout=5).text
        assert metric(first, "bumper_agent_healthy") == 1.0, (work / "agent.log").read_text()
        body = b'{"ref": "refs/heads/main"}'
        digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        hook = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}
        requests.post(f"{base}/hooks/git", data=body, headers=hook, timeout=5).raise_for_status()

        def resynced() -> bool:
            text = requests.get(f"{base}/metrics", timeout=5).text
            return metric(text, 'bumper_agent_syncs_total{result="ok"}') >= 2

        wait(resynced, 60, "the no-op resync")
        second = requests.get(f"{base}/metrics", timeout=5).text
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    return {
        **{
            f"phase_{phase}_s": metric(first, f'bumper_agent_sync_phase_seconds{{phase="{phase}"}}')
            for phase in phases.PHASES
        },
        "initial_s": metric(first, "bumper_agent_sync_duration_seconds"),
        "noop_s": metric(second, "bumper_agent_sync_duration_seconds"),
        "noop_requests": metric(second, "bumper_agent_api_requests_total")
        - metric(first, "bumper_agent_api_requests_total"),
        "applied_noop": metric(second, "bumper_agent_applied_objects_total")
        - metric(first, "bumper_agent_applied_objects_total"),
        "rss_mb": rss,
    }


def naive(
    cluster: testbed_cluster.BedCluster, objs: list[dict[str, Any]], namespace: str
) -> dict[str, float]:
    """Baseline: server-side apply every object again (``kubectl apply --server-side``) into
    ``namespace``, where an agent's sync put them."""
    client = kube.Client(kube.from_kubeconfig(cluster.kubeconfig))
    prepared = []
    for obj in objs:
        res = client.resource(str(obj["apiVersion"]), str(obj["kind"]))
        body = json.loads(json.dumps(obj))
        if res.namespaced:
            body["metadata"]["namespace"] = namespace
        else:
            body["metadata"]["name"] = namespace
        prepared.append((res, body))
    before = client.requests
    t0 = time.perf_counter()
    for res, body in prepared:
        client.apply(res, body, manager="bench-naive", force=True)
    return {"naive_s": time.perf_counter() - t0, "naive_requests": client.requests - before}


def kubectl_apply(
    cluster: testbed_cluster.BedCluster, objs: list[dict[str, Any]], work: Path, namespace: str
) -> dict[str, float]:
    """Baseline: the test bed's ``kubectl apply --server-side`` of the same objects, into a
    namespace of its own (so nothing is already there), timed as a whole process."""
    docs = []
    for obj in objs:
        doc = json.loads(json.dumps(obj))
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
        docs.append(doc)
    tree = work / "kubectl.yaml"
    tree.write_text(yaml.safe_dump_all(docs))
    command = [str(cluster.kubectl), "--kubeconfig", str(cluster.kubeconfig)]
    command += ["apply", "--server-side", "--field-manager=bench-kubectl", "-f", str(tree)]
    t0 = time.perf_counter()
    done = subprocess.run(
        command, env=cluster.env(), capture_output=True, text=True
    )  # cluster.env(): a discovery cache of this cluster's own, cold as the agent's at start
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"kubectl apply --server-side failed: {done.stderr.strip()[-500:]}")
    return {"kubectl_s": elapsed, "kubectl_objects": float(done.stdout.count("serverside-applied"))}


def agent_round(
    cluster: testbed_cluster.BedCluster, objs: list[dict[str, Any]], work: Path, name: str
) -> dict[str, float]:
    """The real agent's initial sync and no-op resync into a fresh namespace ``name``, under
    an agent name of its own (its state ConfigMaps are new: a first start)."""
    repo = ConfigRepo(work / name / "repo")
    objs = [json.loads(json.dumps(obj)) for obj in objs]
    objs[0]["metadata"]["name"] = name  # the Namespace comes first
    for i in range(0, len(objs), 100):
        repo.write(f"objs/part-{i // 100:02d}.yaml", objs[i : i + 100])
    repo.commit("1000 objects")
    config = work / name / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "name": name,
                "repo_url": str(repo.path),
                "namespace": name,
                "state_namespace": "default",
                "kubeconfig": str(cluster.kubeconfig),
                "cache_dir": str(work / name / "cache"),
                "health_timeout": 60,
            }
        )
    )
    return measure(work / name, config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.agent", description=__doc__.split("\n")[0])
    # 5: a round caught by a load spike on the shared machine (0.9-1.6 where the others are
    # 0.4-0.5) is one in five, which a median of 3 did not absorb as well.
    parser.add_argument("--rounds", type=int, default=5, help="interleaved agent/kubectl pairs")
    args = parser.parse_args(argv)
    try:
        bins = testbed_proc.require_binaries(["etcd", "kube-apiserver", "kubectl"])
    except testbed_proc.TestbedNotBuilt as error:
        print(f"bench/agent.py skipped: {error}")
        summary.record("agent_initial_sync_ratio", None, met=False, note=f"skipped: {error}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    cluster = testbed_cluster.start_cluster("apiserver", bins, work / "kube")
    try:
        objs = manifests()
        rounds = [run_round(cluster, objs, work, i) for i in range(max(args.rounds, 1))]
        figures = rounds[-1] | naive(cluster, objs, f"{NAMESPACE}-0")
        figures["objects"] = len(objs)
        report(figures, rounds)
    finally:
        testbed_cluster.stop_cluster(cluster)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_round(
    cluster: testbed_cluster.BedCluster, objs: list[dict[str, Any]], work: Path, index: int
) -> dict[str, float]:
    """One agent run and one kubectl run, in alternating order, with the server CPU of each."""
    figures: dict[str, float] = {}

    def agent() -> None:
        cpu = server_cpu_s(cluster)
        figures.update(agent_round(cluster, objs, work, f"{NAMESPACE}-{index}"))
        figures["agent_server_cpu_s"] = server_cpu_s(cluster) - cpu

    def kubectl() -> None:
        cpu = server_cpu_s(cluster)
        figures.update(kubectl_apply(cluster, objs, work, f"{NAMESPACE}-kubectl-{index}"))
        figures["kubectl_server_cpu_s"] = server_cpu_s(cluster) - cpu

    for run in (agent, kubectl) if index % 2 else (kubectl, agent):
        run()
    figures["ratio"] = figures["initial_s"] / figures["kubectl_s"]
    print(
        f"round {index + 1}: initial sync {figures['initial_s']:.2f} s, kubectl "
        f"{figures['kubectl_s']:.2f} s, ratio {figures['ratio']:.2f}; API server + etcd CPU "
        f"{figures['agent_server_cpu_s']:.2f} s / {figures['kubectl_server_cpu_s']:.2f} s",
        flush=True,
    )
    return figures


def report(r: dict[str, float], rounds: list[dict[str, float]]) -> None:
    kinds = len(KINDS)

    def median(key: str) -> float:
        return statistics.median(one[key] for one in rounds)

    n = len(rounds)
    rows = [
        ("objects", f"{r['objects']:.0f}", f"{kinds} kinds"),
        ("initial sync", f"{median('initial_s'):.2f} s", f"median of {n}, staged, concurrent"),
        (
            "kubectl apply --server-side",
            f"{median('kubectl_s'):.2f} s",
            f"median of {n}, baseline, {r['kubectl_objects']:.0f} objects",
        ),
        (
            "API server + etcd CPU",
            f"{median('agent_server_cpu_s'):.2f} s",
            f"median, agent (kubectl: {median('kubectl_server_cpu_s'):.2f} s)",
        ),
        (
            "initial sync by phase",
            " ".join(f"{median(f'phase_{p}_s'):.2f}" for p in phases.PHASES),
            "s, medians: " + " ".join(phases.PHASES),
        ),
        ("no-op applied objects", f"{r['applied_noop']:.0f}", "must be 0"),
        ("no-op resync", f"{r['noop_s']:.3f} s", "target ≤ 1 s"),
        ("no-op requests", f"{r['noop_requests']:.0f}", f"target ≤ {kinds + 5} (kinds + 5)"),
        ("naive resync (baseline)", f"{r['naive_s']:.2f} s", f"{r['naive_requests']:.0f} requests"),
        ("agent peak RSS", f"{r['rss_mb']:.1f} MB", "target ≤ 80 MB"),
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    ratio = median("ratio")
    spread = ", ".join(f"{one['ratio']:.2f}" for one in rounds)
    summary.record(
        "agent_initial_sync_ratio",
        round(ratio, 3),
        met=ratio <= 0.5,
        note=f"median of {n} interleaved rounds: {spread}",
    )
    print(
        f"ratio: initial sync is {ratio:.2f}x kubectl apply --server-side (median of {n}: "
        f"{spread}) "
        f"(target ≤ 0.5: {'met' if ratio <= 0.5 else 'MISSED'}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"ratio: no-op resync is {r['naive_s'] / r['noop_s']:.1f}x faster than the baseline, "
        f"with {r['naive_requests'] / max(r['noop_requests'], 1):.0f}x fewer requests"
    )


if __name__ == "__main__":
    sys.exit(main())
