"""A worker bump of a reference-dense file over the streaming threshold: it is scanned and
edited group by group (``edittree``'s bounded scan and ``stage_found``, the mechanism of
``bumper set-image``), byte-exact, and the commit message lists a bounded number of its
references and counts the rest."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper import edittree, gitrepo
from bumper.core import events, finder_documents
from bumper.errors import PermanentError
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.worker.remotes import seeded_remote
from worker import context, edits, jobs

LARGE = "apps/fleet.yaml"
SMALL = "apps/api.yaml"
DOCUMENTS = 10_000  # about 2.3 MB: over finder_documents.STREAM_ABOVE (2 MiB)


def fleet(tag: str) -> str:
    """One Deployment per document, each with the image at ``tag`` and another image, so
    an edit that touches anything but the image's tags shows in the bytes."""
    return "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: app\n          image: ghcr.io/acme/api:{tag}  # keep me {i}\n"
        "        - name: side\n          image: 'ghcr.io/acme/other:1.0.0'\n"
        for i in range(DOCUMENTS)
    )


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def remote(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    seed = tmp_path / "seed"
    (seed / "apps").mkdir(parents=True)
    (seed / LARGE).write_text(fleet("1.0.0"))
    (seed / SMALL).write_text("image: ghcr.io/acme/api:1.0.0\n")
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
              - {{name: config, forge: git, url: {bare}, branch: main}}
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: ">=1.0.0 <2"}}
                targets:
                  - {{repo: config, paths: ["apps/**"], mode: commit}}
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


def recording(calls: list[str], real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, noting the path (second argument) of each call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[1]))
        return real(*args, **kwargs)

    return call


def test_a_large_file_is_bumped_group_by_group_byte_exact_with_a_bounded_message(
    remote: Path, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(fleet("1.0.0")) > finder_documents.STREAM_ABOVE
    scanned: list[str] = []
    staged: list[str] = []
    monkeypatch.setattr(edittree, "_found_large", recording(scanned, edittree._found_large))
    monkeypatch.setattr(edittree, "_stage", recording(staged, edittree._stage))
    event = events.ImageEvent(
        type="image.pushed",
        image="ghcr.io/acme/api",
        tag="1.2.0",
        source="test",
        delivery_id="d-1",
        received_at=1.0,
    )
    assert jobs.handle_event(events.to_dict(event))
    drain(client, "bumper-test")

    assert (scanned, staged) == ([LARGE], [LARGE])  # the small file took the in-memory path
    assert git(remote, "show", f"main:{LARGE}") == fleet("1.2.0")
    assert git(remote, "show", f"main:{SMALL}") == "image: ghcr.io/acme/api:1.2.0\n"
    message = git(remote, "log", "-1", "--format=%B", "main").splitlines()
    listed = [line for line in message if line.startswith(f"- {LARGE}: 1.0.0 → 1.2.0")]
    assert len(listed) == edittree.LISTED
    more = DOCUMENTS - edittree.LISTED
    assert f"- {LARGE}: {more} more references changed the same way" in message
    assert f"- {SMALL}: 1.0.0 → 1.2.0" in message
    assert len(message) < edittree.LISTED + 20


def test_a_refusal_late_in_a_large_file_writes_nothing_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    # The last document has a reference with no tag field to set: its group is refused after
    # every group before it was staged into a temporary file beside the file.
    refused = f"---\nimage:\n  repository: ghcr.io/acme/api\n  digest: sha256:{'a' * 64}\n"
    files = {LARGE: (fleet("1.0.0") + refused).encode(), SMALL: b"image: ghcr.io/acme/api:1.0.0\n"}
    remote = seeded_remote(tmp_path, files)
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        found = edits.find(checkout, ["apps/**"], "ghcr.io/acme/api")
        assert [f.path for f in found.large] == [LARGE] and found.large[0].matched == DOCUMENTS + 1
        with pytest.raises(PermanentError, match=r"apps/fleet\.yaml: line \d+ .*no tag field"):
            edits.apply(checkout, found, "1.2.0", None)
        assert {p.name for p in (checkout.root / "apps").iterdir()} == {"fleet.yaml", "api.yaml"}
        for name, data in files.items():
            assert (checkout.root / name).read_bytes() == data
