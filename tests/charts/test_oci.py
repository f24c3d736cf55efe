"""Both charts as a user installs them: ``helm package``, ``helm push`` to a real OCI registry
(the test bed's distribution registry, plain HTTP on loopback), then ``helm show`` and
``helm template`` from ``oci://``. What comes back renders exactly what the working tree does.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.charts.helm import CHARTS, Helm
from tests.support.testbed import RegistryFactory

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
