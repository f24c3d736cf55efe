"""bumper.yaml's ``registries:`` block and ``poll:`` intervals: valid forms, one-line errors,
and receivers' scope naming an entry."""

from __future__ import annotations

from typing import Any

import pytest

from bumper.core import config
from bumper.sources import SENDERS, scoping

BASE: dict[str, Any] = {
    "apiVersion": "bumper/v1",
    "repos": [{"name": "c", "forge": "git", "url": "/srv/c.git"}],
}


def rule(image: str, **extra: Any) -> dict[str, Any]:
    targets = [{"repo": "c", "paths": ["apps/**"]}]
    return {"name": "r", "image": image, "policy": {"semver": "*"}, "targets": targets, **extra}


def issues(**sections: Any) -> list[str]:
    found = config.validate({**BASE, **sections})[1]
    return [str(issue) for issue in found]


def test_entry_with_credentials_poll_and_ca() -> None:
    cfg, found = config.validate(
        {
            **BASE,
            "registries": [
                {
                    "name": "hub",
                    "host": "index.docker.io",
                    "credentials": {"username": "bot", "password": {"file": "hub.token"}},
                    "poll": "1h30m",
                    "ca_file": "ca.pem",
                },
                {"host": "127.0.0.1:5000", "plain_http": True, "poll": 30},
            ],
            "images": [rule("nginx", poll="5m")],
        }
    )
    assert found == [] and cfg is not None
    hub = cfg.registry("docker.io")
    assert hub is not None and hub.poll == 5400 and hub.api == "distribution"
    assert cfg.images[0].poll == 300
    assert cfg.registry_hosts() == {"hub": "docker.io", "127.0.0.1:5000": "127.0.0.1:5000"}
    assert cfg.registry("ghcr.io") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"host": "ghcr.io", "poll": "5x"}, "registries[0].poll: '5x' is not a duration"),
        ({"host": "ghcr.io", "poll": "0s"}, "registries[0].poll: a poll interval is between"),
        ({"host": "ghcr.io", "api": "ecr"}, "registries[0].api: Input should be 'distribution'"),
        ({"host": "https://ghcr.io"}, "registries[0].host: 'https://ghcr.io' is not a registry"),
        ({"host": "ghcr.io", "token": "x"}, "registries[0].token: Extra inputs"),
        (
            {
                "host": "ghcr.io",
                "plain_http": True,
                "credentials": {"username": "u", "password": {"env": "P"}},
            },
            "registries[0]: credentials over plain_http are allowed to loopback hosts only",
        ),
    ],
)
def test_bad_entries_are_one_line_errors(entry: dict[str, Any], message: str) -> None:
    found = issues(registries=[entry])
    assert len(found) == 1 and found[0].startswith(message), found
    assert "\n" not in found[0]


def test_duplicate_hosts_polled_rule_without_entry_and_unknown_scope_name() -> None:
    found = issues(
        registries=[{"host": "ghcr.io"}, {"host": "GHCR.io"}],
        images=[rule("quay.io/acme/api", poll="1m")],
        receivers=[
            {"name": "h", "type": "harbor", "insecure": True, "scope": {"images": ["harbor"]}}
        ],
    )
    assert found == [
        "registries[1].host: duplicate host 'ghcr.io' (first at registries[0])",
        "receivers[0].scope.images[0]: 'harbor' names no registries entry (registries: ghcr.io)",
        "images[0].poll: polling quay.io needs an entry in registries (host: quay.io)",
    ]


def test_scope_may_name_an_entry() -> None:
    cfg, found = config.validate(
        {
            **BASE,
            "registries": [{"name": "harbor", "host": "harbor.example.com"}],
            "receivers": [
                {"name": "h", "type": "harbor", "insecure": True, "scope": {"images": ["harbor"]}}
            ],
        }
    )
    assert found == [] and cfg is not None
    scope = scoping.scope_of(cfg.receivers[0], SENDERS["harbor"], cfg.registry_hosts())
    assert [str(p) for p in scope.images] == ["harbor.example.com"]
    assert scoping.problems(cfg) == []
