"""A bump's outcome (``BumpResult``) and the text made from it: branch name, commit message,
PR title and PR body.

Pure: strings in, strings out. The worker fills a ``BumpResult`` after editing a checkout,
with the applied ``bumper.core.edits.ImageEdit`` records themselves (any record with the
:class:`EditedReference` fields will do); ``bumper.scm`` posts the title and body. Templates
are ``str.format`` strings over ``fields(result)`` (the names listed in
``bumper.core.config.TEMPLATE_FIELDS``).

The PR body is composed of sections (``bumper.core.prbody``): the templated opening line, a
table (file, old → new, policy decision, source event), the decision's reasons, then the
sections others supply (evidence, source range, rendered effect, ...), kept within the forge's
body limit; it always ends with a hidden marker naming the target, so a PR is recognisably
Bumper's own even if its title was edited by hand.

Commit style (a rule's ``commit_style``): ``plain`` ("Bump api to 1.7.0") or ``conventional``
("chore(deps): bump api to 1.7.0"), for the commit subject and the PR title alike, unless a
template says otherwise. Every commit ends with trailers: ``Bumper-Delivery`` (the event's
delivery id) and ``Bumper-Decision`` (the policy decision) when known, and ``Bumper-Target``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bumper.core import prbody

CommitStyle = Literal["plain", "conventional"]
DEFAULT_TITLE = "Bump {name} to {ref} in {repo}"
CONVENTIONAL_TITLE = "chore(deps): bump {name} to {ref}"
TRAILER_LIMIT = 200
FIELD_LIMIT = 300
"""Longest text an event-derived field may put in a commit, PR or comment (characters)."""
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SAFE_URL = re.compile(r"https?://[^\s()<>\[\]`|]+")
DEFAULT_BODY = "Bumper updates **{image}** to `{ref}` ({mode}, branch `{branch}`)."
MARKER_PREFIX = "<!-- bumper:target="


class EditedReference(Protocol):
    """What the text needs of one edited reference: ``path`` relative to the repo root, the
    old and new reference text, and the line (None: not shown)."""

    @property
    def path(self) -> str: ...

    @property
    def old(self) -> str: ...

    @property
    def new(self) -> str: ...

    @property
    def line(self) -> int | None: ...


@dataclass(frozen=True)
class BumpResult:
    """What one bump job did to one target, and why."""

    name: str  # the image rule
    image: str  # normalised image name
    tag: str
    repo: str
    branch: str  # the branch the change lands on (base branch for commit mode)
    mode: str
    target: str  # the target key (rule + index), stable across runs
    changes: tuple[EditedReference, ...] = ()
    digest: str | None = None
    old_tag: str | None = None
    old_digest: str | None = None  # the digest the old reference pinned: what ran, not the tag
    paths: tuple[str, ...] = ()
    decision: str = ""  # e.g. "chosen by semver ^1.4"
    why: str = ""
    source: str = ""
    delivery_id: str = ""
    event_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # (path, count) of changed references not listed in ``changes``: a large file's beyond
    # its first few, so that the message and the table stay bounded (``bumper.edittree``).
    unlisted: tuple[tuple[str, int], ...] = ()

    @property
    def ref(self) -> str:
        """What was written: ``tag`` or ``tag@digest``."""
        return f"{self.tag}@{self.digest}" if self.digest else self.tag

    @property
    def files(self) -> tuple[str, ...]:
        paths = [change.path for change in self.changes] + [path for path, _ in self.unlisted]
        return tuple(dict.fromkeys(paths))

    @property
    def count(self) -> int:
        """Every changed reference, listed or not."""
        return len(self.changes) + sum(n for _, n in self.unlisted)


def slug(text: str, limit: int = 40) -> str:
    """A branch-safe slug: lowercase letters, digits, ``.``, ``_`` and ``-``."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    return cleaned[:limit].rstrip("-.") or "x"


def branch_name(repo: str, target: str, image: str) -> str:
    """The one branch for a (target, image): stable, so a retry finds the same branch and PR."""
    digest = hashlib.sha256(f"{repo}\0{target}\0{image}".encode()).hexdigest()[:8]
    return f"bumper/{slug(target)}/{slug(image.rsplit('/', 1)[-1], 30)}-{digest}"


