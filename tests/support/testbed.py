"""pytest plugin: the Kubernetes test bed and a real registry as fixtures.

Registered from tests/conftest.py (``pytest_plugins``). Fixtures:

- ``kube_apiserver`` (session): etcd + kube-apiserver -> :class:`BedCluster`.
- ``kube_full`` (session): + controller-manager, scheduler, kwok and two fake Nodes
  -> BedCluster.
  Pods with the annotation ``testbed.bumper.dev/fail: "true"`` or an image tag ending in ``fail``
  run but never become Ready.
- ``registry`` (function): a factory ``registry(notify_url=None, notify_headers=None, auth=None)``
  that starts a distribution registry on a random port (``auth``: its ``auth:`` section,
  ``tests.support.registry_auth``) and returns a :class:`Registry`; all are stopped at the end
  of the test.
- ``crane`` (session): path of the crane binary; ``cosign_bin`` (session): cosign's;
  ``testbed_bin_dir``: where all binaries live.
- ``kube_node`` (session): a real node (containerd, kubelet, kube-proxy: ``testbed/node.sh``)
  joined to ``kube_full`` -> :class:`~tests.support.testbed_node.Node`. It changes host state
  (root, a network namespace, global sysctls restored at teardown), so it runs only when
  ``BUMPER_TESTBED_NODE=1`` (``make test``, ``make testbed-node-check``) and skips otherwise.
  One session at a time per host uses it (a lock file); teardown stops it. It fails at once,
  naming ``make testbed-down``, while the standalone test bed's node (``make testbed-up``) is up.
- Tests marked ``standalone_node`` start their own node (``testbed_standalone``): they run first,
  before ``kube_node`` takes the host's node lock for the rest of the session.

The binaries come from ``make testbed``. When they are missing the fixtures skip, unless
``BUMPER_TESTBED_REQUIRED=1`` (set by ``make test``), which turns the skip into a failure.
When a test using these fixtures fails, the tail of every component's log is added to its report.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support import testbed_cluster, testbed_node, testbed_proc, testbed_standalone
from tests.support.testbed_cluster import FAIL_ANNOTATION, BedCluster
from tests.support.testbed_node import Node
from tests.support.testbed_registry import NOTIFY_MEDIA_TYPE, Registry

__all__ = [
    "FAIL_ANNOTATION",
    "NOTIFY_MEDIA_TYPE",
    "BedCluster",
    "Node",
    "Registry",
    "RegistryFactory",
]

CONTROL_PLANE = ["etcd", "kube-apiserver", "helm", "kubectl"]
FULL = [*CONTROL_PLANE, "kube-controller-manager", "kube-scheduler", "kwok"]
NODE = ["kubelet", "kube-proxy", "pause", "hello", "coredns"]


def _bins(names: list[str]) -> Path:
    try:
        return testbed_proc.require_binaries(names)
    except testbed_proc.TestbedNotBuilt as exc:
        if os.environ.get("BUMPER_TESTBED_REQUIRED") == "1":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def testbed_bin_dir() -> Path:
    return _bins(CONTROL_PLANE)


def _cluster(mode: str, names: list[str], factory: pytest.TempPathFactory) -> Iterator[BedCluster]:
    bins = _bins(names)
    cluster = testbed_cluster.start_cluster(mode, bins, factory.mktemp(f"kube-{mode}"))
    try:
        yield cluster
    finally:
        testbed_cluster.stop_cluster(cluster)


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BedCluster]:
    yield from _cluster("apiserver", CONTROL_PLANE, tmp_path_factory)


@pytest.fixture(scope="session")
def kube_full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BedCluster]:
    yield from _cluster("full", FULL, tmp_path_factory)


@pytest.fixture(scope="session")
def kube_node(kube_full: BedCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if os.environ.get("BUMPER_TESTBED_NODE") != "1":
        pytest.skip(
            "the real node changes host state: run it with `make test` or `make testbed-node-check`"
        )
    busy = testbed_standalone.node_in_use_message()
    if busy:  # one node per host: never stop the one `make testbed-up` started
        pytest.fail(busy, pytrace=False)
    _bins(NODE)
    with testbed_node.node_session(kube_full, tmp_path_factory.mktemp("kube-node")) as node:
        yield node


@pytest.fixture(scope="session")
def crane() -> Path:
    return _bins(["crane"]) / "crane"


@pytest.fixture(scope="session")
def cosign_bin() -> Path:
    """The test bed's cosign (``tests.support.cosign`` runs it)."""
    return _bins(["cosign"]) / "cosign"


class RegistryFactory:
    """``registry(notify_url=...)`` starts one more registry; the fixture stops them all."""

    def __init__(self, bins: Path, workdir: Path) -> None:
        self.bins = bins
        self.workdir = workdir
        self.started: list[Registry] = []

    def __call__(
        self,
        notify_url: str | None = None,
        notify_headers: dict[str, str] | None = None,
        auth: dict[str, object] | None = None,
    ) -> Registry:
        reg = Registry(
            self.bins,
            self.workdir / f"registry-{len(self.started)}",
            notify_url,
            notify_headers,
            auth=auth,
        )
        self.started.append(reg)
        reg.start()
        return reg

    def log_tails(self) -> str:
        return "".join(f"----- registry {r.host} {r.log}\n{r.log_tail()}\n" for r in self.started)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryFactory]:
    factory = RegistryFactory(_bins(["registry", "crane"]), tmp_path)
    try:
        yield factory
    finally:
        for reg in factory.started:
            reg.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # kube_node holds the host's one node until the session ends: own-node tests go first.
    items.sort(key=lambda item: item.get_closest_marker("standalone_node") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, BedCluster):
                report.sections.append((f"test bed ({value.mode}) logs", value.log_tails()))
            elif isinstance(value, Node):
                report.sections.append(("node logs", value.log_tails()))
            elif isinstance(value, RegistryFactory) and value.started:
                report.sections.append(("registry logs", value.log_tails()))
    return report
