"""The worker end to end without the web: events → handle_event → bump jobs → commits,
on a real Redis, a real RQ worker and real git repositories."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Retry

from bumper import decisions as decisions_log
from bumper import rqjobs, sources
from bumper.core import agentreport, events
from bumper.core.config import BumperConfig
from bumper.errors import PermanentError, TransientError
from bumper.settings import Settings
from bumper.web import create_app
from tests.support.jobs import drain as run_jobs
from tests.support.redis_server import RedisServer
from worker import bump, context, edits, jobs, store

SOURCE_FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"

DEPLOY = "apps/api/deploy.yaml"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def setup(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A bare config repo with api at 1.0.0, and a bumper.yaml pointing at it."""
    seed = tmp_path / "seed"
    (seed / "apps" / "api").mkdir(parents=True)
    (seed / DEPLOY).write_text(
        "spec:\n  containers:\n    - name: api\n      image: ghcr.io/acme/api:1.0.0  # keep me\n"
    )
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed")
    bare = tmp_path / "config.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    config = tmp_path / "bumper.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: config
                forge: git
                url: {bare}
                branch: main
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: ">=1.0.0 <2", prerelease: true}}
                targets:
                  - repo: config
                    paths: ["apps/**"]
                    mode: commit
              - name: gated
                image: ghcr.io/acme/gated
                policy: {{semver: ">=1.0.0"}}
                gate: {{ci: github, repository: acme/gated}}
                targets:
                  - repo: config
                    paths: ["apps/**"]
                    mode: commit
              - name: tagged
                image: ghcr.io/acme/tagged
                policy: {{semver: ">=1.0.0"}}
                gate: {{ci: github, repository: acme/tagged, tags: ["v*"]}}
                targets:
                  - repo: config
                    paths: ["apps/**"]
                    mode: commit
            ci:
              - name: api-main
                source: github
                repository: acme/api
                branches: ["main"]
                image: api
                tag: "1.9.0-main.{{short_sha}}"
            """
        )
    )
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    context.current.cache_clear()
    yield bare
    context.current.cache_clear()


def push(tag: str, image: str = "ghcr.io/acme/api", **extra: Any) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed",
        image=image,
        tag=tag,
        source="test",
        delivery_id=f"d-{image}-{tag}",
        received_at=1.0,
        extra=extra,
    )
    return events.to_dict(event)


def build(
    status: str, commit: str, repository: str = "acme/gated", ref: str = "refs/heads/main"
) -> dict[str, Any]:
    event = events.BuildFinished(
        status=status,  # type: ignore[arg-type]
        commit=commit,
        ref=ref,
        repository=repository,
        source="github",
        delivery_id=f"b-{commit}-{status}",
    )
    return events.to_dict(event)


def drain(client: redis.Redis) -> None:
    run_jobs(client, "bumper-test")


def file_at(bare: Path, ref: str = "main") -> str:
    return git(bare, "show", f"{ref}:{DEPLOY}")


def decisions(client: redis.Redis) -> list[dict[str, Any]]:
    return decisions_log.DecisionLog(client).recent(limit=1000)


def test_a_push_becomes_one_commit_by_the_bot(setup: Path, client: redis.Redis) -> None:
    job_ids = jobs.handle_event(push("1.2.0"))
    assert job_ids and job_ids[0].startswith("bump-api_0-")
    drain(client)
    assert file_at(setup).endswith("image: ghcr.io/acme/api:1.2.0  # keep me")
    subject, author = git(setup, "log", "-1", "--format=%s|%an", "main").split("|")
    assert (subject, author) == ("Bump api to 1.2.0", "bumper")
    bumped = [d for d in decisions(client) if d.get("target")]
    assert bumped and bumped[0]["result"] == "accepted" and bumped[0]["pin"] == "1.2.0"
    head = git(setup, "rev-parse", "main")
    assert f"committed {head[:12]} to config@main" in bumped[0]["why"]
    assert (bumped[0]["rule_name"], bumped[0]["delivery_id"]) == ("api", "d-ghcr.io/acme/api-1.2.0")


def test_a_harbor_1x_delete_image_is_never_a_bump(setup: Path, client: redis.Redis) -> None:
    """Harbor 1.x ``deleteImage`` (tests/sources/fixtures) becomes an ``image.deleted``: the
    rule of its image records why it is not bumped, and the config repo is untouched."""
    body = (SOURCE_FIXTURES / "harbor" / "deleteImage.v1.json").read_bytes()
    (deleted,) = sources.SENDERS["harbor"].parse({}, body)
    assert isinstance(deleted, events.ImageEvent) and deleted.type == "image.deleted"
    here = dataclasses.replace(deleted, image="ghcr.io/acme/api", tag="9.9.9", delivery_id="d-del")
    before = file_at(setup)
    assert jobs.handle_event(events.to_dict(here)) == []
    drain(client)
    assert file_at(setup) == before
    found = [d for d in decisions(client) if d["rule_name"] == "api"]
    assert [(d["result"], d["why"]) for d in found] == [("rejected", "deletes are not bumped")]


def test_a_burst_gives_one_commit_with_the_newest_allowed_tag(
    setup: Path, client: redis.Redis
) -> None:
    tags = ["1.0.5", "1.3.0", "2.0.0", "1.2.9", "1.3.0-rc.1", "1.1.0", "bad tag!"] * 3
    ids = {jid for tag in tags for jid in jobs.handle_event(push(tag))}
    assert len(ids) == 1  # one pending bump job for the target, however many pushes
    drain(client)
    assert file_at(setup).endswith("api:1.3.0  # keep me")
    assert git(setup, "rev-list", "--count", "main") == "2"
    assert client.hlen(f"{store.PREFIX}cand:api/0") == 0


def test_each_decision_links_the_event_of_its_own_candidate(
    setup: Path, client: redis.Redis
) -> None:
    for tag in ["1.1.0", "1.3.0", "1.2.0"]:
        jobs.handle_event(push(tag))
    drain(client)
    judged = [d for d in decisions(client) if d.get("target")]
    assert sorted((d["candidate"], d["result"]) for d in judged) == [
        ("1.1.0", "rejected"),
        ("1.2.0", "rejected"),
        ("1.3.0", "accepted"),
    ]
    assert all(d["delivery_id"] == f"d-ghcr.io/acme/api-{d['candidate']}" for d in judged)


def test_older_tag_is_not_a_downgrade(setup: Path, client: redis.Redis) -> None:
    jobs.handle_event(push("1.5.0"))
    drain(client)
    jobs.handle_event(push("1.4.0"))
    drain(client)
    assert file_at(setup).endswith("api:1.5.0  # keep me")
    last = [d for d in decisions(client) if d.get("target")][0]
    assert (last["candidate"], last["result"], last["rule"]) == (
        "1.4.0",
        "rejected",
        "no-downgrade",
    )


def test_gate_holds_until_ci_succeeds_for_the_revision(setup: Path, client: redis.Redis) -> None:
    seed_gated(setup)
    sha = "a" * 40
    assert jobs.handle_event(push("1.1.0", image="ghcr.io/acme/gated", revision=sha)) == []
    held = [d for d in decisions(client) if d["result"] == "held"]
    assert held and held[0]["rule"] == "ci-gate"
    assert jobs.handle_event(build("success", "b" * 40)) == []  # another revision: still held
    assert len(jobs.handle_event(build("success", sha))) == 1
    drain(client)
    assert git(setup, "show", "main:apps/gated.yaml") == "image: ghcr.io/acme/gated:1.1.0"
    # a push arriving after its CI succeeded passes straight through
    assert len(jobs.handle_event(push("1.2.0", image="ghcr.io/acme/gated", revision=sha))) == 1


def test_gate_drops_the_push_when_ci_fails(setup: Path, client: redis.Redis) -> None:
    seed_gated(setup)
    sha = "c" * 40
    jobs.handle_event(push("1.1.0", image="ghcr.io/acme/gated", revision=sha))
    assert jobs.handle_event(build("failure", sha)) == []
    drain(client)
    assert git(setup, "show", "main:apps/gated.yaml") == "image: ghcr.io/acme/gated:1.0.0"
    assert any("CI failure" in d["why"] for d in decisions(client))


def test_a_push_whose_revision_failed_ci_is_not_bumped(setup: Path, client: redis.Redis) -> None:
    sha = "d" * 40
    jobs.handle_event(build("failure", sha, repository="acme/api"))
    assert jobs.handle_event(push("1.6.0", revision=sha)) == []
    assert jobs.handle_event(push("1.6.1", revision="e" * 40)) != []
    failed = [d for d in decisions(client) if d["rule"] == "ci-failed"]
    assert failed and failed[0]["candidate"] == "1.6.0"


def test_images_the_agent_marked_bad_are_not_proposed_again(
    setup: Path, client: redis.Redis
) -> None:
    record = {"ref": "ghcr.io/acme/api:1.7.0", "reason": "CrashLoopBackOff", "commit": "f" * 40}
    client.hset(f"{store.PREFIX}bad-images", "ghcr.io/acme/api:1.7.0", json.dumps(record))
    jobs.handle_event(push("1.7.0"))
    jobs.handle_event(push("1.6.0"))
    drain(client)
    assert file_at(setup).endswith("api:1.6.0  # keep me")
    refused = [d for d in decisions(client) if d["rule"] == "bad-image"]
    assert (
        refused and "CrashLoopBackOff" in refused[0]["why"] and refused[0]["candidate"] == "1.7.0"
    )


def test_an_agent_report_to_the_web_makes_the_worker_refuse_the_image(
    setup: Path, client: redis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Issue 13, finding 8: the agent reports over the web's API (no Redis URL); the record is
    written through the store, where the bump's bad-image screen reads it."""
    token = tmp_path / "agent-token"
    token.write_text("edge-agent-token-0123456789\n")
    web_config = BumperConfig.model_validate(
        {"apiVersion": "bumper/v1", "agents": [{"name": "edge", "token": {"file": str(token)}}]}
    )
    web = create_app(Settings(redis_url=redis_server.url), web_config)
    record = {"ref": "ghcr.io/acme/api:1.7.0", "repository": "ghcr.io/acme/api", "tag": "1.7.0"}
    record |= {"commit": "f" * 40, "reason": "CrashLoopBackOff"}
    reply = web.test_client().post(
        agentreport.PATH,
        json={"bad_images": [record]},
        headers={"Authorization": "Bearer edge-agent-token-0123456789"},
    )
    assert reply.status_code == 200
    jobs.handle_event(push("1.7.0"))
    drain(client)
    assert file_at(setup).endswith("api:1.0.0  # keep me")
    refused = [d for d in decisions(client) if d["rule"] == "bad-image"]
    assert (
        refused and refused[0]["candidate"] == "1.7.0" and "CrashLoopBackOff" in refused[0]["why"]
    )


