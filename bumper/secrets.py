"""Every secret Bumper reads, resolved here and nowhere else.

That covers bumper.yaml's ``{env: NAME}`` / ``{file: PATH}`` references (receiver secrets,
repo credentials, signing keys) for web and worker, and the agent's secret files
(``git_token_file``, ``webhook_secret_file``, ``forge_token_file``, the API ``token_file``).

The base of a relative path is the directory of the config file it is written in: bumper.yaml
for web and worker, the agent's ``--config`` file for the agent (``locate``). A path given as
a command-line flag or an environment variable has no file, so it is relative to the current
directory, as any shell path is.

Migration, for one release: receivers used to resolve a relative ``file:`` against the current
directory. A relative path that exists only there still resolves, with a one-line warning
naming the path (once per process); the next release drops that fallback.

Values: a file's trailing newline (``\\n`` or ``\\r\\n``) is cut; an empty value is an error.
Errors are one-line ``ConfigError``s naming the variable or the file, never the value, and
nothing here logs a value.

Must not: import anything but the stdlib and ``bumper.errors`` (the agent imports this module
and stays small); ``bumper.core.config.SecretRef`` is only a type here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bumper.errors import ConfigError

if TYPE_CHECKING:
    from bumper.core.config import SecretRef

log = logging.getLogger("bumper.secrets")

# Paths already warned about: a worker resolves credentials on every job.
_warned: set[tuple[str, str]] = set()


def locate(path: str | Path, base: Path) -> Path:
    """Where ``path``, written in a config file that sits in ``base``, points.

    Absolute paths are kept. A relative one is ``base / path``, unless only the old reading
    (relative to the current directory) finds a file: then that, with a warning.
    """
    written = Path(path)
    if written.is_absolute():
        return written
    located = base / written
    if located.exists():
        return located
    legacy = Path.cwd() / written
    if legacy.exists() and legacy.resolve() != located.resolve():
        _warn_legacy(written, base)
        return legacy
    return located


def _warn_legacy(path: Path, base: Path) -> None:
    key = (str(path), str(base))
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "%s was found in the current directory, not in the config file's directory %s: "
        "deprecated, write the path relative to %s or absolute",
        path,
        base,
        base,
    )


def resolve(ref: SecretRef, *, base: Path, environ: Mapping[str, str] | None = None) -> str:
    """The value of a bumper.yaml secret reference; a relative ``file:`` is under ``base``."""
    if ref.env is not None:
        return from_env(ref.env, environ)
    assert ref.file is not None  # the model guarantees exactly one of env / file
    return read_file(locate(ref.file, base))


def from_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``name``; unset or empty is a ``ConfigError``."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def read_file(path: Path, what: str = "secret") -> str:
    """The secret held in ``path`` (already located), trailing newline cut."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the {what} file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} file {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(f"the {what} file {path} is empty")
    return value
