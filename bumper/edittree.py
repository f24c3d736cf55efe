"""Scan and edit image references across a tree of YAML files (the I/O around core.yaml.editor).

* ``yaml_files(root, paths)``: the files named, and ``*.yaml`` / ``*.yml`` under directories
  or glob patterns, sorted, confined to ``root`` (``.git`` and other dot-directories skipped).
  Symbolic links are never followed, for reading or writing (``select``): a link whose
  files the paths select anyway is skipped; any other is *unreadable*, and the worker
  refuses the bump naming it (docs/editing.md, "Symbolic links").
* Every file is read bounded: over the file size limit, or over the parse limits once
  parsed (an alias bomb; ``bumper.core.yaml.limits``), it is skipped with the reason, and a
  bump that would need it is refused. A large file is parsed document by document, and a
  document over the limits is skipped alone (the file is then unreadable for bumps).
* ``scan_tree``: every reference in those files (each an ``ImageEdit`` at stage *found*).
* ``scan_image`` → ``plan_tree`` → ``write_tree``: the edit of one image, in three steps on the
  same records (:mod:`bumper.core.edits`). The scan reads each file once and keeps its text;
  a file is parsed only if its bytes contain the image's repository path (see
  ``screen_term``), so large config repos cost little more than a read. ``plan_tree`` plans
  and verifies every file in memory; one refusal raises and nothing is written.
  ``write_tree`` then writes the edited files, each atomically (temporary file + rename),
  keeping the file mode.
* ``edit_tree`` / ``set_image_in_tree``: the three steps at once (the CLI's ``set-image``).
* The worker's bump of an image: ``scan_image(..., bounded=True)`` → ``stage_found`` →
  ``write_tree``. A file over ``finder_documents.STREAM_ABOVE`` is then scanned group by group
  and kept as a :class:`LargeFound` (its text, its count of references, the first ``LISTED``
  of them), and edited by the same group-by-group mechanism as ``stage_tree`` (a
  :class:`StagedFile` listing the first ``LISTED`` changes and counting the rest), so memory
  follows one group's references, not a 50 MB file's.
* ``scan_chart`` → ``plan_chart_tree`` → ``write_tree``: the same for a Helm chart's version
  references (``core.yaml.charteditor``), screened by the chart's name.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from bumper.core import finder, finder_documents, refs
from bumper.core.edits import Change, FileEdit, ImageEdit
from bumper.core.walk import Skipped
from bumper.core.yaml import charteditor, editor, limits, streamedit
from bumper.errors import BumperError, EditRefused, ParseLimitExceeded, PathEscape

YAML_SUFFIXES = (".yaml", ".yml")
LISTED = 100
"""References of a large file a bump keeps as records (found, then changed); the rest are
counted: enough for a commit message and a PR table, which show a count beyond them."""
GLOB_CHARS = frozenset("*?[")


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    """A symbolic link a selection met and did not follow: a linked file, or a linked
    directory on the way. ``covered``: every file it leads to is selected itself."""

    path: str  # relative to the root, as the paths select it
    reason: str
    covered: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    """What paths select: ``files`` (sorted, relative, reached without a link) and ``links``."""

    files: tuple[str, ...]
    links: tuple[Link, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class TreeEdit:
    """The edit of one image across a tree: every file holding a reference to it, at one
    stage, and the files skipped with their reason (``(path, reason)``). ``unreadable`` are
    the skipped files that may hold a reference nobody can see: a file mentioning the image
    that is not UTF-8 or is over the parse limits, a file over the size limit, a symbolic
    link to a file the paths do not select. The worker refuses to bump past them, where a
    Helm template (not YAML) or a link to a selected file is only skipped."""

    files: tuple[FileEdit, ...]
    skipped: tuple[tuple[str, str], ...]
    unreadable: tuple[tuple[str, str], ...] = ()
    staged: tuple[StagedFile, ...] = ()  # large files edited group by group (edit_tree)
    large: tuple[LargeFound, ...] = ()  # large files found, not yet edited (bounded scan)

    @property
    def references(self) -> tuple[ImageEdit, ...]:
        """Every reference to the image, in path order (of a large file found by a bounded
        scan: its first ``LISTED``)."""
        small = [(file.path, file.references) for file in self.files]
        large = [(file.path, file.first) for file in self.large]
        return tuple(ref for _, refs_ in sorted(small + large, key=_path) for ref in refs_)

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
        staged = sum(s.matched for s in self.staged)
        return (
            sum(file.matched for file in self.files) + staged + sum(f.matched for f in self.large)
        )

    @property
    def unlisted(self) -> tuple[tuple[str, int], ...]:
        """``(path, count)`` of the changed references of staged files not kept as records."""
        return tuple((s.path, s.unlisted) for s in self.staged if s.unlisted)

    @property
    def change_list(self) -> list[Change]:
        """Every changed reference as a change list prints it, in path order."""
        small = [Change(r.path, r.line, r.kind, r.old, r.new) for r in self.changes]
        return sorted(small + [c for s in self.staged for c in s.changes], key=lambda c: c.path)


@dataclasses.dataclass(frozen=True, slots=True)
class StagedFile:
    """A file over ``finder_documents.STREAM_ABOVE`` edited group by group
    (``core.yaml.streamedit``): ``temp`` holds its edited text, written beside it (its diff,
    elsewhere, for a dry run); ``None`` when nothing changes. The file itself is untouched
    until :func:`commit_staged`; :func:`discard_staged` removes ``temp``."""

    path: str
    temp: str | None
    dry_run: bool
    matched: int
    changes: tuple[Change, ...]
    skipped: Skipped | None = None
    unlisted: int = 0  # changed references beyond ``changes`` (a bounded stage)

    def write_diff(self, label: str, out: TextIO) -> None:
        """Copy the dry run's diff to ``out``, under ``a/LABEL`` → ``b/LABEL``."""
        if self.temp is None or not self.dry_run:
            return
        name = label.lstrip("/")
        out.write(f"--- a/{name}\n+++ b/{name}\n")
        with open(self.temp, encoding="utf-8", newline="") as diff:
            shutil.copyfileobj(diff, out)


