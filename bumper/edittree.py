"""Scan and edit image references across a tree of YAML files (the I/O around core.yaml.editor).

* ``yaml_files(root, paths)``: the files named, and ``*.yaml`` / ``*.yml`` under directories
  or glob patterns, sorted, confined to ``root`` (``.git`` and other dot-directories skipped).
* ``scan_tree``: every reference in those files.
* ``edit_tree`` / ``set_image_in_tree``: set a tag and/or digest on every reference to one
  image. A file is parsed only if its bytes contain the image's repository path (see
  ``screen_term``), so large config repos cost little more than a read.
  All files are planned and verified before any is written; one refusal writes nothing.
  Writes are atomic (temporary file + rename) and keep the file mode.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bumper.core import finder, refs
from bumper.core.yaml import editor
from bumper.errors import BumperError, EditRefused

YAML_SUFFIXES = (".yaml", ".yml")
GLOB_CHARS = frozenset("*?[")


@dataclasses.dataclass(frozen=True, slots=True)
class FileChange:
    """One reference changed in one file; ``path`` is relative to the root."""

    path: str
    line: int
    kind: str
    image: str
    old_tag: str | None
    old_digest: str | None
    new_tag: str | None
    new_digest: str | None

    @property
    def old(self) -> str:
        return _tag_digest(self.old_tag, self.old_digest)

    @property
    def new(self) -> str:
        return _tag_digest(self.new_tag, self.new_digest)


@dataclasses.dataclass(frozen=True, slots=True)
class FileEdit:
    path: str
    before: str
    after: str

    def diff(self, label: str | None = None) -> str:
        """A unified diff, ``a/LABEL`` → ``b/LABEL`` (``label`` defaults to ``path``)."""
        name = (label or self.path).lstrip("/")
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TreeEdit:
    changes: tuple[FileChange, ...]
    files: tuple[FileEdit, ...]
    matched: int  # references to the image, changed or already current
    skipped: tuple[tuple[str, str], ...]  # (path, reason)


@dataclasses.dataclass(frozen=True, slots=True)
class Located:
    path: str
    found: finder.Found


def _tag_digest(tag: str | None, digest: str | None) -> str:
    return (tag or "") + (f"@{digest}" if digest else "")


def yaml_files(root: Path | str, paths: Iterable[str] = (".",)) -> list[Path]:
    """Files under ``root`` selected by ``paths`` (files, directories or glob patterns)."""
    base = Path(root).resolve()
    return [base / rel for rel in yaml_file_names(base, paths)]


def yaml_file_names(base: Path, paths: Iterable[str]) -> list[str]:
    """Like :func:`yaml_files`, as sorted paths relative to ``base`` (already resolved).

    Directories are walked without following symbolic links, and symlinked files found there
    are left out, so nothing outside ``base`` is read or written through a link.
    """
    selected: set[str] = set()
    prefix = len(str(base)) + 1
    for entry in paths:
        matches = list(base.glob(entry)) if GLOB_CHARS & set(entry) else [base / entry]
        for match in matches:
            if not match.exists():
                if not GLOB_CHARS & set(entry):
                    raise BumperError(f"no such file or directory: {entry}")
                continue
            resolved = match.resolve()
            if not resolved.is_relative_to(base):
                raise BumperError(f"{entry} is outside {base.name or base}")
            if resolved.is_dir():
                selected.update(name[prefix:] for name in _walk(str(resolved)))
            elif resolved.suffix in YAML_SUFFIXES or match == base / entry:
                selected.add(resolved.relative_to(base).as_posix())
    return sorted(selected)


def _walk(directory: str) -> Iterator[str]:
    # Plain strings: a config repo has thousands of files, and pathlib's overhead shows.
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(YAML_SUFFIXES):
                full = os.path.join(dirpath, name)
                if not os.path.islink(full):
                    yield full


def read_text(path: Path) -> str:
    """UTF-8 text with line endings and any BOM kept as they are."""
    return _decode(path.read_bytes(), path.name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BumperError(f"{name}: not UTF-8 ({error.reason})") from None


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode."""
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def scan_tree(
    root: Path | str, paths: Iterable[str] = (".",)
) -> tuple[list[Located], list[tuple[str, str]]]:
    """Every reference under ``paths``, and the files skipped with their reason."""
    base = Path(root).resolve()
    located: list[Located] = []
    skipped: list[tuple[str, str]] = []
    for path in yaml_files(base, paths):
        rel = _relative(path, base)
        try:
            result = finder.scan(read_text(path))
        except BumperError as error:
            skipped.append((rel, str(error)))
            continue
        if result.skipped is not None:
            skipped.append((rel, result.skipped.reason))
        located.extend(Located(rel, found) for found in result.found)
    return located, skipped


def screen_term(image: str) -> str:
    """Text every supported spelling of ``image`` contains: its repository path, less the
    ``library/`` of Docker Hub official images (``nginx``, ``acme/api``, ``bitnami/redis``).

    Split forms keep the path whole in their ``repository`` field; a registry field or
    ``global.imageRegistry`` holds only the host, so the path is always written out.
    """
    return refs.parse(image).repository.removeprefix(refs.OFFICIAL_PREFIX)


def edit_tree(
    root: Path | str,
    paths: Iterable[str],
    image: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    dry_run: bool = False,
) -> TreeEdit:
    """Set ``tag``/``digest`` on every reference to ``image``; write unless ``dry_run``."""
    if tag is None and digest is None:
        raise BumperError("give a tag, a digest, or both")
    base = Path(root).resolve()
    term = screen_term(image)
    changes: list[FileChange] = []
    files: list[FileEdit] = []
    skipped: list[tuple[str, str]] = []
    matched = 0
    needle = term.encode("utf-8")
    for rel in yaml_file_names(base, paths):
        with open(os.path.join(base, rel), "rb") as handle:
            data = handle.read()
        if needle not in data:
            continue  # cheap screen: most files of a config repo never mention the image
        try:
            text = _decode(data, rel)
        except BumperError as error:
            skipped.append((rel, str(error)))
            continue
        try:
            result = editor.set_image(text, image, tag=tag, digest=digest)
        except EditRefused as error:
            raise EditRefused(f"{rel}: {error}") from None
        if result.skipped is not None:
            skipped.append((rel, result.skipped.reason))
        matched += result.matched
        if result.changes:
            files.append(FileEdit(rel, text, result.text))
            changes.extend(_file_changes(rel, result.changes))
    if not dry_run:
        for edit in files:
            write_text(base / edit.path, edit.after)
    return TreeEdit(tuple(changes), tuple(files), matched, tuple(skipped))


def set_image_in_tree(
    root: Path | str,
    paths: Iterable[str],
    image: str,
    tag: str | None = None,
    digest: str | None = None,
    dry_run: bool = False,
) -> list[FileChange]:
    """The per-reference changes of :func:`edit_tree` (for commit messages and PR tables)."""
    return list(edit_tree(root, paths, image, tag=tag, digest=digest, dry_run=dry_run).changes)


def _file_changes(rel: str, changes: Iterable[editor.Change]) -> Iterator[FileChange]:
    for change in changes:
        found = change.found
        yield FileChange(
            rel,
            found.line,
            found.kind,
            found.image,
            found.tag,
            found.digest,
            change.tag,
            change.digest,
        )
