"""Commit identity and signing for a config repo, from ``repos[].author`` / ``repos[].signing``.

The signing key is a secret (``{env: ...}`` or ``{file: ...}``). It is materialised once per
key under the worker's cache directory, readable by the worker only:

- ``ssh``: the private key is written to ``keys/<hash>.key`` (mode 0600) and git signs with
  ``gpg.format=ssh`` and ``user.signingkey=<that file>``;
- ``gpg``: the armoured secret key is imported into a private keyring
  ``$TMPDIR/bumper-gnupg-<uid>/<hash>`` (``GNUPGHOME`` for the commit only; short, because
  gpg-agent's socket lives there); ``key_id`` picks the key, else the imported one.

The key never reaches a command line, a log or an error message.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from bumper import gitrepo
from bumper.core import config
from bumper.errors import ConfigError


def identity(repo: config.Repo) -> gitrepo.Identity:
    return gitrepo.Identity(name=repo.author.name, email=repo.author.email)


def signing(repo: config.Repo, key_text: str, cache_dir: Path) -> gitrepo.CommitSigner | None:
    """The ``gitrepo.CommitSigner`` for ``repo``, or None when it does not sign."""
    spec = repo.signing
    if spec is None:
        return None
    digest = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    if spec.format == "ssh":
        return gitrepo.CommitSigner(format="ssh", key=str(_ssh_key(cache_dir, digest, key_text)))
    # gpg-agent's socket lives in GNUPGHOME and a Unix socket path is capped at 108 bytes,
    # so the keyring gets a short private directory rather than one under the cache.
    home = Path(tempfile.gettempdir()) / f"bumper-gnupg-{os.getuid()}" / digest[:12]
    home.parent.mkdir(mode=0o700, exist_ok=True)
    fingerprint = _gpg_import(home, key_text)
    return gitrepo.CommitSigner(
        format="openpgp", key=spec.key_id or fingerprint, env=(("GNUPGHOME", str(home)),)
    )


def _ssh_key(cache_dir: Path, digest: str, key_text: str) -> Path:
    path = cache_dir / "keys" / f"{digest}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key_text if key_text.endswith("\n") else key_text + "\n")
        tmp.replace(path)
    return path


def _gpg_import(home: Path, key_text: str) -> str:
    """Import the key into ``home`` once; its fingerprint."""
    marker = home / "bumper-fingerprint"
    if marker.exists():
        return marker.read_text().strip()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    imported = subprocess.run(
        ["gpg", "--batch", "--import"], input=key_text, env=env, capture_output=True, text=True
    )
    if imported.returncode != 0:
        raise ConfigError("signing: the gpg key could not be imported (is it an armoured key?)")
    listed = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env=env,
        capture_output=True,
        text=True,
    )
    found = re.search(r"^fpr:+([0-9A-F]{40,64}):", listed.stdout, re.MULTILINE)
    if found is None:
        raise ConfigError("signing: the gpg key holds no secret key")
    marker.write_text(found.group(1) + "\n")
    return found.group(1)