@dataclasses.dataclass(frozen=True, slots=True)
class LargeFound:
    """A file over ``finder_documents.STREAM_ABOVE`` found by a bounded scan: its text (for
    :func:`stage_found`), how many references to the image it holds (``matched``), the first
    ``LISTED`` of them (``first``: their lines are the group's), any documents skipped."""

    path: str
    text: str
    image: str
    matched: int
    first: tuple[ImageEdit, ...]
    skipped: Skipped | None = None


def _path(item: tuple[str, object]) -> str:
    return item[0]


def yaml_files(root: Path | str, paths: Iterable[str] = (".",)) -> list[Path]:
    """Files under ``root`` selected by ``paths`` (files, directories or glob patterns),
    reached without a symbolic link (see :func:`select`)."""
    base = Path(root).resolve()
    return [base / rel for rel in select(base, paths).files]


def yaml_file_names(base: Path, paths: Iterable[str]) -> list[str]:
    """Like :func:`yaml_files`, as sorted paths relative to ``base`` (already resolved)."""
    return list(select(base, paths).files)


def select(base: Path, paths: Iterable[str]) -> Selection:
    """The files ``paths`` select under ``base`` (already resolved), and the links met.

    Symbolic links are never followed, neither a linked file nor a linked directory on the
    way (a glob through ``apps/current -> apps/v2`` included): what is read and written is
    always the file at the path selected. Each link met is a :class:`Link` saying whether
    the files it leads to are selected themselves (nothing is lost) or not.
    """
    files: set[str] = set()
    linked: dict[str, str] = {}  # path as selected -> its real path
    for entry in paths:
        is_glob = bool(GLOB_CHARS & set(entry))
        for match in base.glob(entry) if is_glob else [base / entry]:
            lexical = os.path.normpath(match)
            if not _inside(lexical, base):
                raise BumperError(f"{entry} is outside {base.name or base}")
            real = os.path.realpath(lexical)
            if real != lexical:
                linked[_rel(lexical, base)] = real
            elif os.path.isdir(real):
                for name, is_link in _walk(real):
                    if is_link:
                        linked[_rel(name, base)] = os.path.realpath(name)
                    else:
                        files.add(_rel(name, base))
            elif os.path.isfile(real) or (os.path.exists(real) and not is_glob):
                if real.endswith(YAML_SUFFIXES) or not is_glob:
                    files.add(_rel(real, base))  # a FIFO named here: read_bytes refuses it
            elif not is_glob:
                raise BumperError(f"no such file or directory: {entry}")
    links = (_link(base, rel, real, files) for rel, real in sorted(linked.items()))
    return Selection(tuple(sorted(files)), tuple(links))


