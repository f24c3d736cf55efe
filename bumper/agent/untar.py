"""Unpack a ``git archive`` tar stream into a directory, refusing anything that leaves it.

On Python >= 3.11.4 (and 3.8.17+/3.9.17+/3.10.12+ backports) this is tarfile's ``data`` filter,
except that a link it refuses is left out and reported, not fatal. Debian bookworm ships
Python 3.11.2, whose tarfile has no filters at all (``extractall(filter=...)`` is a
``TypeError`` there), so on such a Python :func:`checked_members` applies the same rules itself:

* a member name that is absolute loses its leading slashes; one that resolves outside the
  destination (``..``, or through a symbolic link already written) is refused (``TarError``);
* anything but a regular file, directory or link (devices, FIFOs) is refused;
* a link to an absolute path or out of the destination is left out and reported;
* modes lose setuid/setgid/sticky and group/other write, owners are not restored.

A refused member stops the export with ``tarfile.TarError``, as the ``data`` filter's errors
(subclasses of ``TarError``) do.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Callable, Iterator

Skipped = list[tuple[str, str]]
_Filter = Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]

# Module-level so a test can force the fallback on a Python that has the filter.
HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_ABSOLUTE = "a symbolic link to an absolute path: left out"
_OUTSIDE = "a symbolic link to a path outside the repository: left out"


def extract(archive: tarfile.TarFile, dest: str, skipped: Skipped | None) -> None:
    """Extract every member of ``archive`` that stays inside ``dest``."""
    if HAS_DATA_FILTER:
        archive.extractall(dest, filter=_without_escaping_links(skipped))
        return
    members = checked_members(archive, dest, skipped)
    if hasattr(tarfile, "fully_trusted_filter"):
        # Only when forced on a Python that has filters: our check is then the only one (and
        # 3.12+ does not warn about a missing filter, nor 3.14 apply "data" on top).
        archive.extractall(dest, members=members, filter="fully_trusted")
    else:
        archive.extractall(dest, members=members)


def _without_escaping_links(skipped: Skipped | None) -> _Filter:
    """tarfile's ``data`` filter, except that a link it refuses is left out, not fatal."""

    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(member, dest)
        except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError) as error:
            reason = _ABSOLUTE if isinstance(error, tarfile.AbsoluteLinkError) else _OUTSIDE
            if skipped is not None:
                skipped.append((member.name, reason))
            return None

    return keep


def checked_members(
    archive: tarfile.TarFile, dest: str, skipped: Skipped | None
) -> Iterator[tarfile.TarInfo]:
    """The members of ``archive`` as the ``data`` filter would pass them (see the module doc).

    A generator: each member is checked against the files already written before it, as
    the filter does, since a link extracted earlier can change where a later name resolves."""
    root = os.path.realpath(dest)
    for member in archive:
        kept = _check(member, root)
        if isinstance(kept, str):
            if skipped is not None:
                skipped.append((member.name, kept))
            continue
        yield kept


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _check(member: tarfile.TarInfo, root: str) -> tarfile.TarInfo | str:
    """The member to extract (a sanitised copy), or why it is left out."""
    name = member.name.lstrip("/" + os.sep)
    if os.path.isabs(name) or not _inside(root, os.path.join(root, name)):
        raise tarfile.TarError(f"{member.name!r} would be extracted outside the destination")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.TarError(f"{member.name!r} is a special file")
    if member.issym() or member.islnk():
        if os.path.isabs(member.linkname):
            return _ABSOLUTE
        base = os.path.dirname(name) if member.issym() else ""
        if not _inside(root, os.path.join(root, base, member.linkname)):
            return _OUTSIDE
    safe = copy.copy(member)
    safe.name = name
    safe.uid, safe.gid = os.getuid(), os.getgid()
    safe.uname = safe.gname = ""
    if member.isdir():
        safe.mode = 0o755
    elif member.isfile() or member.islnk():
        mode = member.mode & 0o755
        safe.mode = (mode if mode & 0o100 else mode & ~0o111) | 0o600
    return safe
