"""The test bed's real ``cosign``: make a key pair and sign images in a loopback registry.

The key's password reaches cosign through ``COSIGN_PASSWORD`` in its environment, never its
arguments. Signing stays offline: no transparency log upload (``--tlog-upload=false``), plain
HTTP to the loopback registry, an empty docker config (never the user's credentials), and a
private ``HOME`` so nothing is read from or cached in the user's ``~/.sigstore``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path


class Cosign:
    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.password = secrets.token_hex(8)
        (workdir / "docker-config").mkdir(parents=True, exist_ok=True)

    def run(self, *args: str) -> str:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "DOCKER_CONFIG": str(self.workdir / "docker-config"),
            "COSIGN_PASSWORD": self.password,
        }
        done = subprocess.run(
            [str(self.binary), *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"cosign {args[0]} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def generate_key_pair(self, name: str) -> tuple[Path, Path]:
        """``<name>.key`` (encrypted with the password) and ``<name>.pub`` (ECDSA P-256)."""
        self.run("generate-key-pair", "--output-key-prefix", name)
        return self.workdir / f"{name}.key", self.workdir / f"{name}.pub"

    def sign(self, key: Path, reference: str, **annotations: str) -> None:
        """Sign ``host/repo@digest`` into the registry's ``sha256-<hex>.sig`` tag."""
        extra = [f"-a={k}={v}" for k, v in annotations.items()]
        self.run(
            "sign",
            "--key",
            str(key),
            "--tlog-upload=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            "--yes",
            *extra,
            reference,
        )