def _inside(path: str, base: Path) -> bool:
    return path == str(base) or path.startswith(str(base) + os.sep)


def _rel(path: str, base: Path) -> str:
    return Path(path).relative_to(base).as_posix()


def _link(base: Path, rel: str, real: str, selected: set[str]) -> Link:
    """What following the link at ``rel`` would reach, and whether ``selected`` has it all."""
    if not _inside(real, base):
        return Link(rel, "a symbolic link to a path outside the repository: not followed", False)
    target = _rel(real, base)
    if os.path.isdir(real):
        reached = {_rel(name, base) for name, is_link in _walk(real) if not is_link}
    elif os.path.lexists(real):
        reached = {target}
    else:
        return Link(rel, f"a symbolic link to {target}, which does not exist: not followed", True)
    if reached <= selected:
        return Link(rel, f"a symbolic link to {target}: not followed ({target} is selected)", True)
    return Link(
        rel,
        f"a symbolic link to {target}, which the paths do not select: not followed "
        f"(select {target} itself, or replace the link with the file)",
        False,
    )


def _walk(directory: str) -> Iterator[tuple[str, bool]]:
    """YAML files under ``directory`` and every symbolic link on the way (``True``), which
    ``os.walk`` lists but does not descend into."""
    # Plain strings: a config repo has thousands of files, and pathlib's overhead shows.
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                yield full, True
        for name in filenames:
            if name.endswith(YAML_SUFFIXES):
                full = os.path.join(dirpath, name)
                yield full, os.path.islink(full)


def read_bytes(path: Path | str) -> bytes:
    """The bytes of ``path``, never through a final symbolic link, refused (before reading)
    when over the parse limits' file size (``ParseLimitExceeded``) or when it is not a regular
    file (a FIFO would block the read forever; a device never ends): ``BumperError``."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise BumperError("not a regular file (a FIFO, socket or device): skipped")
        limits.check_file_size(status.st_size)
        return handle.read(limits.DEFAULT.max_file_bytes + 1)


def read_text(path: Path) -> str:
    """UTF-8 text with line endings and any BOM kept as they are."""
    return _decode(read_bytes(path), path.name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BumperError(f"{name}: not UTF-8 ({error.reason})") from None


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode; never through a symbolic link."""
    if os.path.realpath(path) != os.path.abspath(path):
        raise PathEscape(f"{path.name}: reached through a symbolic link; not written")
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


