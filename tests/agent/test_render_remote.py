"""No network fetches from a config repo (issue 13, item 5): kustomize and helm remotes.

A local HTTP server stands for any address the agent can reach from inside the cluster; it
counts the requests it gets, so each refusal also shows that nothing was fetched.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bumper.agent import remote, render
from bumper.agent.render import RenderSpec
from bumper.errors import RenderError


class Served(ThreadingHTTPServer):
    """Files of a directory over HTTP, recording each path requested."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(SimpleHTTPRequestHandler):
    server: Served

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "cm.yaml").write_text(cm("remote"))
    (root / "schema.json").write_text('{"type": "object"}')
    server = Served(root)
    yield server
    server.shutdown()
    server.server_close()


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def kustomize_spec(bins: Path, *allowed: str) -> RenderSpec:
    return RenderSpec(
        mode="kustomize",
        paths=("app",),
        kustomize_bin=str(bins / "kustomize"),
        allowed_remotes=allowed,
    )


def helm_spec(bins: Path, *allowed: str) -> RenderSpec:
    return RenderSpec(
        mode="helm", paths=("chart",), helm_bin=str(bins / "helm"), allowed_remotes=allowed
    )


KUSTOMIZATIONS = {
    "resource URL": "resources:\n- {url}/cm.yaml\n",
    "remote git base": "resources:\n- git::{url}/repo.git//base?ref=main\n",
    "component": "resources: [local.yaml]\ncomponents:\n- {url}/component\n",
    "patch file": "resources: [local.yaml]\npatches:\n- path: {url}/patch.yaml\n",
    "generator file": "configMapGenerator:\n- name: g\n  files:\n  - k={url}/cm.yaml\n",
    "in a local base": "resources:\n- base\n",
}


@pytest.mark.parametrize("case", sorted(KUSTOMIZATIONS))
def test_kustomize_remote_references_are_refused_and_nothing_is_fetched(
    tmp_path: Path, served: Served, testbed_bin_dir: Path, case: str
) -> None:
    app = tmp_path / "repo" / "app"
    (app / "base").mkdir(parents=True)
    (app / "local.yaml").write_text(cm("local"))
    (app / "kustomization.yaml").write_text(KUSTOMIZATIONS[case].format(url=served.url))
    (app / "base" / "kustomization.yaml").write_text(f"resources:\n- {served.url}/cm.yaml\n")
    with pytest.raises(RenderError, match="is a remote source.*allowed_remotes") as caught:
        render.render(tmp_path / "repo", kustomize_spec(testbed_bin_dir))
    assert "kustomization.yaml" in str(caught.value)
    assert served.requests == []


def test_an_allow_listed_remote_is_fetched(
    tmp_path: Path, served: Served, testbed_bin_dir: Path
) -> None:
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text(f"resources:\n- {served.url}/cm.yaml\n")
    spec = kustomize_spec(testbed_bin_dir, f"{served.url}/")
    assert [o["metadata"]["name"] for o in render.render(tmp_path / "repo", spec)] == ["remote"]
    assert served.requests == ["/cm.yaml"]
    # A different prefix on the same host is not enough.
    other = kustomize_spec(testbed_bin_dir, f"{served.url}/other/")
    with pytest.raises(RenderError, match="remote source"):
        render.render(tmp_path / "repo", other)


def test_local_kustomize_paths_still_render_and_may_not_leave_the_repo(
    tmp_path: Path, testbed_bin_dir: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "base.d").mkdir(parents=True)
    (repo / "app").mkdir()
    (repo / "base.d" / "cm.yaml").write_text(cm("settings"))
    (repo / "base.d" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (repo / "app" / "kustomization.yaml").write_text("resources: [../base.d]\nnamePrefix: p-\n")
    objs = render.render(repo, kustomize_spec(testbed_bin_dir))
    assert [o["metadata"]["name"] for o in objs] == ["p-settings"]
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "kustomization.yaml").write_text("resources: []\n")
    (repo / "app" / "kustomization.yaml").write_text("resources: [../../outside]\n")
    with pytest.raises(RenderError, match="leaves the repository"):
        render.render(repo, kustomize_spec(testbed_bin_dir))