def test_ci_trigger_bumps_to_the_templated_tag(setup: Path, client: redis.Redis) -> None:
    sha = "1234567" + "0" * 33
    assert jobs.handle_event(build("success", sha, repository="acme/api"))
    drain(client)
    assert file_at(setup).endswith("api:1.9.0-main.1234567  # keep me")
    assert jobs.handle_event(build("failure", "9" * 40, repository="acme/api")) == []


def test_a_gate_with_tag_globs_counts_only_tag_builds(setup: Path, client: redis.Redis) -> None:
    seed_gated(setup, "tagged")
    sha = "f" * 40
    assert jobs.handle_event(push("1.1.0", image="ghcr.io/acme/tagged", revision=sha)) == []
    # the same commit's branch build succeeds: not the release build the gate waits for
    assert jobs.handle_event(build("success", sha, "acme/tagged")) == []
    assert jobs.handle_event(build("failure", sha, "acme/tagged", "refs/tags/nightly")) == []
    assert len(jobs.handle_event(build("success", sha, "acme/tagged", "refs/tags/v1.1.0"))) == 1
    drain(client)
    assert git(setup, "show", "main:apps/tagged.yaml") == "image: ghcr.io/acme/tagged:1.1.0"
    assert not any(d["result"] == "rejected" for d in decisions(client) if d["rule"] == "ci-gate")


