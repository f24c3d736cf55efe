"""Rendering a checkout: plain trees (recursive, multi-document), kustomize, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bumper.agent import manifests, render
from bumper.agent.render import RenderSpec
from bumper.errors import RenderError
from tests.support.hostile_yaml import alias_bomb


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def test_plain_tree_is_recursive_multi_document_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.yaml").write_text(cm("one") + "---\n" + cm("two") + "---\n")
    (tmp_path / "b" / "deep" / "c.yml").write_text(cm("three"))
    (tmp_path / "b" / "kustomization.yaml").write_text("resources: []\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text(cm("hidden"))
    (tmp_path / "README.md").write_text("not yaml")
    names = [o["metadata"]["name"] for o in render.render(tmp_path, RenderSpec())]
    assert names == ["one", "two", "three"]


def test_values_render_as_kubernetes_reads_them(tmp_path: Path) -> None:
    """YAML 1.1 would build dates, bytes and sets, which JSON cannot carry to the API server;
    Kubernetes' reader (go-yaml v2) keeps the first two as text, the third as a mapping."""
    (tmp_path / "x.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dates\n  annotations:\n"
        "    released: 2024-01-01\n    at: 2024-01-01T10:00:00Z\ndata:\n"
        "  tagged: !!timestamp 2001-12-14\n  blob: !!binary aGVsbG8=\n  when: '2024-01-02'\n"
        "  on: yes\nextra: !!set {a, b}\n"
    )
    (obj,) = render.render(tmp_path, RenderSpec())
    assert obj["metadata"]["annotations"] == {
        "released": "2024-01-01",
        "at": "2024-01-01T10:00:00Z",
    }
    assert obj["data"] == {
        "tagged": "2001-12-14",
        "blob": "hello",
        "when": "2024-01-02",
        True: True,
    }
    assert obj["extra"] == {"a": None, "b": None}


def test_every_manifest_of_the_corpus_renders_to_what_json_can_send(shared_dir: Path) -> None:
    """The agent's parse of every file of ../shared/corpus/yaml: a Kubernetes manifest renders
    and marks to data ``json.dumps`` takes strictly (what the apply sends); anything else is a
    ``RenderError`` naming the file, never another exception."""
    rendered = refused = 0
    for path in sorted((shared_dir / "corpus" / "yaml").rglob("*")):
        if not path.is_file() or path.suffix not in render.YAML_SUFFIXES:
            continue
        try:
            objs = render._parse(path.read_text(errors="replace"), path.name)
        except RenderError as error:
            assert path.name in str(error) and "\n" not in str(error)
            refused += 1
            continue
        for obj in objs:
            json.dumps(manifests.mark(obj, agent="corpus", namespace="ns"), allow_nan=False)
            rendered += 1
    assert rendered > 1000 and refused > 0  # the corpus's manifests, and its values files


def test_only_the_configured_paths(tmp_path: Path) -> None:
    (tmp_path / "prod").mkdir()
    (tmp_path / "dev").mkdir()
    (tmp_path / "prod" / "x.yaml").write_text(cm("prod"))
    (tmp_path / "dev" / "x.yaml").write_text(cm("dev"))
    objs = render.render(tmp_path, RenderSpec(paths=("prod",)))
    assert [o["metadata"]["name"] for o in objs] == ["prod"]


@pytest.mark.parametrize(
    ("files", "paths", "problem"),
    [
        ({"x.yaml": "a: [unclosed\n"}, ("."), r"x\.yaml: line \d"),
        ({"x.yaml": "- just\n- a list\n"}, ("."), "not a mapping"),
        ({"x.yaml": cm("same"), "y.yaml": cm("same")}, ("."), "declared twice"),
        ({}, ("missing",), "does not exist"),
        ({}, ("../elsewhere",), "leaves the repository"),
    ],
)
def test_render_errors_name_the_problem(
    tmp_path: Path, files: dict[str, str], paths: tuple[str, ...], problem: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "elsewhere").mkdir()
    for name, text in files.items():
        (repo / name).write_text(text)
    with pytest.raises(RenderError, match=problem):
        render.render(repo, RenderSpec(paths=tuple(paths)))


