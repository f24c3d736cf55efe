"""The finder on small inline documents: one test per location kind and per YAML trap."""

from __future__ import annotations

from bumper.core import finder

SHA = "sha256:" + "c" * 64


def rows(text: str) -> list[tuple[int, str, str, str | None, str | None]]:
    result = finder.scan(text)
    assert result.skipped is None, result.skipped
    return [(f.line, f.kind, f.image, f.tag, f.digest) for f in result.found]


def test_pod_containers_in_any_workload() -> None:
    text = """\
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: init
              image: busybox:1.36
          containers:
            - name: app
              image: "ghcr.io/acme/api:1.0@SHA"
          ephemeralContainers:
            - {name: debug, image: 'nicolaka/netshoot'}
""".replace("SHA", SHA)
    assert rows(text) == [
        (10, "pod-container", "docker.io/library/busybox", "1.36", None),
        (13, "pod-container", "ghcr.io/acme/api", "1.0", SHA),
        (15, "pod-container", "docker.io/nicolaka/netshoot", None, None),
    ]


def test_helm_values_conventions() -> None:
    text = """\
global:
  imageRegistry: mirror.local
string:
  image: nginx:1.25
split:
  image:
    repository: ghcr.io/acme/web
    tag: "2.0"
    digest: ""
bitnami:
  image:
    registry: docker.io
    repository: bitnami/redis
    tag: 7.2.4
named:
  image:
    name: quay.io/acme/job
    tag: v3
deep:
  a:
    b:
      repository: acme/worker
      tag: 1.10
sibling:
  image: acme/side
  tag: v9
"""
    assert rows(text) == [
        (4, "image-string", "docker.io/library/nginx", "1.25", None),
        (8, "image-fields", "ghcr.io/acme/web", "2.0", None),
        (14, "image-fields", "mirror.local/bitnami/redis", "7.2.4", None),
        (18, "image-fields", "quay.io/acme/job", "v3", None),
        (23, "image-fields", "docker.io/acme/worker", "1.10", None),
        (26, "image-fields", "docker.io/acme/side", "v9", None),
    ]


def test_kustomize_images_and_flux_and_compose() -> None:
    kustomization = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: nginx
    newTag: 1.25.3
  - name: app
    newName: ghcr.io/acme/app
    digest: SHA
""".replace("SHA", SHA)
    assert rows(kustomization) == [
        (5, "kustomize-images", "docker.io/library/nginx", "1.25.3", None),
        (7, "kustomize-images", "ghcr.io/acme/app", None, SHA),
    ]
    compose = "services:\n  db:\n    image: postgres:16\n  web:\n    build: .\n"
    assert rows(compose) == [(3, "compose-service", "docker.io/library/postgres", "16", None)]
    helmrelease = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo
      tag: 6.5.0
"""
    assert rows(helmrelease) == [(7, "image-fields", "ghcr.io/stefanprodan/podinfo", "6.5.0", None)]


def test_argocd_application_sources() -> None:
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  sources:
    - helm:
        parameters:
          - name: image.repository
            value: ghcr.io/acme/api
          - name: image.tag
            value: "1.4.2"
          - name: worker.image
            value: ghcr.io/acme/worker:7
        values: |
          sidecar:
            image: envoyproxy/envoy:v1.29.0
        valuesObject:
          cache:
            image:
              repository: redis
              tag: "7"
    - kustomize:
        images:
          - ghcr.io/acme/ui:2.1
          - nginx=ghcr.io/acme/nginx:1.0
"""
    assert rows(text) == [
        (10, "argocd-helm-parameters", "ghcr.io/acme/api", "1.4.2", None),
        (12, "argocd-helm-parameters", "ghcr.io/acme/worker", "7", None),
        (15, "image-string", "docker.io/envoyproxy/envoy", "v1.29.0", None),
        (20, "image-fields", "docker.io/library/redis", "7", None),
        (23, "argocd-kustomize-images", "ghcr.io/acme/ui", "2.1", None),
        (24, "argocd-kustomize-images", "ghcr.io/acme/nginx", "1.0", None),
    ]


def test_markers() -> None:
    text = """\