def test_a_tag_gate_counts_a_run_whose_ref_kind_the_sender_did_not_say(
    setup: Path, client: redis.Redis
) -> None:
    """GitHub's push run on tag v1.1.0 names only ``v1.1.0`` (ref None, extra.ref_name): the
    gate's own ``tags: [v*]`` reads it as a tag, as it would have read refs/tags/v1.1.0."""
    seed_gated(setup, "tagged")
    sha = "e" * 40
    assert jobs.handle_event(push("1.1.0", image="ghcr.io/acme/tagged", revision=sha)) == []
    unsaid = events.BuildFinished(
        status="success",
        commit=sha,
        repository="acme/tagged",
        source="github",
        delivery_id="b-unsaid",
        extra={"ref_name": "v1.1.0", "ref_unknown": "GitHub does not say"},
    )
    assert len(jobs.handle_event(events.to_dict(unsaid))) == 1
    drain(client)
    assert git(setup, "show", "main:apps/tagged.yaml") == "image: ghcr.io/acme/tagged:1.1.0"


def seed_gated(bare: Path, name: str = "gated") -> None:
    work = bare.parent / "seed"
    (work / "apps" / f"{name}.yaml").write_text(f"image: ghcr.io/acme/{name}:1.0.0\n")
    git(work, "add", "-A")
    git(work, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", name)
    git(work, "push", "-q", str(bare), "main")


def test_candidates_arriving_mid_run_make_the_job_run_again(client: redis.Redis) -> None:
    state = store.Store(client)
    fresh, job_id = state.request("t/0")
    assert fresh and state.request("t/0") == (False, job_id)
    state.start("t/0", job_id)
    assert state.request("t/0") == (False, job_id)  # marks it dirty
    assert state.finish("t/0", job_id) is True
    assert state.finish("t/0", job_id) is False
    fresh_again, next_id = state.request("t/0")
    assert fresh_again and next_id != job_id


def test_transient_errors_retry_with_backoff_and_permanent_ones_fail(
    setup: Path, client: redis.Redis
) -> None:
    def rate_limited() -> None:
        raise TransientError("429", delay=7.0, reason="rate-limit")

    retry = jobs.guarded(rate_limited)
    assert isinstance(retry, Retry) and retry.intervals == [7]
    assert jobs.backoff(0, 0.5, base=1.0, cap=600) == 1
    assert jobs.backoff(5, 0.5, base=1.0, cap=600) == 32
    assert jobs.backoff(20, 0.5, base=1.0, cap=600) == 600
    assert jobs.backoff(0, 900, base=1.0, cap=600) == 900  # the forge's wait wins over the cap

    def broken() -> None:
        raise PermanentError("no such file", reason="missing")

    with pytest.raises(PermanentError):
        jobs.guarded(broken)


def with_repo_settings(config: Path, extra: str) -> None:
    """Add lines to the repo entry of the test's bumper.yaml and reload the worker context."""
    text = config.read_text()
    config.write_text(text.replace("    branch: main\n", "    branch: main\n" + extra, 1))
    context.current.cache_clear()


def test_author_and_ssh_signing_come_from_the_repo_entry(
    setup: Path, client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    monkeypatch.setenv("TEST_SIGNING_KEY", key.read_text())
    with_repo_settings(
        tmp_path / "bumper.yaml",
        "    author: {name: Deploy Bot, email: deploy@acme.test}\n"
        "    signing: {format: ssh, key: {env: TEST_SIGNING_KEY}}\n",
    )
    jobs.handle_event(push("1.2.0"))
    drain(client)
    assert git(setup, "log", "-1", "--format=%an <%ae>", "main") == "Deploy Bot <deploy@acme.test>"
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"deploy@acme.test {key.with_suffix('.pub').read_text()}")
    verify = ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "main"]
    verified = subprocess.run(verify, cwd=setup, capture_output=True, text=True)
    assert verified.returncode == 0 and "Good" in verified.stderr, verified.stderr
    assert "PRIVATE KEY" not in (tmp_path / "bumper.yaml").read_text()