def inline(text: str, limit: int = FIELD_LIMIT) -> str:
    """``text`` made safe for one line of a commit, PR or comment: control characters and line
    separators become one space, and it is cut at ``limit`` characters (with ``…``).

    Event fields (delivery ids, sources, CI names) come from the internet: with no line break
    in them they cannot start a line of their own, so they cannot forge a ``Signed-off-by:``
    or any other trailer, nor a Markdown heading or list in a PR."""
    flat = _BREAKS.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL that cannot break out of a Markdown link, else None."""
    return url if url and len(url) <= 2048 and _SAFE_URL.fullmatch(url) else None


def fields(result: BumpResult) -> dict[str, str]:
    """Every template field, as one line of text each (see ``inline``)."""
    return {key: inline(value) for key, value in _raw_fields(result).items()}


def _raw_fields(result: BumpResult) -> dict[str, str]:
    return {
        "name": result.name,
        "image": result.image,
        "tag": result.tag,
        "old_tag": result.old_tag or "",
        "digest": result.digest or "",
        "ref": result.ref,
        "repo": result.repo,
        "branch": result.branch,
        "mode": result.mode,
        "paths": ", ".join(result.paths),
        "files": ", ".join(result.files) or "no file",
        "count": str(result.count),
        "source": result.source,
        "delivery_id": result.delivery_id,
        "decision": result.decision,
        "why": result.why,
    }


def render(template: str, result: BumpResult) -> str:
    """``template`` filled from ``fields``; unknown fields are kept literally, never an error."""
    values = fields(result)
    return re.sub(
        r"\{([A-Za-z_]\w*)\}",
        lambda m: values.get(m.group(1), m.group(0)),
        template.replace("{{", "\0").replace("}}", "\1"),
    ).translate({0: "{", 1: "}"})


def commit_message(
    result: BumpResult, template: str | None = None, style: CommitStyle = "plain"
) -> str:
    """The template's text, or a subject, one line per change, the decision and the event;
    then the trailers (``trailers``), so history can be traced to a target and a delivery."""
    if template:
        lines = [render(template, result).strip()]
    else:
        subject = render(CONVENTIONAL_TITLE, result) if style == "conventional" else None
        lines = [subject or f"Bump {result.name} to {result.ref}", ""]
        lines += [f"- {change.path}: {change.old} → {change.new}" for change in result.changes]
        lines += [f"- {path}: {_more(n)}" for path, n in result.unlisted]
        if result.decision:
            lines += ["", f"Policy: {result.decision}"]
        if result.delivery_id:
            lines.append(f"Event: {inline(result.source)} {inline(result.delivery_id)}".rstrip())
    return "\n".join([*lines, "", *trailers(result)]) + "\n"


def trailers(result: BumpResult) -> list[str]:
    """``Bumper-Delivery`` and ``Bumper-Decision`` (when known), then ``Bumper-Target``: one
    line each (``sanitised``), so no event text can add a trailer of its own."""
    found = [
        ("Bumper-Delivery", sanitised(result.delivery_id)),
        ("Bumper-Decision", inline(result.decision, TRAILER_LIMIT)),
        ("Bumper-Target", result.target),
    ]
    return [f"{key}: {value}" for key, value in found if value]


def sanitised(delivery_id: str) -> str:
    """A delivery id as a trailer value: printable ASCII without spaces, at most 200
    characters (anything else becomes ``_``)."""
    return re.sub(r"[^\x21-\x7e]", "_", inline(delivery_id, TRAILER_LIMIT))


def pr_title(result: BumpResult, template: str | None = None, style: CommitStyle = "plain") -> str:
    # A title is one line: forges reject or truncate more (GitLab: 255 characters).
    default = CONVENTIONAL_TITLE if style == "conventional" else DEFAULT_TITLE
    return render(template or default, result).splitlines()[0].strip()[:250]


def _cell(text: str) -> str:
    return inline(text).replace("|", "\\|") or "—"


def change_table(result: BumpResult) -> str:
    """The markdown table of every change: file, old → new, decision, source event."""
    event = result.delivery_id or "event"
    url = safe_url(result.event_url)
    link = f"[{_cell(event)}]({url})" if url else _cell(event)
    source = f"{_cell(result.source)} {link}".strip()
    rows = ["| file | old → new | policy decision | source event |", "|---|---|---|---|"]
    for change in result.changes:
        where = f"{change.path}:{change.line}" if change.line else change.path
        rows.append(
            f"| `{_cell(where)}` | `{_cell(change.old)}` → `{_cell(change.new)}` "
            f"| {_cell(result.decision)} | {source} |"
        )
    for path, count in result.unlisted:
        rows.append(f"| `{_cell(path)}` | {_more(count)} | {_cell(result.decision)} | {source} |")
    return "\n".join(rows)


def _more(count: int) -> str:
    return f"{count} more reference{'s' if count != 1 else ''} changed the same way"


def marker(result: BumpResult) -> str:
    return f"{MARKER_PREFIX}{result.target} image={result.image} -->"


def pr_body(
    result: BumpResult,
    template: str | None = None,
    *,
    sections: Sequence[prbody.Section] = (),
    limit: int = prbody.DEFAULT_LIMIT,
) -> str:
    """The opening line (``template``), the table of changes, the reasons, then ``sections``
    (each in the order given), within ``limit`` characters (``prbody.compose``)."""
    own = [
        prbody.Section(render(template or DEFAULT_BODY, result).strip(), priority=prbody.KEEP),
        prbody.Section(change_table(result), priority=prbody.TABLE),
    ]
    if result.why:
        own.append(prbody.Section(f"**Why:** {inline(result.why, 1000)}", priority=prbody.DECISION))
    return prbody.compose([*own, *sections], marker(result), limit=limit)


def target_of(body: str | None) -> str | None:
    """The target key from a PR body written by ``pr_body``, or None."""
    # The last one: Bumper writes the marker last, after any text that came from elsewhere.
    found = re.findall(re.escape(MARKER_PREFIX) + r"(\S+) ", body or "")
    return found[-1] if found else None