def chart(where: Path, name: str, extra: str = "") -> Path:
    """A chart named ``name`` in ``where``, with one ConfigMap ``<release>-<name>``."""
    (where / "templates").mkdir(parents=True)
    (where / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}")
    (where / "templates" / "cm.yaml").write_text(cm(f"{{{{ .Release.Name }}}}-{name}"))
    return where


def test_helm_values_schema_with_a_remote_ref_is_refused(
    tmp_path: Path, served: Served, testbed_bin_dir: Path
) -> None:
    where = chart(tmp_path / "repo" / "chart", "web")
    (where / "values.schema.json").write_text(f'{{"$ref": "{served.url}/schema.json"}}')
    with pytest.raises(RenderError, match=r"values\.schema\.json: \$ref .* remote source"):
        render.render(tmp_path / "repo", helm_spec(testbed_bin_dir))
    assert served.requests == []


def test_helm_remote_dependency_is_refused_unless_vendored(
    tmp_path: Path, served: Served, testbed_bin_dir: Path
) -> None:
    deps = f"dependencies:\n- name: sub\n  version: 0.1.0\n  repository: {served.url}/charts\n"
    where = chart(tmp_path / "repo" / "chart", "web", deps)
    with pytest.raises(RenderError, match=r"chart/Chart\.yaml: dependencies\[0\]\.repository"):
        render.render(tmp_path / "repo", helm_spec(testbed_bin_dir))
    assert served.requests == []
    # Vendored in charts/, helm renders it from the checkout and fetches nothing.
    chart(where / "charts" / "sub", "sub")
    objs = render.render(tmp_path / "repo", helm_spec(testbed_bin_dir))
    assert sorted(o["metadata"]["name"] for o in objs) == ["release-sub", "release-web"]
    assert served.requests == []


def test_an_allow_listed_helm_repository_is_fetched(
    tmp_path: Path, served: Served, testbed_bin_dir: Path
) -> None:
    helm = str(testbed_bin_dir / "helm")
    sub = chart(tmp_path / "src" / "sub", "sub")
    (served.root / "charts").mkdir()
    run = partial(subprocess.run, check=True, capture_output=True, env=_helm_home(tmp_path))
    run([helm, "package", str(sub), "--destination", str(served.root / "charts")])
    run([helm, "repo", "index", str(served.root / "charts"), "--url", f"{served.url}/charts"])
    deps = f"dependencies:\n- name: sub\n  version: 0.1.0\n  repository: {served.url}/charts\n"
    chart(tmp_path / "repo" / "chart", "web", deps)
    spec = helm_spec(testbed_bin_dir, f"{served.url}/charts")
    objs = render.render(tmp_path / "repo", spec)
    assert sorted(o["metadata"]["name"] for o in objs) == ["release-sub", "release-web"]
    assert "/charts/index.yaml" in served.requests


def _helm_home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "helm-home"
    return {**os.environ, "HELM_CACHE_HOME": str(home), "HELM_CONFIG_HOME": str(home)}


def test_the_tools_cannot_fetch_even_if_a_reference_slipped_through(
    tmp_path: Path, testbed_bin_dir: Path
) -> None:
    """The second line: kustomize run in ``tool_env`` reaches no git remote and no proxy-able
    host (Go sends non-loopback requests through the closed proxy port)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text(
        "resources:\n- http://192.0.2.1/cm.yaml\n"  # TEST-NET-1: would hang without the proxy
    )
    kustomize = [str(testbed_bin_dir / "kustomize"), "build", str(app)]
    env = {"PATH": "/usr/bin:/bin", **remote.tool_env(tmp_path / "scratch", ())}
    done = subprocess.run(kustomize, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0 and "proxyconnect" in done.stderr
    (app / "kustomization.yaml").write_text(
        f"resources:\n- git::file://{tmp_path}/nothing.git//base?ref=main\n"
    )
    done = subprocess.run(kustomize, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0 and "transport 'file' not allowed" in done.stderr


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("https://git.example/acme/app//base?ref=v1", True),
        ("https://git.example/acme?ref=v1", True),
        ("https://git.example/acme", True),
        ("https://git.example/acme-evil/app", False),
        ("https://git.example/acme/../evil", False),
        ("https://git.example.evil.com/acme/x", False),
        ("http://git.example/acme/x", False),
    ],
)
def test_allow_list_prefixes_end_at_a_boundary(ref: str, ok: bool) -> None:
    assert remote.allowed(ref, ["https://git.example/acme"]) is ok
