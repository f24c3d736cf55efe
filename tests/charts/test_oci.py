"""Both charts as a user installs them: ``helm package``, ``helm push`` to a real OCI registry
(the test bed's distribution registry, plain HTTP on loopback), then ``helm show`` and
``helm template`` from ``oci://``. What comes back renders exactly what the working tree does.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from tests.charts.helm import CHARTS, Helm
from tests.support.testbed import BedCluster, RegistryFactory

VALUES = {"bumper": "bumper--bundled", "bumper-agent": "bumper-agent--report"}


def test_charts_push_to_an_oci_registry_and_install_from_it(
    testbed_bin_dir: Path, registry: RegistryFactory, tmp_path: Path
) -> None:
    helm = Helm(testbed_bin_dir, tmp_path / "home")
    reg = registry()
    repo = f"oci://{reg.host}/bumper-dev/charts"
    for name, chart in sorted(CHARTS.items()):
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        version = meta["version"]
        packaged = helm.run("package", str(chart), "--destination", str(tmp_path)).stdout
        archive = tmp_path / f"{name}-{version}.tgz"
        assert str(archive) in packaged and archive.is_file()
        pushed = helm.run("push", str(archive), repo, "--plain-http")
        assert f"Pushed: {reg.host}/bumper-dev/charts/{name}:{version}" in pushed.stderr
        assert "Digest: sha256:" in pushed.stderr

        ref = f"{repo}/{name}"
        shown = helm.run("show", "chart", ref, "--version", version, "--plain-http").stdout
        assert yaml.safe_load(shown)["appVersion"] == meta["appVersion"]
        assert "values.schema.json" not in shown  # chart metadata only
        from_oci = helm.template(ref, VALUES[name], "--version", version, "--plain-http")
        local = helm.template(str(chart), VALUES[name])
        assert from_oci == local
        # The schema travels in the package: a bad value is refused from the registry too.
        refused = helm.run(
            "template",
            "rel",
            ref,
            "--version",
            version,
            "--plain-http",
            "--set",
            "nope=1",
            check=False,
        )
        assert refused.returncode != 0 and "schema" in refused.stderr.lower(), refused.stderr


def test_install_upgrade_uninstall_from_oci_keep_the_redis_password(
    kube_apiserver: BedCluster, registry: RegistryFactory, tmp_path: Path
) -> None:
    """``helm install`` / ``upgrade`` / ``uninstall`` of the pushed chart on the test bed's API
    server: the generated Redis password survives an upgrade (read back with ``lookup``) and
    the uninstall (``helm.sh/resource-policy: keep``), so a reinstall finds the same data."""
    reg = registry()
    chart = CHARTS["bumper"]
    version = yaml.safe_load((chart / "Chart.yaml").read_text())["version"]
    kube_apiserver.run("helm", "package", str(chart), "--destination", str(tmp_path))
    ref = f"oci://{reg.host}/bumper-dev/charts"
    kube_apiserver.run("helm", "push", str(tmp_path / f"bumper-{version}.tgz"), ref, "--plain-http")
    namespace = kube_apiserver.create_namespace("oci")
    install = ["rel", f"{ref}/bumper", "--version", version, "--plain-http", "-n", namespace]

    def password() -> str:
        secret = kube_apiserver.get_json(f"/api/v1/namespaces/{namespace}/secrets/rel-bumper-redis")
        return str(secret["data"]["password"])

    kube_apiserver.run("helm", "install", *install)
    first = password()
    assert len(base64.b64decode(first)) == 32
    kube_apiserver.run("helm", "upgrade", *install, "--set", "worker.replicas=2")
    assert password() == first
    worker = kube_apiserver.get_json(
        f"/apis/apps/v1/namespaces/{namespace}/deployments/rel-bumper-worker"
    )
    assert worker["spec"]["replicas"] == 2
    kube_apiserver.run("helm", "uninstall", "rel", "-n", namespace)
    assert password() == first
    gone = kube_apiserver.api(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/rel-bumper-worker"
    )
    assert gone.status_code == 404