@dataclasses.dataclass(frozen=True, slots=True)
class TreeScan:
    """Every reference under some paths (stage *found*), the files skipped with their reason
    (``(path, reason)``), those of them that could not be read at all (``unreadable``: over
    a limit, not UTF-8, not a regular file, an I/O error, out of memory) and the finder's
    warnings (``(path, warning)``, e.g. a duplicate key)."""

    references: tuple[ImageEdit, ...]
    skipped: tuple[tuple[str, str], ...]
    unreadable: tuple[tuple[str, str], ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()


def scan_tree(root: Path | str, paths: Iterable[str] = (".",)) -> TreeScan:
    """Every reference under ``paths``; one file that cannot be read or parsed is skipped
    with its reason and never stops the others."""
    located: list[ImageEdit] = []
    skipped: list[tuple[str, str]] = []
    unreadable: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    for part in scan_tree_stream(root, paths):
        located.extend(part.references)
        skipped.extend(part.skipped)
        unreadable.extend(part.unreadable)
        warnings.extend(part.warnings)
    return TreeScan(
        tuple(located), tuple(sorted(skipped)), tuple(sorted(unreadable)), tuple(warnings)
    )


def scan_tree_stream(root: Path | str, paths: Iterable[str] = (".",)) -> Iterator[TreeScan]:
    """:func:`scan_tree` in parts, in path order: the links met, then each file's groups of
    documents (``finder.scan_stream``), so that a caller printing them holds one group's
    references at a time, not a 50 MB file's."""
    base = Path(root).resolve()
    selection = select(base, paths)
    if selection.links:
        yield TreeScan((), tuple(sorted((link.path, link.reason) for link in selection.links)))
    for rel in selection.files:
        try:
            for result in finder.scan_stream(read_text(base / rel)):
                yield _scanned_part(rel, result)
        except (BumperError, OSError, MemoryError, RecursionError) as error:
            reason = _one_line(error)
            yield TreeScan((), ((rel, reason),), ((rel, reason),))


def _scanned_part(rel: str, result: finder.Scan) -> TreeScan:
    skipped: tuple[tuple[str, str], ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    if result.skipped is not None:
        skipped = ((rel, result.skipped.reason),)
        unreadable = skipped if result.skipped.over_limits else ()
    return TreeScan(
        tuple(ImageEdit(found, rel) for found in result.found),
        skipped,
        unreadable,
        tuple((rel, warning) for warning in result.warnings),
    )


def _one_line(error: BaseException) -> str:
    """A file's read or parse failure as one line (a MemoryError has no message)."""
    if isinstance(error, MemoryError):
        return 'out of memory while parsing (docs/editing.md, "Parse limits")'
    if isinstance(error, RecursionError):
        return "nested too deeply to parse"
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def screen_term(image: str) -> str:
    """Text every supported spelling of ``image`` contains: its repository path, less the
    ``library/`` of Docker Hub official images (``nginx``, ``acme/api``, ``bitnami/redis``).

    Split forms keep the path whole in their ``repository`` field; a registry field or
    ``global.imageRegistry`` holds only the host, so the path is always written out.
    """
    return refs.parse(image).repository.removeprefix(refs.OFFICIAL_PREFIX)


def scan_image(
    root: Path | str, paths: Iterable[str], image: str, *, bounded: bool = False
) -> TreeEdit:
    """The references to ``image`` under ``paths`` (stage *found*), each file read once.
    ``bounded``: a large file is scanned group by group and kept as a :class:`LargeFound`
    (edit the tree with :func:`stage_found`)."""

    def scan(text: str, rel: str) -> FileEdit:
        return editor.scan_image(text, image, rel)

    def large(text: str, rel: str) -> LargeFound:
        return _found_large(text, rel, image)

    return _scan_files(root, paths, screen_term(image), scan, large if bounded else None)


def _found_large(text: str, rel: str, image: str) -> LargeFound:
    """``text`` scanned group by group: its references to ``image`` counted, the first
    ``LISTED`` kept (the filter is ``editor.scan_image``'s)."""
    wanted = refs.normalize_name(image)
    matched, first, skipped = 0, list[ImageEdit](), list[Skipped]()
    for part in finder.scan_parts(text):
        for found in part.scan.found:
            if found.image == wanted and found.artifact == "image" and found.editable:
                matched += 1
                if len(first) < LISTED:
                    first.append(ImageEdit(found, rel))
        if part.skipped is not None:
            skipped.append(part.skipped)
    summary = finder_documents.summary(skipped) if skipped else None
    return LargeFound(rel, text, image, matched, tuple(first), summary)


def scan_chart(
    root: Path | str, paths: Iterable[str], chart: str, repository: str | None = None
) -> TreeEdit:
    """The version references to ``chart`` under ``paths`` (stage *found*); files are
    screened for the chart's name, which every location form spells out."""
    name, _ = charteditor.chart_identity(chart, repository)
    return _scan_files(
        root, paths, name, lambda text, rel: charteditor.scan_chart(text, chart, repository, rel)
    )


def _scan_files(
    root: Path | str,
    paths: Iterable[str],
    term: str,
    scan: Callable[[str, str], FileEdit],
    stage: Callable[[str, str], StagedFile | LargeFound] | None = None,
) -> TreeEdit:
    """The files under ``paths`` whose bytes hold ``term``, each scanned by ``scan`` (or
    edited by ``stage`` when given and the file is large)."""
    base = Path(root).resolve()
    needle = term.encode("utf-8")
    selection = select(base, paths)
    files: list[FileEdit | StagedFile | LargeFound] = []
    skipped = [(link.path, link.reason) for link in selection.links]
    unreadable = [(ln.path, f"{ln.path}: {ln.reason}") for ln in selection.links if not ln.covered]
    for rel in selection.files:
        try:
            data = read_bytes(os.path.join(base, rel))
        except ParseLimitExceeded as error:
            unreadable.append((rel, f"{rel}: {error}"))
            continue
        except (BumperError, OSError) as error:
            skipped.append((rel, _one_line(error)))
            unreadable.append((rel, f"{rel}: {_one_line(error)}"))
            continue
        if needle not in data:
            continue  # cheap screen: most files of a config repo never mention the image
        try:
            text = _decode(data, rel)
        except BumperError as error:
            skipped.append((rel, str(error)))
            unreadable.append((rel, str(error)))
            continue
        del data  # the text is all that is needed now
        large = stage is not None and len(text) > finder_documents.STREAM_ABOVE
        try:
            file = stage(text, rel) if stage is not None and large else scan(text, rel)
        except (MemoryError, RecursionError) as error:
            del text  # let the next file have the memory back
            skipped.append((rel, _one_line(error)))
            unreadable.append((rel, f"{rel}: {_one_line(error)}"))
            continue
        if file.skipped is not None:
            skipped.append((rel, file.skipped.reason))
            if file.skipped.over_limits:
                unreadable.append((rel, f"{rel}: {file.skipped.reason}"))
        if file.matched:
            files.append(file)
    return TreeEdit(
        tuple(f for f in files if isinstance(f, FileEdit)),
        tuple(sorted(skipped)),
        tuple(sorted(unreadable)),
        tuple(f for f in files if isinstance(f, StagedFile)),
        tuple(f for f in files if isinstance(f, LargeFound)),
    )


def _stage(
    base: Path,
    rel: str,
    text: str,
    image: str,
    tag: str | None,
    digest: str | None,
    dry: bool,
    listed: int | None = None,
    *,
    keep_form: bool = False,
) -> StagedFile:
    """``text`` (the file ``rel``) edited group by group into a temporary file: its new text
    beside it, or its diff for a dry run. Nothing of it is kept on a refusal. ``listed``:
    keep only the first so many changes, and count the rest."""
    target = base / rel
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=None if dry else target.parent)
    matched, unlisted, changes, skipped = 0, 0, list[Change](), list[Skipped]()
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            for part in streamedit.edit_parts(
                text, image, tag=tag, digest=digest, path=rel, diff=dry, keep_form=keep_form
            ):
                out.write(part.hunks if dry else part.after)
                matched += part.matched
                room = len(part.changes) if listed is None else max(listed - len(changes), 0)
                changes.extend(part.changes[:room])
                unlisted += len(part.changes[room:])
                if part.skipped is not None:
                    skipped.append(part.skipped)
    except BaseException:
        os.unlink(temp)
        raise
    if not changes:
        os.unlink(temp)
    summary = finder_documents.summary(skipped) if skipped else None
    kept = temp if changes else None
    return StagedFile(rel, kept, dry, matched, tuple(changes), summary, unlisted)


def commit_staged(root: Path | str, staged: StagedFile) -> None:
    """Replace the staged file with its edited text, atomically, keeping its mode; never
    through a symbolic link."""
    if staged.temp is None or staged.dry_run:
        return
    path = Path(root).resolve() / staged.path
    if os.path.realpath(path) != os.path.abspath(path):
        discard_staged(staged)
        raise PathEscape(f"{path.name}: reached through a symbolic link; not written")
    os.chmod(staged.temp, path.stat().st_mode & 0o7777)
    os.replace(staged.temp, path)


def discard_staged(*trees: TreeEdit | StagedFile) -> None:
    """Remove the temporary files of staged edits (a refusal, a dry run, an error)."""
    for item in trees:
        for staged in item.staged if isinstance(item, TreeEdit) else (item,):
            if staged.temp is not None:
                Path(staged.temp).unlink(missing_ok=True)


def plan_tree(
    tree: TreeEdit,
    *,
    tag: str | None = None,
    digest: str | None = None,
    keep_form: bool = False,
) -> TreeEdit:
    """Every file of ``tree`` planned, edited in memory and verified; nothing is written.
    A refusal in any file raises ``EditRefused`` naming it. ``keep_form``: each reference
    keeps its form (``editor.edit_file``)."""
    if tag is None and digest is None:
        raise BumperError("give a tag, a digest, or both")
    files = []
    for file in tree.files:
        try:
            files.append(editor.edit_file(file, tag=tag, digest=digest, keep_form=keep_form))
        except EditRefused as error:
            raise EditRefused(f"{file.path}: {error}") from None
    return TreeEdit(tuple(files), tree.skipped, tree.unreadable, tree.staged)


def stage_found(
    root: Path | str,
    tree: TreeEdit,
    *,
    tag: str | None = None,
    digest: str | None = None,
    keep_form: bool = False,
) -> TreeEdit:
    """A bounded :func:`scan_image` tree planned: small files as :func:`plan_tree` does,
    each large file staged from the text the scan read (:class:`StagedFile`, its first
    ``LISTED`` changes kept). Nothing is written; on a refusal nothing is left behind."""
    small = TreeEdit(tree.files, tree.skipped, tree.unreadable)
    planned = plan_tree(small, tag=tag, digest=digest, keep_form=keep_form)
    base = Path(root).resolve()
    staged: list[StagedFile] = []
    try:
        for large in tree.large:
            try:
                staged.append(
                    _stage(
                        base,
                        large.path,
                        large.text,
                        large.image,
                        tag,
                        digest,
                        False,
                        LISTED,
                        keep_form=keep_form,
                    )
                )
            except EditRefused as error:
                raise EditRefused(f"{large.path}: {error}") from None
    except BaseException:
        discard_staged(*staged)
        raise
    return TreeEdit(planned.files, tree.skipped, tree.unreadable, tuple(staged))


def plan_chart_tree(tree: TreeEdit, version: str) -> TreeEdit:
    """Like :func:`plan_tree`, for the chart references of a :func:`scan_chart` tree."""
    files = []
    for file in tree.files:
        try:
            files.append(charteditor.edit_chart_file(file, version))
        except EditRefused as error:
            raise EditRefused(f"{file.path}: {error}") from None
    return TreeEdit(tuple(files), tree.skipped, tree.unreadable)


def write_tree(root: Path | str, tree: TreeEdit) -> None:
    """Write every edited file of a planned ``tree`` under ``root``, each atomically (never
    through a symbolic link: ``PathEscape``)."""
    base = Path(root).resolve()
    for file in tree.edited:
        write_text(base / file.path, file.after)
    for staged in tree.staged:
        commit_staged(base, staged)


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
    tree = stage_tree(root, paths, image, tag=tag, digest=digest)
    if dry_run:
        discard_staged(tree)
    else:
        write_tree(root, tree)
    return tree


def stage_tree(
    root: Path | str,
    paths: Iterable[str],
    image: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    diff: bool = False,
) -> TreeEdit:
    """:func:`edit_tree`'s plan, nothing written yet: small files planned in memory, large
    ones staged (:class:`StagedFile`, their new text in a temporary file; with ``diff``,
    their diff instead). The caller then calls :func:`write_tree`, or :func:`discard_staged`.
    On a refusal nothing is left behind."""
    if tag is None and digest is None:
        raise BumperError("give a tag, a digest, or both")
    base = Path(root).resolve()
    staged: list[StagedFile] = []

    def stage(text: str, rel: str) -> StagedFile:
        try:
            staged.append(_stage(base, rel, text, image, tag, digest, diff))
        except EditRefused as error:
            raise EditRefused(f"{rel}: {error}") from None
        return staged[-1]

    def scan(text: str, rel: str) -> FileEdit:
        return editor.scan_image(text, image, rel)

    try:
        found = _scan_files(base, paths, screen_term(image), scan, stage)
        return plan_tree(found, tag=tag, digest=digest)
    except BaseException:
        discard_staged(*staged)
        raise


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
