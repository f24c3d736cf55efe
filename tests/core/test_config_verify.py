"""bumper.yaml's ``verify:`` (on a rule or a registries entry): forms, precedence, errors."""

from __future__ import annotations

from typing import Any

from bumper.core import config

BASE: dict[str, Any] = {
    "apiVersion": "bumper/v1",
    "repos": [{"name": "c", "forge": "git", "url": "/srv/c.git"}],
}
VERIFY = {"keys": [{"file": "cosign.pub"}], "annotations": {"repo": "acme/api"}}


def rule(name: str, image: str, **extra: Any) -> dict[str, Any]:
    targets = [{"repo": "c", "paths": ["apps/**"]}]
    return {"name": name, "image": image, "policy": {"semver": "*"}, "targets": targets, **extra}


def validate(**sections: Any) -> tuple[config.BumperConfig | None, list[str]]:
    cfg, found = config.validate({**BASE, **sections})
    return cfg, [str(issue) for issue in found]


def test_a_rules_verify_replaces_its_registrys() -> None:
    own = {"keys": [{"env": "RULE_KEY"}]}
    cfg, found = validate(
        registries=[{"host": "ghcr.io", "verify": VERIFY}],
        images=[
            rule("plain", "ghcr.io/acme/api"),
            rule("own", "ghcr.io/acme/web", verify=own),
            rule("elsewhere", "quay.io/acme/db"),
        ],
    )
    assert found == [] and cfg is not None
    plain, own_rule, elsewhere = cfg.images
    assert cfg.verify_for(plain) == config.Verify.model_validate(VERIFY)
    assert cfg.verify_for(own_rule) == config.Verify.model_validate(own)
    assert cfg.verify_for(elsewhere) is None


def test_a_rule_verifying_a_registry_without_an_entry_is_refused() -> None:
    _, found = validate(images=[rule("r", "ghcr.io/acme/api", verify=VERIFY)])
    assert found == [
        "images[0].verify: verifying signatures on ghcr.io needs an entry in registries "
        "(host: ghcr.io)"
    ]


def test_verify_needs_a_key_and_keys_are_secret_references() -> None:
    registries = [{"host": "ghcr.io"}]
    _, none = validate(registries=registries, images=[rule("r", "ghcr.io/a", verify={"keys": []})])
    assert len(none) == 1 and none[0].startswith("images[0].verify.keys")
    inline = {"keys": ["-----BEGIN PUBLIC KEY-----"]}
    _, bad = validate(registries=registries, images=[rule("r", "ghcr.io/a", verify=inline)])
    assert bad and bad[0].startswith("images[0].verify.keys[0]")
    typo = {"keys": [{"file": "k.pub"}], "annotation": {"a": "b"}}
    _, extra = validate(registries=registries, images=[rule("r", "ghcr.io/a", verify=typo)])
    assert extra and extra[0].startswith("images[0].verify.annotation")


def test_a_classic_helm_repository_chart_cannot_verify() -> None:
    chart = {
        "name": "r",
        "chart": "podinfo",
        "chart_repository": "https://charts.example",
        "policy": {"semver": "*"},
        "targets": [{"repo": "c", "paths": ["apps/**"]}],
        "verify": VERIFY,
    }
    _, found = validate(images=[chart])
    assert any("not for a chart of a classic Helm repository" in f for f in found)