def test_links_leaving_the_config_path_are_left_out_by_name_and_the_rest_renders(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / "apps" / "sub").mkdir(parents=True)
    (repo / "other").mkdir()
    (tmp_path / "secret.yaml").write_text(cm("outside"))
    (repo / "other" / "x.yaml").write_text(cm("other"))
    (repo / "apps" / "own.yaml").write_text(cm("own"))
    (repo / "apps" / "abs.yaml").symlink_to(tmp_path / "secret.yaml")
    (repo / "apps" / "up.yaml").symlink_to("../other/x.yaml")
    (repo / "apps" / "dir").symlink_to("../other")
    (repo / "apps" / ".shared").mkdir()
    (repo / "apps" / ".shared" / "base.yaml").write_text(cm("shared"))
    (repo / "apps" / "sub" / "shared.yaml").symlink_to("../.shared/base.yaml")  # inside: read
    (repo / "apps" / "gone.yaml").symlink_to("nowhere.yaml")
    rendered = render.render(repo, RenderSpec(paths=("apps",)))
    assert [o["metadata"]["name"] for o in rendered] == ["own", "shared"]
    assert rendered.skipped == (
        ("apps/abs.yaml", "a symbolic link leaving the repository: not read"),
        ("apps/dir", "a symbolic link to other, outside the config path 'apps': not read"),
        ("apps/gone.yaml", "a symbolic link to a missing file: not read"),
        (
            "apps/up.yaml",
            "a symbolic link to other/x.yaml, outside the config path 'apps': not read",
        ),
    )


def test_an_alias_bomb_refuses_the_render_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(cm("ok"))
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    with pytest.raises(RenderError) as caught:
        render.render(tmp_path, RenderSpec())
    assert caught.value.reason == "parse-limit"
    assert str(caught.value) == (
        "bomb.yaml: over the YAML parse limits: aliases expand to more than 100000 nodes, "
        "like an alias bomb (line 12)"
    )


@pytest.mark.parametrize("mode", ["kustomize", "helm"])
def test_a_tool_render_with_a_link_leaving_its_directory_is_refused(
    tmp_path: Path, mode: str
) -> None:
    # Refused before the tool runs: helm would read /etc/hostname through the link.
    (tmp_path / "app" / "templates").mkdir(parents=True)
    (tmp_path / "app" / "templates" / "abs.yaml").symlink_to("/etc/hostname")
    spec = RenderSpec(mode=mode, paths=("app",), helm_bin="/no/helm", kustomize_bin="/no/k")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match=r"^app/templates/abs\.yaml: a symbolic link leaving"):
        render.render(tmp_path, spec)


def test_kustomize_overlay(tmp_path: Path, testbed_bin_dir: Path) -> None:
    # The test bed's kustomize (make testbed), not whatever kubectl the machine happens to have.
    kustomize = str(testbed_bin_dir / "kustomize")
    base = tmp_path / "base"
    overlay = tmp_path / "overlay"
    base.mkdir()
    overlay.mkdir()
    (base / "cm.yaml").write_text(cm("settings"))
    (base / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (overlay / "kustomization.yaml").write_text("resources: [../base]\nnamePrefix: prod-\n")
    spec = RenderSpec(mode="kustomize", paths=("overlay",), kustomize_bin=kustomize)
    objs = render.render(tmp_path, spec)
    assert [o["metadata"]["name"] for o in objs] == ["prod-settings"]
    (overlay / "kustomization.yaml").write_text("resources: [../nowhere]\n")
    with pytest.raises(RenderError, match=r"overlay/kustomization\.yaml: .*'\.\./nowhere'"):
        render.render(tmp_path, spec)
    (overlay / "kustomization.yaml").write_text("resources: [../base]\nnamePrefix: [not, text]\n")
    with pytest.raises(RenderError, match="kustomize failed"):
        render.render(tmp_path, spec)


def test_helm_template_with_values_files(tmp_path: Path, testbed_bin_dir: Path) -> None:
    chart = tmp_path / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("color: blue\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  color: {{ .Values.color }}\n"
    )
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "prod.yaml").write_text("color: red\n")
    spec = RenderSpec(
        mode="helm",
        paths=("charts/web",),
        helm_release="prod",
        helm_namespace="shop",
        helm_values=("envs/prod.yaml",),
        helm_bin=str(testbed_bin_dir / "helm"),
        env={"HELM_CACHE_HOME": str(tmp_path / "h"), "HELM_CONFIG_HOME": str(tmp_path / "h")},
    )
    (obj,) = render.render(tmp_path, spec)
    assert obj["metadata"] == {"name": "prod-web", "namespace": "shop"}
    assert obj["data"] == {"color": "red"}
    (chart / "templates" / "bad.yaml").write_text("{{ .Values.nope.deeper }}\n")
    with pytest.raises(RenderError, match="helm failed"):
        render.render(tmp_path, spec)
