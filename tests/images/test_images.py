"""The images `make images` builds (images/build.sh), checked for real with buildah: each runs
as UID 65532, the agent's helm and kustomize are the test bed's, `bumper --help` runs in the
web, worker and agent images, and the agent's tar export tests pass on the image's own
Python (Debian's 3.11.2, which takes bumper/agent/untar.py's fallback).

The build is cached (buildah's layer cache on a cached base): a warm run takes seconds. Under
`make test` (BUMPER_TESTBED_REQUIRED=1) a machine that cannot build fails; otherwise it skips
with the reason."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
TARGETS = ("web", "worker", "agent", "redis")
PYTHON_TARGETS = ("web", "worker", "agent")
# Pure-Python test runner packages, copied from this venv into the agent container: the image
# carries no pytest, and these are uv.lock's versions.
PYTEST_PACKAGES = ("_pytest", "pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py")


def image(target: str) -> str:
    return f"ghcr.io/bumper-dev/bumper-{target}:{VERSION}"


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
    cache = os.environ.get("BUMPER_IMAGES_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bumper-images"
    )
    stamp = Path(cache) / "targets" / "redis"
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


def test_agent_export_tests_pass_on_the_images_python(built: None, tmp_path: Path) -> None:
    """tests/agent/test_untar.py and test_source.py, run by the image's python3 against the
    image's installed bumper (only tests/ is mounted, so nothing shadows /opt/bumper)."""
    import pytest as host_pytest

    site = Path(host_pytest.__file__).resolve().parent.parent
    libs = tmp_path / "libs"
    libs.mkdir()
    for name in PYTEST_PACKAGES:
        src = site / name
        if src.is_dir():
            shutil.copytree(src, libs / name)
        elif src.is_file():
            shutil.copy2(src, libs / name)
    out = run(
        "agent",
        "env",
        "PYTHONPATH=/opt/pytest",
        "python3",
        "-c",
        "import sys, tarfile, pytest; print(sys.version_info[:3], hasattr(tarfile, 'data_filter'));"
        " sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-o', 'addopts=', '--noconftest',"
        " 'tests/agent/test_untar.py', 'tests/agent/test_source.py']))",
        mounts=(f"{libs}:/opt/pytest:ro", f"{REPO / 'tests'}:/t/tests:ro"),
        workdir="/t",
    )
    first = out.splitlines()[0]
    if "VERSION_CODENAME=bookworm" in Path("/etc/os-release").read_text():
        # The base follows the host's release; bookworm's python3 is 3.11.2, without tarfile's
        # filters: the fallback path is what ran.
        assert first == "(3, 11, 2) False", out
    assert " passed" in out and "failed" not in out and "error" not in out, out
