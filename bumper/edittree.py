"""Scan and edit image references across a tree of YAML files (the I/O around core.yaml.editor).

* ``yaml_files(root, paths)``: the files named, and ``*.yaml`` / ``*.yml`` under directories
  or glob patterns, sorted, confined to ``root`` (``.git`` and other dot-directories skipped).
* ``scan_tree``: every reference in those files (each an ``ImageEdit`` at stage *found*).
* ``scan_image`` → ``plan_tree`` → ``write_tree``: the edit of one image, in three steps on the
  same records (:mod:`bumper.core.edits`). The scan reads each file once and keeps its text;
  a file is parsed only if its bytes contain the image's repository path (see
  ``screen_term``), so large config repos cost little more than a read. ``plan_tree`` plans
  and verifies every file in memory; one refusal raises and nothing is written.
  ``write_tree`` then writes the edited files, each atomically (temporary file + rename),
  keeping the file mode.
* ``edit_tree`` / ``set_image_in_tree``: the three steps at once (the CLI's ``set-image``).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bumper.core import finder, refs
from bumper.core.edits import FileEdit, ImageEdit
from bumper.core.yaml import editor
from bumper.errors import BumperError, EditRefused

YAML_SUFFIXES = (".yaml", ".yml")
GLOB_CHARS = frozenset("*?[")


@dataclasses.dataclass(frozen=True, slots=True)
class TreeEdit:
    """The edit of one image across a tree: every file holding a reference to it, at one
    stage, and the files skipped with their reason (``(path, reason)``). ``unreadable`` are
    the skipped files that mention the image but are not UTF-8: the worker refuses to bump
    past them, where a Helm template (not YAML) is only skipped."""

    files: tuple[FileEdit, ...]
    skipped: tuple[tuple[str, str], ...]
    unreadable: tuple[tuple[str, str], ...] = ()

    @property
    def references(self) -> tuple[ImageEdit, ...]:
        """Every reference to the image, in path order."""
        return tuple(ref for file in self.files for ref in file.references)

    @property
    def changes(self) -> tuple[ImageEdit, ...]:
        """The references whose bytes the edit changes."""
        return tuple(ref for file in self.files for ref in file.changes)

    @property
    def edited(self) -> tuple[FileEdit, ...]:
        """The files whose text the edit changes."""
        return tuple(file for file in self.files if file.changes)

    @property
    def matched(self) -> int:
        """References to the image, changed or already current."""
        return sum(file.matched for file in self.files)


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
) -> tuple[list[ImageEdit], list[tuple[str, str]]]:
    """Every reference under ``paths``, and the files skipped with their reason."""
    base = Path(root).resolve()
    located: list[ImageEdit] = []
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
        located.extend(ImageEdit(found, rel) for found in result.found)
    return located, skipped


def screen_term(image: str) -> str:
    """Text every supported spelling of ``image`` contains: its repository path, less the
    ``library/`` of Docker Hub official images (``nginx``, ``acme/api``, ``bitnami/redis``).

    Split forms keep the path whole in their ``repository`` field; a registry field or
    ``global.imageRegistry`` holds only the host, so the path is always written out.
    """
    return refs.parse(image).repository.removeprefix(refs.OFFICIAL_PREFIX)


def scan_image(root: Path | str, paths: Iterable[str], image: str) -> TreeEdit:
    """The references to ``image`` under ``paths`` (stage *found*), each file read once."""
    base = Path(root).resolve()
    needle = screen_term(image).encode("utf-8")
    files: list[FileEdit] = []
    skipped: list[tuple[str, str]] = []
    unreadable: list[tuple[str, str]] = []
    for rel in yaml_file_names(base, paths):
        with open(os.path.join(base, rel), "rb") as handle:
            data = handle.read()
        if needle not in data:
            continue  # cheap screen: most files of a config repo never mention the image
        try:
            text = _decode(data, rel)
        except BumperError as error:
            skipped.append((rel, str(error)))
            unreadable.append((rel, str(error)))
            continue
        file = editor.scan_image(text, image, rel)
        if file.skipped is not None:
            skipped.append((rel, file.skipped.reason))
        if file.references:
            files.append(file)
    return TreeEdit(tuple(files), tuple(skipped), tuple(unreadable))


def plan_tree(tree: TreeEdit, *, tag: str | None = None, digest: str | None = None) -> TreeEdit:
    """Every file of ``tree`` planned, edited in memory and verified; nothing is written.
    A refusal in any file raises ``EditRefused`` naming it."""
    if tag is None and digest is None:
        raise BumperError("give a tag, a digest, or both")
    files = []
    for file in tree.files:
        try:
            files.append(editor.edit_file(file, tag=tag, digest=digest))
        except EditRefused as error:
            raise EditRefused(f"{file.path}: {error}") from None
    return TreeEdit(tuple(files), tree.skipped, tree.unreadable)


def write_tree(root: Path | str, tree: TreeEdit) -> None:
    """Write every edited file of a planned ``tree`` under ``root``, each atomically."""
    base = Path(root).resolve()
    for file in tree.edited:
        write_text(base / file.path, file.after)


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
    tree = plan_tree(scan_image(root, paths, image), tag=tag, digest=digest)
    if not dry_run:
        write_tree(root, tree)
    return tree


def set_image_in_tree(
    root: Path | str,
    paths: Iterable[str],
    image: str,
    tag: str | None = None,
    digest: str | None = None,
    dry_run: bool = False,
) -> list[ImageEdit]:
    """The references :func:`edit_tree` changed (for commit messages and PR tables)."""
    return list(edit_tree(root, paths, image, tag=tag, digest=digest, dry_run=dry_run).changes)
