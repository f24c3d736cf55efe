"""The PR's effect in the cluster (issue 21 item 3): the affected kustomize overlay or helm
release rendered before and after with the test bed's kustomize and helm, on the renderable
test data in tests/data/render; the summary names exactly the containers whose image changed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from worker import effect
from worker.effect import Tools, Unit

DATA = Path(__file__).resolve().parents[1] / "data" / "render"
PROD = "kustomize/overlays/prod/kustomization.yaml"
DEV = "kustomize/overlays/dev/kustomization.yaml"


@pytest.fixture
def tools(testbed_bin_dir: Path) -> Tools:
    kustomize = testbed_bin_dir / "kustomize"
    if not kustomize.exists():
        pytest.fail(f"the test bed has no kustomize at {kustomize}: run `make testbed`")
    return Tools(helm_bin=str(testbed_bin_dir / "helm"), kustomize_bin=str(kustomize))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """The test data twice: as before the change, and a copy to change."""
    before, after = tmp_path / "before", tmp_path / "after"
    shutil.copytree(DATA, before)
    shutil.copytree(DATA, after)
    return before, after


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))


def rows(markdown: str) -> list[tuple[str, str, str]]:
    """(workload, container, image change) of every summary table row."""
    found = re.findall(r"^\| (`[^|]*`) \| (`[^|]*`(?: \(init\))?) \| (.*) \|$", markdown, re.M)
    return [(w.strip("`"), c.replace("`", ""), i.replace("`", "")) for w, c, i in found]


def test_kustomize_overlay_names_exactly_the_containers_whose_image_changed(
    trees: tuple[Path, Path], tools: Tools
) -> None:
    before, after = trees
    edit(after, PROD, "newTag: 1.0.0", "newTag: 1.1.0")
    section = effect.compare(before, after, [PROD], tools)
    assert section.title == "Effect in the cluster"
    text = section.text
    assert "**kustomize build of `kustomize/overlays/prod`**: 2 containers change image." in text
    assert rows(text) == [
        (
            "Deployment shop-prod/shop",
            "migrate (init)",
            "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.1.0",
        ),
        ("Deployment shop-prod/shop", "api", "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.1.0"),
    ]  # not the envoy sidecar nor the jobs runner, and the dev overlay is not rendered
    assert "shop-dev" not in text
    assert "<details><summary>Rendered diff: 1 object changed</summary>" in text
    diff = text.split("```diff\n", 1)[1].split("\n```", 1)[0]
    assert diff.startswith("--- a/Deployment/shop-prod/shop\n+++ b/Deployment/shop-prod/shop\n")
    changed = [
        line[0] + line[1:].replace(" ", "").removeprefix("-")  # the sign, not a list's dash
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("--- ", "+++ "))
    ]
    old, new = "-image:ghcr.io/acme/api:1.0.0", "+image:ghcr.io/acme/api:1.1.0"
    assert sorted(changed) == [new, new, old, old]


def test_the_other_overlay_and_a_sidecar_only_change(
    trees: tuple[Path, Path], tools: Tools
) -> None:
    before, after = trees
    edit(after, DEV, "newTag: 1.0.0", "newTag: 1.2.0")
    edit(after, PROD, "newTag: v1.31.0", "newTag: v1.32.0")
    text = effect.compare(before, after, [DEV, PROD], tools).text
    assert rows(text) == [
        (
            "Deployment shop-dev/shop",
            "migrate (init)",
            "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.2.0",
        ),
        ("Deployment shop-dev/shop", "api", "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.2.0"),
        (
            "Deployment shop-prod/shop",
            "envoy",
            "docker.io/envoyproxy/envoy:v1.31.0 → docker.io/envoyproxy/envoy:v1.32.0",
        ),
    ]
    assert "**kustomize build of `kustomize/overlays/prod`**: 1 container change image." in text


def test_helm_release_with_the_environment_values_file(
    trees: tuple[Path, Path], tools: Tools
) -> None:
    before, after = trees
    values = "helm/shop/values-prod.yaml"
    edit(after, values, 'tag: "1.0.0"', 'tag: "1.1.0"')
    text = effect.compare(before, after, [values], tools).text
    assert "**helm release of the chart `helm/shop` with `helm/shop/values-prod.yaml`**" in text
    assert rows(text) == [
        ("Deployment shop", "migrate (init)", "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.1.0"),
        ("Deployment shop", "api", "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.1.0"),
    ]  # 1.0.0: prod's values on top of the chart's (0.9.0)
    assert "Rendered diff: 1 object changed" in text  # not the ConfigMap


def test_helm_chart_defaults_change_the_sidecar_only(
    trees: tuple[Path, Path], tools: Tools
) -> None:
    before, after = trees
    values = "helm/shop/values.yaml"
    edit(after, values, "tag: v1.30.0", "tag: v1.31.0")
    text = effect.compare(before, after, [values], tools).text
    assert "**helm release of the chart `helm/shop`**" in text
    assert rows(text) == [
        (
            "Deployment shop",
            "envoy",
            "docker.io/envoyproxy/envoy:v1.30.0 → docker.io/envoyproxy/envoy:v1.31.0",
        )
    ]


def test_a_remote_base_is_not_rendered_and_says_why(trees: tuple[Path, Path], tools: Tools) -> None:
    before, after = trees
    remote = "  - https://github.com/acme/base//deploy?ref=v1\n"
    for root in trees:
        edit(root, PROD, "  - ../../base\n", "  - ../../base\n" + remote)
    edit(after, PROD, "newTag: 1.0.0", "newTag: 1.1.0")
    text = effect.compare(before, after, [PROD], tools).text
    assert text.startswith("**kustomize build of `kustomize/overlays/prod`**: not rendered: ")
    assert "'https://github.com/acme/base//deploy?ref=v1' is a remote source" in text
    assert str(before) not in text and str(after) not in text
    assert "|" not in text  # no table


def test_a_helm_dependency_to_fetch_is_not_rendered(trees: tuple[Path, Path], tools: Tools) -> None:
    before, after = trees
    dependency = (
        "dependencies:\n  - name: redis\n    version: 1.0.0\n    repository: oci://r.example/c\n"
    )
    for root in trees:
        edit(
            root,
            "helm/shop/Chart.yaml",
            'appVersion: "1.0.0"\n',
            'appVersion: "1.0.0"\n' + dependency,
        )
    edit(after, "helm/shop/values-dev.yaml", 'tag: "1.0.0"', 'tag: "1.1.0"')
    text = effect.compare(before, after, ["helm/shop/values-dev.yaml"], tools).text
    assert "not rendered: before the change: helm/shop/Chart.yaml:" in text
    assert "'oci://r.example/c' is a remote source" in text


def test_a_missing_tool_is_a_reason_not_an_error(trees: tuple[Path, Path]) -> None:
    before, after = trees
    edit(after, PROD, "newTag: 1.0.0", "newTag: 1.1.0")
    missing = Tools(kustomize_bin="/nonexistent/kustomize")
    text = effect.compare(before, after, [PROD], missing).text
    assert "not rendered: before the change: /nonexistent/kustomize is not installed." in text


def test_which_render_a_file_belongs_to() -> None:
    def unit(file: str) -> Unit:
        return effect.unit_of(DATA, file)

    assert unit(PROD) == Unit("kustomize", "kustomize/overlays/prod")
    assert unit("kustomize/base/shop.yaml") == Unit("kustomize", "kustomize/base")
    assert unit("helm/shop/values-dev.yaml") == Unit(
        "helm", "helm/shop", "helm/shop/values-dev.yaml"
    )
    assert unit("helm/shop/values.yaml") == Unit("helm", "helm/shop")
    assert unit("helm/shop/templates/deployment.yaml") == Unit("helm", "helm/shop")
    assert unit("README.md") == Unit("plain", "README.md")
    assert unit("../outside.yaml") == Unit("plain", "../outside.yaml")


def deployments(count: int, tag: str) -> str:
    return "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{index:03}\n"
        f"spec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: main\n          image: ghcr.io/acme/app:{tag}\n"
        f"          env:\n            - name: NOTE\n              value: {'x' * 150}\n"
        for index in range(count)
    )


def test_a_large_change_is_cut_with_a_note(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    for root, tag in ((before, "1.0.0"), (after, "1.1.0")):
        (root / "apps").mkdir(parents=True)
        (root / "apps" / "all.yaml").write_text(deployments(200, tag))
    text = effect.compare(before, after, ["apps/all.yaml"], Tools()).text
    assert "**manifests of `apps/all.yaml`**: 200 containers change image." in text
    assert len(rows(text)) == effect.MAX_ROWS
    assert "| … and 150 more | | |" in text
    diff = text.split("```diff\n", 1)[1].split("\n```", 1)[0]
    assert 15_000 < len(diff) <= effect.DIFF_CHARS
    shown = diff.count("+++ b/Deployment/")
    assert 0 < shown < 200
    assert f"_Diff cut at 20,000 characters: {shown} of 200 objects changed shown._" in text
    assert len(text) < effect.DIFF_CHARS + 10_000


def test_repository_text_cannot_break_out_of_the_diff_or_table(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    note: "
        "'```{tag}\n\n</details>\n\n# forged'\nspec:\n  containers:\n    - name: 'a|b`c'\n"
        "      image: x:{tag}\n"
    )
    for root, tag in ((before, "1"), (after, "2")):
        root.mkdir()
        (root / "pod.yaml").write_text(pod.format(tag=tag))
    text = effect.compare(before, after, ["pod.yaml"], Tools()).text
    assert "| `Pod p` | `a\\|b'c` | `x:1` → `x:2` |" in text
    assert "````diff\n" in text and text.rstrip().endswith("````\n\n</details>")


def test_a_container_or_workload_on_one_side_only_counts(tmp_path: Path) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n{items}"
    item = "    - name: {0}\n      image: {0}:1\n"
    before, after = tmp_path / "before", tmp_path / "after"
    for root, names in ((before, ["a", "b"]), (after, ["a", "c"])):
        root.mkdir()
        items = "".join(item.format(n) for n in names)
        (root / "pods.yaml").write_text(pod.format(name="p", items=items))
    (after / "pods.yaml").write_text(
        (after / "pods.yaml").read_text() + "---\n" + pod.format(name="q", items=item.format("d"))
    )
    text = effect.compare(before, after, ["pods.yaml"], Tools()).text
    assert rows(text) == [
        ("Pod p", "c", "none → c:1"),
        ("Pod p", "b", "b:1 → none"),
        ("Pod q", "d", "none → d:1"),
    ]
    assert "Rendered diff: 2 objects changed" in text
    assert "--- /dev/null\n+++ b/Pod/q\n" in text


def test_renders_share_one_time_budget(trees: tuple[Path, Path], tools: Tools) -> None:
    before, after = trees
    edit(after, PROD, "newTag: 1.0.0", "newTag: 1.1.0")
    spent = Tools(tools.helm_bin, tools.kustomize_bin, timeout=0.0)
    text = effect.compare(before, after, [PROD], spent).text
    assert "not rendered: out of time: all renders of a PR get 0s." in text


GOLDEN = DATA / "expected"


@pytest.mark.parametrize(
    ("name", "file", "old", "new"),
    [
        ("kustomize-prod", PROD, "newTag: 1.0.0", "newTag: 1.1.0"),
        ("helm-prod", "helm/shop/values-prod.yaml", 'tag: "1.0.0"', 'tag: "1.1.0"'),
    ],
)
def test_golden_sections(
    trees: tuple[Path, Path], tools: Tools, name: str, file: str, old: str, new: str
) -> None:
    """The whole section, byte for byte (tests/data/render/expected/<name>.md)."""
    before, after = trees
    edit(after, file, old, new)
    section = effect.compare(before, after, [file], tools)
    assert section.text == (GOLDEN / f"{name}.md").read_text()
