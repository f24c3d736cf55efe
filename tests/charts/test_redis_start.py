"""The bundled Redis's start-up, run for real: the StatefulSet's own shell script and the
chart's redis.conf start a real redis-server that demands the Secret's password, and the
password is on no command line (only in a 0600 file in the pod's memory emptyDir).

The pod's mount points are rewritten to a temp dir and the port to a free one; the script and
the config are otherwise exactly what ``helm template`` renders.
"""

from __future__ import annotations

import base64
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.charts.helm import CHARTS, Helm, docs
from tests.support.child_processes import die_with_parent
from tests.support.redis_server import free_port, redis_executable
from tests.support.testbed_proc import wait_until


def raw(port: int, command: bytes) -> bytes:
    """One inline command on a fresh connection (redis-py would retry an auth error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(512)


@pytest.fixture
def helm(testbed_bin_dir: Path, tmp_path: Path) -> Helm:
    return Helm(testbed_bin_dir, tmp_path / "home")


def of(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [
        o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith("-redis")
    ]
    return found


@pytest.fixture
def started(helm: Helm, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    case = request.param
    objects = docs(helm.template(str(CHARTS["bumper"]), case))
    container = of(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["sh", "-c"]
    password = "pw-" + "x" * 29
    if case == "bumper--default":  # the generated Secret
        password = base64.b64decode(of(objects, "Secret")["data"]["password"]).decode()
    port = free_port()
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "password").write_text(password)
    (tmp_path / "data").mkdir()
    (tmp_path / "tmp").mkdir()
    conf = of(objects, "ConfigMap")["data"]["redis.conf"]
    conf = conf.replace("port 6379", f"port {port}").replace("bind 0.0.0.0", "bind 127.0.0.1")
    (tmp_path / "redis.conf").write_text(conf.replace("dir /data", f"dir {tmp_path / 'data'}"))
    script = container["command"][2]
    for pod_path, here in (
        ("/etc/redis/redis.conf", tmp_path / "redis.conf"),
        ("/etc/redis/auth/password", tmp_path / "auth" / "password"),
        ("/tmp/redis.conf", tmp_path / "tmp" / "redis.conf"),
        ("redis-server ", redis_executable() + " "),
    ):
        assert pod_path in script
        script = script.replace(pod_path, str(here))
    proc = subprocess.Popen(
        ["sh", "-c", script], preexec_fn=die_with_parent, stdout=subprocess.DEVNULL
    )
    try:
        yield {"case": case, "proc": proc, "port": port, "password": password, "tmp": tmp_path}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("started", ["bumper--default", "bumper--bundled"], indirect=True)
def test_redis_starts_with_the_password_and_refuses_without(started: dict[str, Any]) -> None:
    port, password = started["port"], started["password"]
    authed = redis.Redis(port=port, password=password)
    assert wait_until(lambda: authed.ping(), 20, "redis up")
    assert raw(port, b"PING\r\n").startswith(b"-NOAUTH")
    assert raw(port, b"AUTH wrong-password-of-16b\r\n").startswith(b"-WRONGPASS")
    # exec: the shell's pid is redis-server now, and its command line holds no password
    cmdline = Path(f"/proc/{started['proc'].pid}/cmdline").read_bytes()
    assert b"redis-server" in cmdline and password.encode() not in cmdline
    generated = started["tmp"] / "tmp" / "redis.conf"
    assert generated.stat().st_mode & 0o777 == 0o600
    persistent = started["case"] == "bumper--bundled"  # redis.persistence.enabled
    appendonly = authed.config_get("appendonly")["appendonly"]
    assert appendonly == ("yes" if persistent else "no")
