"""Acceptance (issue 20 item 3): signature verification before bumping, end to end.

Real parts: the test bed's distribution registry, images pushed with crane, signatures made by
the real ``cosign`` (built from the Go module proxy by ``make testbed``) in the registry's
``sha256-<hex>.sig`` tags, Redis, the job path (``handle_event`` → event job → bump job) and
the forge simulator. A signed image is bumped; an unsigned one, one signed by another key and
one whose signature was copied from another digest are refused, each with its reason in the
decision log. Ed25519 (cosign's generate-key-pair makes ECDSA P-256 only) and a required
annotation are checked with signatures made in Python in cosign's exact layout.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper import cli, decisions
from bumper.core import events
from tests.support import cosign_layout
from tests.support.cosign import Cosign
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.support.testbed import Registry, RegistryFactory
from worker import context, jobs

REPO = "acme/config"
QUEUE = "bumper-verify-test"
PATH = "apps/api.yaml"
TEXT = "image: {host}/acme/api:1.0.0\n"


@pytest.fixture
def bed(
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(tmp_path / "bumper.yaml"))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", QUEUE)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUMPER_WORKER__COALESCE_SECONDS", "0")
    yield tmp_path
    context.current.cache_clear()


def write_config(bed: Path, forgesim: ForgeSim, host: str, verify: str, where: str) -> None:
    """bumper.yaml with ``verify`` on the image rule (``where="rule"``) or on the registry."""
    on_rule = verify if where == "rule" else ""
    on_registry = verify if where == "registry" else ""
    (bed / "bumper.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: config
                forge: github
                url: {forgesim.url}/{REPO}
                api_url: {forgesim.github_api_url}
                credentials: {{env: TEST_FORGE_TOKEN}}
            registries:
              - host: "{host}"
                plain_http: true
            {on_registry}
            images:
              - name: api
                image: {host}/acme/api
                policy: {{semver: "*"}}
                targets: [{{repo: config, paths: ["apps/**"], mode: commit}}]
            {on_rule}
            """
        )
    )
    context.current.cache_clear()


def deliver(reg: Registry, tag: str, digest: str, redis_client: redis.Redis) -> None:
    event = events.ImageEvent(
        type="image.pushed",
        image=f"{reg.host}/acme/api",
        tag=tag,
        digest=digest,
        source="distribution",
        delivery_id=f"d-{tag}",
        received_at=time.time(),
    )
    jobs.handle_event(events.to_dict(event))
    drain(redis_client, QUEUE)


def verdicts(redis_client: redis.Redis, host: str) -> dict[str, tuple[str, str, str]]:
    """candidate tag → (result, rule, why), the newest entry per tag."""
    found: dict[str, tuple[str, str, str]] = {}
    for entry in decisions.DecisionLog(redis_client).recent(image=f"{host}/acme/api"):
        tag = str(entry["candidate"]).partition("@")[0]
        found.setdefault(tag, (entry["result"], entry["rule"], entry["why"]))
    return found


def test_cosign_signed_images_are_bumped_and_the_others_refused_with_their_reasons(
    bed: Path,
    forgesim: ForgeSim,
    registry: RegistryFactory,
    cosign_bin: Path,
    redis_client: redis.Redis,
) -> None:
    reg = registry()
    git = forgesim.create_repo(REPO, {PATH: TEXT.format(host=reg.host)}).git
    tool = Cosign(cosign_bin, bed)
    key, pub = tool.generate_key_pair("team")
    other_key, _ = tool.generate_key_pair("stranger")
    assert "ENCRYPTED" in key.read_text() and tool.password not in key.read_text()
    verify = "    verify: {keys: [{file: team.pub}]}"
    write_config(bed, forgesim, reg.host, verify, "rule")
    assert pub.parent == bed  # the key file is found beside bumper.yaml

    signed = reg.push_image("acme/api", "1.1.0")
    tool.sign(key, f"{reg.host}/acme/api@{signed}")
    deliver(reg, "1.1.0", signed, redis_client)
    assert git.read_file("main", PATH) == f"image: {reg.host}/acme/api:1.1.0\n"

    unsigned = reg.push_image("acme/api", "1.2.0")
    deliver(reg, "1.2.0", unsigned, redis_client)

    by_stranger = reg.push_image("acme/api", "1.3.0")
    tool.sign(other_key, f"{reg.host}/acme/api@{by_stranger}")
    deliver(reg, "1.3.0", by_stranger, redis_client)

    swapped = reg.push_image("acme/api", "1.4.0")
    source_tag = "sha256-" + signed.removeprefix("sha256:") + ".sig"
    target_tag = "sha256-" + swapped.removeprefix("sha256:") + ".sig"
    repository = f"{reg.host}/acme/api"
    reg.crane("copy", "--insecure", f"{repository}:{source_tag}", f"{repository}:{target_tag}")
    deliver(reg, "1.4.0", swapped, redis_client)

    assert git.read_file("main", PATH) == f"image: {reg.host}/acme/api:1.1.0\n"
    log = verdicts(redis_client, reg.host)
    assert log["1.1.0"][0] == "accepted"
    assert log["1.2.0"] == ("rejected", "unsigned", f"no cosign signature found for {unsigned}")
    assert log["1.3.0"][:2] == ("rejected", "signature-untrusted")
    assert log["1.3.0"][2] == (
        f"tag sha256-{by_stranger[7:]}.sig: signature verifies with no verify key"
    )
    assert log["1.4.0"][:2] == ("rejected", "signature-digest")
    assert f"signed by key 1 for {signed}, not for {swapped}" in log["1.4.0"][2]


