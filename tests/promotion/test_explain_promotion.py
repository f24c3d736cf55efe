"""``bumper explain-promotion IMAGE`` on the state the real flow left in Redis (web app,
worker jobs, forge simulator): where each digest stands, per environment, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from bumper import cli
from tests.promotion.harness import D1, D2, IMAGE, drain, push, report
from tests.support.forgesim import ForgeSim
from worker import jobs


@pytest.fixture
def gates() -> dict[str, str]:
    return {"staging_gate": "{healthy_for: 10m}"}


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the worker's own output, before
    code = cli.main(["explain-promotion", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_it_shows_each_digest_per_environment_with_the_soak_left(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    report(web, "dev", "1.2.0", D2, ready=False, bad="Deployment.apps/api not healthy after 60s")
    drain(redis_client)
    report(web, "dev", "1.1.0", D1)  # rolled back to D1, whose soak starts again
    drain(redis_client)
    code, out, err = explain(capsys, f"{IMAGE}:1.2.0")  # a tag in IMAGE is ignored
    assert code == 0 and not err
    lines = out.splitlines()
    assert lines[0] == f"pipeline api: {IMAGE}"
    newest = lines.index(f"  1.2.0@{D2}" + lines[1].split(D2, 1)[1])
    assert newest == 1, out  # the newest digest first
    d2 = "\n".join(lines[1:5])
    assert "dev      blocked   failed in dev: Deployment.apps/api not healthy after 60s" in d2
    d1 = out.split(f"1.1.0@{D1}", 1)[1]
    staging = next(line for line in d1.splitlines() if line.strip().startswith("staging"))
    assert "waiting   healthy_for 10m in dev, since 20" in staging
    assert staging.endswith(" left") and ("9m" in staging or "10m" in staging), staging
    prod = next(line for line in d1.splitlines() if line.strip().startswith("prod"))
    assert "pending   not in staging yet" in prod
    code, by_name, _ = explain(capsys, "api", "--limit", "1")
    assert code == 0 and D2 in by_name and D1 not in by_name
    code, raw, _ = explain(capsys, "api", "--json")
    records = json.loads(raw)["api"]
    assert [r["digest"] for r in records] == [D2, D1]
    assert records[1]["statuses"][1]["until"] > records[1]["statuses"][1]["since"]


def test_an_image_in_no_pipeline_exits_1_with_one_line(
    sim: ForgeSim, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = explain(capsys, "ghcr.io/acme/other")
    assert code == 1 and not out
    assert (
        err == "bumper: ghcr.io/acme/other is in no pipeline (pipelines: api (ghcr.io/acme/api))\n"
    )
    code, out, _ = explain(capsys, IMAGE)
    assert code == 0 and "no digest seen yet (none reported running in dev)" in out


def test_config_and_redis_errors_exit_2_with_one_line(
    sim: ForgeSim,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: bumper/v1\npipelines: [{name: api}]\n")
    code, out, err = explain(capsys, "--file", str(broken), IMAGE)
    assert code == 2 and not out and err.startswith("bumper: error: ") and err.count("\n") == 1
    monkeypatch.setenv("BUMPER_REDIS_URL", "redis://127.0.0.1:1/0")
    code, out, err = explain(capsys, IMAGE)
    assert (code, out) == (2, "")
    assert err == "bumper: error: cannot read promotion state: ConnectionError\n"


def test_a_garbled_record_is_shown_without_a_traceback(
    sim: ForgeSim, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_client.hset(
        "bumper:promotion:api",
        mapping={
            D1: json.dumps({"tag": "1.1.0", "first_seen": "x", "statuses": [1, "a", None]}),
            D2: json.dumps({"first_seen": 5, "statuses": 7}),
            "junk": "not json",
        },
    )
    code, out, err = explain(capsys, IMAGE)
    assert code == 0 and not err
    assert f"1.1.0@{D1}" in out and f"?@{D2}" in out and "junk" not in out
