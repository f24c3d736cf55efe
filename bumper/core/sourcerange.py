"""The code between the old and the new image, as PR body sections: which source repository,
which two commits (from the images' OCI labels or the CI event that built the new one), the
forge's compare link, up to N commit subjects and the release notes of the tags in between.

Data in (``SourceRange``, filled by ``worker.sourcerange``), markdown out. Every text that came
from a label or a forge is treated as hostile: commit subjects become one bounded line; release
notes are bounded, quoted as text inside a collapsed ``<details>`` with every ``<`` escaped (no
HTML, no forged hidden marker, no unclosed element) and ``@`` mentions defused. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bumper.core import semver
from bumper.core.changes import inline, safe_url
from bumper.core.prbody import RELEASE_NOTES, SOURCE, Section

SOURCE_LABEL = "org.opencontainers.image.source"
REVISION_LABEL = "org.opencontainers.image.revision"
MAX_COMMITS = 20
MAX_RELEASES = 10
RELEASE_CHARS = 4000
RELEASE_LINES = 80
_SHA = re.compile(r"[0-9a-f]{7,64}")
_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?(?P<path>/[^?#]*)"
    r"(?:[?#].*)?",
    re.IGNORECASE,
)
_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    url: str | None = None


@dataclass(frozen=True)
class Release:
    tag: str
    name: str
    notes: str
    url: str | None = None


@dataclass(frozen=True)
class SourceRange:
    """What is known of the source range. ``origin`` says where the commits came from;
    ``unavailable`` why the commit list and release notes could not be fetched."""

    repository: str = ""  # the source repository's web URL
    old: str | None = None
    new: str | None = None
    origin: str = ""
    compare_url: str | None = None
    commits: tuple[Commit, ...] = ()
    total_commits: int | None = None
    releases: tuple[Release, ...] = ()
    unavailable: str | None = None
    why_unknown: str = ""  # when old or new is None


@dataclass(frozen=True)
class SourceRepo:
    """A source repository URL split for the forge: ``base`` (scheme://host[:port]) and
    ``path`` (owner/name, or group/sub/name)."""

    base: str
    path: str

    @property
    def web(self) -> str:
        return f"{self.base}/{self.path}"


def parse_source(url: str) -> SourceRepo | None:
    """The repository an ``org.opencontainers.image.source`` label names, or None when it is
    not a plain http(s) repository URL (``.git`` and a trailing ``/tree/...`` are dropped)."""
    found = _URL.fullmatch(url) if safe_url(url) else None
    if found is None:
        return None
    path = found["path"].strip("/").removesuffix(".git")
    path = re.split(r"/(?:-/)?(?:tree|blob|commit)/", path, maxsplit=1)[0]
    if not _PATH.fullmatch(path) or ".." in path:
        return None
    port = f":{found['port']}" if found["port"] else ""
    return SourceRepo(f"{found['scheme'].lower()}://{found['host'].lower()}{port}", path)


def is_revision(text: str | None) -> bool:
    return bool(text) and _SHA.fullmatch(str(text)) is not None


def compare_url(forge: str, repo: SourceRepo, old: str, new: str) -> str:
    """The forge's web compare view of ``old...new``."""
    middle = "/-/compare/" if forge == "gitlab" else "/compare/"
    return f"{repo.web}{middle}{old}...{new}"


def in_between(tag: str, old: str | None, new: str) -> bool:
    """Whether release ``tag`` lies in (old, new]: by semantic version when all three are
    versions (a leading ``v`` ignored), else only the new tag itself."""
    version, low, high = (_version(t) for t in (tag, old or "", new))
    if version is None or high is None:
        return tag.removeprefix("v") == new.removeprefix("v")
    return version <= high and (low is None or version > low)


def _version(tag: str) -> semver.Version | None:
    return semver.try_version(tag.removeprefix("v"))


def sections(found: SourceRange) -> list[Section]:
    """The "Source range" section, and "Release notes" when there are some."""
    out = [Section(_range_text(found), "Source range", SOURCE)]
    if found.releases:
        out.append(Section(_releases_text(found.releases), "Release notes", RELEASE_NOTES))
    return out


def _short(sha: str) -> str:
    return sha[:12]


def _range_text(found: SourceRange) -> str:
    lines: list[str] = []
    repo = safe_url(found.repository)
    if repo:
        lines.append(f"Source: {repo}")
    if found.old is None or found.new is None:
        old = f"`{_short(found.old)}`" if found.old else "unknown"
        new = f"`{_short(found.new)}`" if found.new else "unknown"
        lines.append(f"Commits: {old} → {new}: unknown ({inline(found.why_unknown, 300)})")
        return "\n".join(lines)
    link = safe_url(found.compare_url)
    compare = f" ([compare]({link}))" if link else ""
    origin = f", from {inline(found.origin, 100)}" if found.origin else ""
    lines.append(f"Commits: `{_short(found.old)}` → `{_short(found.new)}`{compare}{origin}")
    if found.unavailable is not None:
        lines.append("")
        lines.append(f"Commit list: unavailable ({inline(found.unavailable, 300)})")
        return "\n".join(lines)
    if found.old == found.new:
        lines += ["", "The old and the new image were built from the same commit."]
        return "\n".join(lines)
    lines += ["", _count(found), ""]
    for commit in found.commits[:MAX_COMMITS]:
        url = safe_url(commit.url)
        sha = f"[`{_short(commit.sha)}`]({url})" if url else f"`{_short(commit.sha)}`"
        lines.append(f"- {sha} {_subject(commit.subject)}")
    return "\n".join(lines).rstrip("\n")


def _count(found: SourceRange) -> str:
    shown = min(len(found.commits), MAX_COMMITS)
    total = found.total_commits if found.total_commits is not None else len(found.commits)
    return f"{total} commits, the last {shown} shown:" if total > shown else f"{total} commits:"


def _subject(text: str) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return _defuse(inline(first, 200)) or "(no subject)"


def _defuse(text: str) -> str:
    """Markdown text that mentions, links and HTML from elsewhere cannot act in: ``<``
    escaped, ``@name`` kept from notifying anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("@", "@\u200b")


def _releases_text(releases: tuple[Release, ...]) -> str:
    blocks: list[str] = []
    for release in releases[:MAX_RELEASES]:
        title = _defuse(inline(release.name or release.tag, 150))
        url = safe_url(release.url)
        link = f"[The release on the forge]({url})\n\n" if url else ""
        quoted = "\n".join(f"> {line}" if line else ">" for line in _notes_lines(release.notes))
        blocks.append(
            f"<details><summary>{_defuse(inline(release.tag, 100))}: {title}</summary>\n\n"
            f"{link}{quoted or '> (no notes)'}\n\n</details>"
        )
    return "\n".join(blocks)


def _notes_lines(notes: str) -> list[str]:
    text = notes[:RELEASE_CHARS]
    lines = [_defuse(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", line)) for line in text.splitlines()]
    cut = len(notes) > RELEASE_CHARS or len(lines) > RELEASE_LINES
    lines = lines[:RELEASE_LINES]
    return [*lines, "", "(release notes cut here)"] if cut else lines