def test_ed25519_keys_and_required_annotations_on_the_registry_entry(
    bed: Path,
    forgesim: ForgeSim,
    registry: RegistryFactory,
    redis_client: redis.Redis,
) -> None:
    reg = registry()
    git = forgesim.create_repo(REPO, {PATH: TEXT.format(host=reg.host)}).git
    key = cosign_layout.new_key("ed25519")
    (bed / "ed.pub").write_text(cosign_layout.public_pem(key))
    verify = "    verify: {keys: [{file: ed.pub}], annotations: {repo: acme/api}}"
    write_config(bed, forgesim, reg.host, verify, "registry")

    def sign(digest: str, **optional: str) -> None:
        data = cosign_layout.payload(f"{reg.host}/acme/api", digest, optional)
        signature = cosign_layout.sign(key, data)
        cosign_layout.push_signature(reg.url, "acme/api", digest, data, signature)

    wrong = reg.push_image("acme/api", "2.0.0")
    sign(wrong, repo="evil/api")
    deliver(reg, "2.0.0", wrong, redis_client)
    assert git.read_file("main", PATH) == TEXT.format(host=reg.host)

    right = reg.push_image("acme/api", "2.1.0")
    sign(right, repo="acme/api")
    deliver(reg, "2.1.0", right, redis_client)
    assert git.read_file("main", PATH) == f"image: {reg.host}/acme/api:2.1.0\n"

    log = verdicts(redis_client, reg.host)
    assert log["2.0.0"] == (
        "rejected",
        "signature-annotation",
        f"tag sha256-{wrong[7:]}.sig: annotation 'repo' is 'evil/api', required 'acme/api'",
    )
    assert log["2.1.0"][0] == "accepted"


def test_explain_policy_shows_the_signature_verdicts(
    bed: Path,
    forgesim: ForgeSim,
    registry: RegistryFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reg = registry()
    key = cosign_layout.new_key("ed25519")
    (bed / "ed.pub").write_text(cosign_layout.public_pem(key))
    write_config(bed, forgesim, reg.host, "    verify: {keys: [{file: ed.pub}]}", "rule")
    signed, unsigned = reg.push_image("acme/api", "3.0.0"), reg.push_image("acme/api", "3.1.0")
    data = cosign_layout.payload(f"{reg.host}/acme/api", signed)
    cosign_layout.push_signature(reg.url, "acme/api", signed, data, cosign_layout.sign(key, data))
    config_file = str(bed / "bumper.yaml")

    assert cli.main(["explain-policy", "api", "3.0.0", "3.1.0", "--file", config_file]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        f"3.1.0@{unsigned}: rejected by unsigned: no cosign signature found for {unsigned}" in out
    )
    assert out[0].startswith(f"3.0.0@{signed}: accepted by signature: signed by key 1 (tag ")
    assert out[-1] == "selected: 3.0.0"

    argv = ["explain-policy", "api", "3.1.0", "--file", config_file, "--offline"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == "selected: 3.1.0"
    assert "signatures (verify) not checked" in captured.err