def test_gpg_signing_imports_the_key_into_a_private_keyring(
    setup: Path, client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    made = subprocess.run(
        [*gpg, "--quick-gen-key", "Deploy Bot <deploy@acme.test>", "ed25519", "sign", "never"],
        env=env,
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip(f"gpg cannot make a key here: {made.stderr.decode()[:200]}")
    armoured = subprocess.run(
        [*gpg, "--armor", "--export-secret-keys", "deploy@acme.test"], env=env, capture_output=True
    ).stdout.decode()
    monkeypatch.setenv("TEST_GPG_KEY", armoured)
    with_repo_settings(
        tmp_path / "bumper.yaml",
        "    author: {name: Deploy Bot, email: deploy@acme.test}\n"
        "    signing: {format: gpg, key: {env: TEST_GPG_KEY}}\n",
    )
    jobs.handle_event(push("1.3.0"))
    drain(client)
    verified = subprocess.run(
        ["git", "verify-commit", "main"], cwd=setup, env=env, capture_output=True, text=True
    )
    keyrings = [home, *Path(tempfile.gettempdir()).glob(f"bumper-gnupg-{os.getuid()}/*")]
    for keyring in keyrings:  # stop the agents gpg started for these keyrings
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**env, "GNUPGHOME": str(keyring)})
    assert verified.returncode == 0 and "Good signature" in verified.stderr, verified.stderr


