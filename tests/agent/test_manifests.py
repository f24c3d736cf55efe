"""Pure manifest logic: validation, ownership marks, ordering, the in-sync test, images."""

from __future__ import annotations

import copy

import pytest

from bumper.agent import manifests
from bumper.agent.manifests import Key
from bumper.errors import ManifestError


def deployment(image: str = "nginx:1.25", replicas: int = 1) -> manifests.Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1"}],
                    "containers": [{"name": "web", "image": image, "resources": {"cpu": "0.5"}}],
                }
            },
        },
    }


def test_validate_flattens_lists_and_refuses_duplicates() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    flat = manifests.validate([None, {"apiVersion": "v1", "kind": "List", "items": [cm]}])
    assert flat == [cm]
    with pytest.raises(ManifestError, match="declared twice"):
        manifests.validate([cm, copy.deepcopy(cm)])


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("text", "not a mapping"),
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "no apiVersion"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "no metadata.name"),
    ],
)
def test_validate_refuses_malformed_documents(doc: object, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        manifests.validate([doc])


def test_mark_adds_labels_hash_and_default_namespace_without_touching_input() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    before = copy.deepcopy(obj)
    marked = manifests.mark(obj, agent="prod", namespace="apps")
    assert obj == before
    assert marked["metadata"]["namespace"] == "apps"
    assert manifests.owned_by(marked, "prod")
    assert not manifests.owned_by(marked, "staging")
    digest = marked["metadata"]["annotations"][manifests.HASH_ANNOTATION]
    other = manifests.mark({**obj, "data": {"k": "w"}}, agent="prod", namespace="apps")
    assert other["metadata"]["annotations"][manifests.HASH_ANNOTATION] != digest


def test_ordered_puts_crds_then_namespaces_first_and_keeps_render_order() -> None:
    docs = [
        {"kind": "ConfigMap", "n": 1},
        {"kind": "Namespace", "n": 2},
        {"kind": "Deployment", "n": 3},
        {"kind": "CustomResourceDefinition", "n": 4},
    ]
    assert [d["n"] for d in manifests.ordered(docs)] == [4, 2, 1, 3]


def live_copy(marked: manifests.Obj) -> manifests.Obj:
    live = copy.deepcopy(marked)
    live["metadata"].update(resourceVersion="7", uid="u", generation=2)
    live["metadata"]["labels"]["extra"] = "someone else's"
    live["spec"]["progressDeadlineSeconds"] = 600  # server default: not ours, not drift
    live["status"] = {"replicas": 1}
    return live


def test_in_sync_ignores_server_additions_but_sees_changes_to_our_fields() -> None:
    marked = manifests.mark(deployment(), agent="a", namespace=None)
    live = live_copy(marked)
    assert manifests.in_sync(marked, live, None)
    assert not manifests.in_sync(marked, None, None)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:hacked"
    assert not manifests.in_sync(marked, edited, None)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    assert not manifests.in_sync(marked, scaled, None)


def test_in_sync_needs_the_same_manifest_hash() -> None:
    old = manifests.mark(deployment("nginx:1.25"), agent="a", namespace=None)
    new = manifests.mark(deployment("nginx:1.26"), agent="a", namespace=None)
    assert not manifests.in_sync(new, live_copy(old), None)


def test_server_normalisation_is_not_drift_once_remembered() -> None:
    marked = manifests.mark(deployment(), agent="a", namespace=None)
    live = live_copy(marked)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["cpu"] = "500m"
    assert not manifests.in_sync(marked, live, None)
    remembered = manifests.normalised_fingerprint(marked, live)
    assert manifests.in_sync(marked, live, remembered)
    live["spec"]["replicas"] = 3
    assert not manifests.in_sync(marked, live, remembered)


def test_an_apply_the_server_did_not_normalise_leaves_nothing_to_remember() -> None:
    marked = manifests.mark(deployment(), agent="a", namespace=None)
    live = live_copy(marked)
    assert manifests.normalised_fingerprint(marked, live) == ""
    assert manifests.in_sync(marked, live, "")
    live["spec"]["replicas"] = 3
    assert not manifests.in_sync(marked, live, "")


def test_images_and_reference_split() -> None:
    assert manifests.images(deployment("nginx:1.25")) == ["busybox:1", "nginx:1.25"]
    cron = {
        "kind": "CronJob",
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "job:1"}]}}}}
        },
    }
    assert manifests.images(cron) == ["job:1"]
    ref = manifests.ImageRef.split("localhost:5000/team/app:v2@sha256:abc")
    assert ref == manifests.ImageRef("localhost:5000/team/app", "v2", "sha256:abc")
    assert manifests.ImageRef.split("localhost:5000/app") == manifests.ImageRef(
        "localhost:5000/app", None, None
    )


def test_key_round_trips_through_its_encoding() -> None:
    key = Key("apps", "Deployment", "shop", "web")
    assert Key.decode(key.encode()) == key
    assert str(key) == "Deployment.apps shop/web"