env:
  API_IMAGE: ghcr.io/acme/api:1.0  # bumper:image=ghcr.io/acme/api
settings:
  apiTag: "1.0"  # bumper:tag=ghcr.io/acme/api
  apiDigest: ""  # bumper:digest=ghcr.io/acme/api
other: foo  # bumper:tag=not/a/Valid
"""
    assert rows(text) == [
        (2, "marker", "ghcr.io/acme/api", "1.0", None),
        (4, "marker", "ghcr.io/acme/api", "1.0", None),
    ]


def test_anchor_reported_once_and_multidoc() -> None:
    text = """\
base: &img
  repository: acme/a
  tag: v1
copy: *img
---
spec:
  containers:
    - image: acme/b:v2
    - image: &b acme/c:v3
    - image: *b
"""
    assert rows(text) == [
        (3, "image-fields", "docker.io/acme/a", "v1", None),
        (8, "pod-container", "docker.io/acme/b", "v2", None),
        (9, "pod-container", "docker.io/acme/c", "v3", None),
    ]


def test_crlf_bom_tabs_in_comments() -> None:
    text = "\ufeffspec:\r\n  containers:\r\n    - image: nginx:1.0\t# \ttabbed\r\n"
    result = finder.scan(text)
    (found,) = result.found
    assert (found.line, found.tag) == (3, "1.0")
    assert text[found.ref_slot.start : found.ref_slot.end] == "nginx:1.0"  # type: ignore[union-attr]


def test_templates_and_garbage_are_skipped_with_reason() -> None:
    helm = "spec:\n  containers:\n  {{- range .Values.x }}\n    - image: {{ .image }}\n"
    skipped = finder.scan(helm).skipped
    assert skipped is not None and "template" in skipped.reason
    broken = finder.scan("a: [1, 2\nb: }\n").skipped
    assert broken is not None and broken.reason.startswith("not valid YAML")
    assert finder.scan("").found == ()


def test_non_string_values_are_not_references() -> None:
    text = "a:\n  image: 1.5\nb:\n  image: true\nc:\n  image: |\n    nginx:1\n    more\n"
    assert rows(text) == []


def test_a_one_line_block_scalar_value_is_a_reference() -> None:
    # issue 16: `image: >-` with the reference on the next line (found on that line)
    text = "c:\n  image: |\n    nginx:1\nd:\n  image: >-\n    ghcr.io/acme/api@" + SHA + "\n"
    assert rows(text) == [
        (3, "image-string", "docker.io/library/nginx", "1", None),
        (6, "image-string", "ghcr.io/acme/api", None, SHA),
    ]


def test_find_matches_any_spelling_of_the_image() -> None:
    text = (
        "a:\n  image: nginx:1\nb:\n  image: index.docker.io/library/nginx:2\n"
        "c:\n  image: x/nginx:3\n"
    )
    assert [f.tag for f in finder.find(text, "docker.io/nginx")] == ["1", "2"]
    assert [f.tag for f in finder.find(text, "nginx")] == ["1", "2"]


def test_yaml_files_inside_configmaps_and_repo_tag_values() -> None:
    text = """\
kind: ConfigMap
data:
  katib-config.yaml: |
    suggestions:
      - algorithmName: random
        image: ghcr.io/kubeflow/katib/suggestion-hyperopt:v0.19.0
  notes.txt: |
    image: nginx:1.25
---
catalogue:
  image:
    repo: weaveworksdemos/catalogue
    tag: 0.3.5
"""
    assert rows(text) == [
        (6, "image-string", "ghcr.io/kubeflow/katib/suggestion-hyperopt", "v0.19.0", None),
        (13, "image-fields", "docker.io/weaveworksdemos/catalogue", "0.3.5", None),
    ]