def test_a_permanent_failure_fails_the_job_visibly_with_its_reason(
    setup: Path, client: redis.Redis, tmp_path: Path
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text(config.read_text().replace('paths: ["apps/**"]', 'paths: ["nope.yaml"]', 1))
    context.current.cache_clear()
    [job_id] = jobs.handle_event(push("1.2.0"))
    drain(client)
    job = rqjobs.queue("bumper-test-bumps", client).fetch_job(job_id)
    assert job is not None and job.get_status() == "failed"
    assert job.meta["failure"]["reason"] == "edit" and "nope.yaml" in job.meta["failure"]["message"]
    assert job.retries_left == 0  # not re-run
    assert file_at(setup).endswith("api:1.0.0  # keep me")


def test_bumps_of_one_repo_wait_for_its_lock(
    setup: Path, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUMPER_WORKER__LOCK_WAIT_SECONDS", "0.5")
    context.current.cache_clear()
    lock = client.lock(f"{store.PREFIX}lock:repo:config", timeout=30)
    assert lock.acquire()
    [job_id] = jobs.handle_event(push("1.2.0"))
    drain(client)
    job = rqjobs.queue("bumper-test-bumps", client).fetch_job(job_id)
    assert job is not None and job.get_status() == "scheduled"  # retried later, not failed
    assert file_at(setup).endswith("api:1.0.0  # keep me")
    lock.release()


def test_a_rerun_takes_over_the_repo_lock_its_dead_run_left_but_no_other_lock(
    client: redis.Redis,
) -> None:
    repos = store.Store(client)
    name = f"{store.PREFIX}lock:repo:config"
    # a run of job-1 that died holding the lock, as a SIGKILLed work horse leaves it
    assert client.lock(name, timeout=600).acquire(token="job-1")
    with pytest.raises(TransientError):  # another job waits, whoever held it
        with repos.repo_lock("config", timeout=600, wait=0.2, owner="job-2"):
            pass
    with repos.repo_lock("config", timeout=600, wait=0.2, owner="job-1"):
        assert client.get(name) == b"job-1"
    assert client.get(name) is None  # released as usual at the end


def test_an_ambiguous_build_is_an_ambiguous_decision_and_releases_nothing(
    setup: Path, client: redis.Redis
) -> None:
    """A Quay-like build result nobody can tell success from failure (no ?event= hint): the
    held push stays held, and each rule it concerns records how to fix the URL."""
    seed_gated(setup)
    sha = "d" * 40
    jobs.handle_event(push("1.1.0", image="ghcr.io/acme/gated", revision=sha))
    unclear = events.BuildFinished(
        status="unknown",
        commit=sha,
        repository="acme/gated",
        source="github",
        extra={"ambiguous": "say which event: ?event=build_success"},
    )
    assert jobs.handle_event(events.to_dict(unclear)) == []
    found = [d for d in decisions(client) if d["result"] == "ambiguous"]
    assert [(d["rule_name"], d["why"]) for d in found] == [
        ("gated", "say which event: ?event=build_success")
    ]
    assert any(d["result"] == "held" for d in decisions(client))


class _Clock:
    """``time`` for ``worker.jobs`` whose ``sleep`` records the wait instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.time = time.time
        self.monotonic = time.monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "3600")
    fake = _Clock()
    monkeypatch.setattr(jobs, "time", fake)
    return fake


def test_a_lone_push_is_bumped_without_waiting_for_a_burst(
    setup: Path, client: redis.Redis, clock: _Clock
) -> None:
    jobs.handle_event(push("1.2.0"))
    drain(client)
    assert clock.sleeps == []
    assert file_at(setup).endswith("api:1.2.0  # keep me")


def test_a_push_arriving_while_the_run_prepares_joins_its_commit(
    setup: Path, client: redis.Redis, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find = edits.find
    arrived: list[str] = []

    def find_while_a_push_arrives(*args: Any, **kwargs: Any) -> Any:
        if not arrived:  # the burst's second push, while the first run edits
            ctx = context.current()
            arrived.extend(jobs.request_bump(ctx, key) for key in bump.route(ctx, to_event()))
        return real_find(*args, **kwargs)

    def to_event() -> events.Event:
        return events.from_dict(push("1.2.0"))

    monkeypatch.setattr(edits, "find", find_while_a_push_arrives)
    jobs.handle_event(push("1.1.0"))
    drain(client)
    assert arrived and len(clock.sleeps) == 1  # gave way, then waited out the window once
    assert file_at(setup).endswith("api:1.2.0  # keep me")
    assert git(setup, "rev-list", "--count", "main") == "2"  # one commit for both pushes
    assert client.hlen(f"{store.PREFIX}cand:api/0") == 0
