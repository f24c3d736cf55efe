"""Decision log against a real redis-server: bounded lists, per-image lookups, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from bumper import cli, decisions
from bumper.core import events, policy
from bumper.settings import DecisionLogSettings
from tests.support.redis_server import RedisServer, free_port

API = "ghcr.io/acme/api"
NGINX = "docker.io/library/nginx"


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client


def decision(tag: str, result: policy.Result = "accepted") -> policy.Decision:
    return policy.Decision(tag, "semver ^1", result, f"why {tag}", current="1.0.0", pin=tag)


def push(tag: str) -> events.ImageEvent:
    return events.ImageEvent("image.pushed", API, tag, source="ghcr", delivery_id=f"d-{tag}")


def test_entries_round_trip_newest_first(client: redis.Redis) -> None:
    log = decisions.DecisionLog(client)
    log.record(decision("1.1.0"), image=API, rule_name="api", event=push("1.1.0"), at=100.0)
    log.record(decision("1.2.0", "rejected"), image=API, rule_name="api", target="prod", at=101.0)
    entries = log.recent(image=API)
    assert [e["candidate"] for e in entries] == ["1.2.0", "1.1.0"]
    first = entries[1]
    assert set(first) == set(decisions.ENTRY_KEYS)
    assert first["source"] == "ghcr" and first["delivery_id"] == "d-1.1.0"
    assert (first["rule"], first["result"], first["why"]) == ("semver ^1", "accepted", "why 1.1.0")
    assert first["time"] == 100.0 and entries[0]["target"] == "prod"


def test_lists_are_bounded_globally_and_per_image(client: redis.Redis) -> None:
    limits = DecisionLogSettings(total=5, per_image=3)
    log = decisions.DecisionLog(client, limits=limits)
    for n in range(10):
        log.record(decision(f"1.{n}.0"), image=API)
    log.record_many([decision("2.0.0"), decision("2.1.0")], image=NGINX)
    assert client.llen(log.global_key) == 5
    assert client.llen(log.image_key(API)) == 3
    assert [e["candidate"] for e in log.recent(image=API)] == ["1.9.0", "1.8.0", "1.7.0"]
    assert [e["candidate"] for e in log.recent(limit=3)] == ["2.1.0", "2.0.0", "1.9.0"]
    assert 0 < client.ttl(log.image_key(API)) <= limits.image_ttl_seconds


def test_image_lookup_normalises_and_falls_back_to_rule_name(client: redis.Redis) -> None:
    log = decisions.DecisionLog(client)
    log.record(decision("1.25.0"), image=NGINX, rule_name="web")
    log.record(decision("1.0.0"), image=API, rule_name="api")
    assert [e["candidate"] for e in log.recent(image="nginx")] == ["1.25.0"]
    assert [e["candidate"] for e in log.recent(image="api")] == ["1.0.0"]
    assert log.recent(image="unknown/image") == []
    assert log.recent(limit=0) == []


def test_damaged_items_are_skipped(client: redis.Redis) -> None:
    log = decisions.DecisionLog(client)
    log.record(decision("1.0.0"), image=API)
    client.lpush(log.global_key, b"not json", b"[1, 2]")
    assert [e["candidate"] for e in log.recent()] == ["1.0.0"]


@pytest.fixture
def cli_env(
    redis_server: RedisServer, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)


def test_cli_log_text_json_and_filters(
    cli_env: None, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    log = decisions.DecisionLog(client)
    log.record(decision("1.25.0", "rejected"), image=NGINX, rule_name="web", at=0.0)
    log.record(decision("1.1.0"), image=API, rule_name="api", event=push("1.1.0"), at=60.0)

    assert cli.main(["log"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "1970-01-01T00:01:00Z ghcr.io/acme/api (api) 1.1.0 (current 1.0.0) ACCEPTED by "
        "semver ^1: why 1.1.0 [ghcr d-1.1.0]",
        "1970-01-01T00:00:00Z docker.io/library/nginx (web) 1.25.0 (current 1.0.0) REJECTED by "
        "semver ^1: why 1.25.0",
    ]
    assert cli.main(["log", "--image", "nginx", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["candidate"] for e in data] == ["1.25.0"]
    assert cli.main(["log", "--limit", "1", "--json"]) == 0
    assert [e["candidate"] for e in json.loads(capsys.readouterr().out)] == ["1.1.0"]
    assert cli.main(["log", "--image", "quay.io/none/such"]) == 1
    assert "no decisions logged for quay.io/none/such" in capsys.readouterr().err


def test_cli_log_without_redis_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "redis-password").write_text("s3cret\n")
    monkeypatch.setenv("BUMPER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("BUMPER_REDIS_PASSWORD_FILE", str(tmp_path / "redis-password"))
    assert cli.main(["log"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the decision log" in err
    assert "s3cret" not in err


def test_ready_made_entries_keep_extra_keys_and_fill_missing(client: redis.Redis) -> None:
    written = decisions.record(
        client, {"image": API, "candidate": "1.3.0", "result": "held", "stage": "gate"}
    )
    assert written["time"] > 0 and written["why"] is None
    decisions.record(client, {"candidate": "x", "result": "rejected"})  # no image: global only
    log = decisions.DecisionLog(client)
    assert [e["candidate"] for e in log.recent()] == ["x", "1.3.0"]
    (entry,) = log.recent(image=API)
    assert entry["stage"] == "gate" and set(decisions.ENTRY_KEYS) <= set(entry)


def test_cli_log_refuses_a_bad_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["log", "--limit", "0"]) == 2
    assert "must be a positive integer" in capsys.readouterr().err
