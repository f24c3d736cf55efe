"""The fenced shell blocks of README.md and docs/*.md, and how a test runs them.

A block is fenced as ``sh``, ``bash``, ``shell`` or ``console``. The last non-blank line before
its fence may be one of these HTML comments (invisible when the page is rendered):

- ``<!-- skip-test: REASON -->``: not run; the reason is required (e.g. "needs a real cluster").
- ``<!-- quickstart: background -->``: the quickstart test (tests/e2e/test_quickstart.py) starts
  this block in the background in a fresh checkout, as a first terminal would (``make run``).
- ``<!-- quickstart -->``: run by the quickstart test, in that checkout, once the background
  block is up; README's first, then docs/ in file order.

Every other block runs in a copy of what ships (the tracked files), ``.venv/bin`` first on
PATH (as after ``source .venv/bin/activate``), under ``bash -e -o pipefail``, and must exit 0.
A block whose lines start with ``$ `` shows output: each ``$ `` line is a command (a trailing
``\\`` continues it) and the lines up to the next one are what it prints (stdout and stderr),
matched exactly except that ``...`` stands for any text within a line, and a line of only
``...`` for any number of lines.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*(skip-test|quickstart)\s*(?::\s*(.*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the opening fence
    language: str
    text: str
    marker: str | None = None  # "skip-test" | "quickstart"
    argument: str = ""  # the skip reason, or "background"

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Step:
    command: str
    expected: tuple[str, ...] | None  # None: output not shown, not checked


def pages(root: Path = REPO_ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(page: Path, root: Path = REPO_ROOT) -> list[Block]:
    """Every fenced shell block of ``page`` with the marker before it."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith("```")), None)
        if end is None:
            raise AssertionError(f"{page}:{index + 1}: unclosed fence")
        if fence.group(1) in SHELL_LANGUAGES:
            marker = _marker_before(lines, index)
            found.append(
                Block(
                    page=str(page.relative_to(root)),
                    line=index + 1,
                    language=fence.group(1),
                    text="\n".join(lines[index + 1 : end]) + "\n",
                    marker=marker[0] if marker else None,
                    argument=marker[1] if marker else "",
                )
            )
        index = end + 1
    return found


def _marker_before(lines: list[str], fence: int) -> tuple[str, str] | None:
    previous = next((lines[i] for i in range(fence - 1, -1, -1) if lines[i].strip()), "")
    match = _MARKER.match(previous.strip())
    return (match.group(1), match.group(2) or "") if match else None


def steps(block: Block) -> list[Step]:
    """A ``$ `` block as commands with their shown output; any other block as one command."""
    lines = block.text.splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return [Step(block.text, None)]
    result: list[Step] = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith("$ "):
            raise AssertionError(f"{block.name}: output before the first command")
        command = [lines[index][2:]]
        while command[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            command.append(lines[index])
        index += 1
        output: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output.append(lines[index])
            index += 1
        result.append(Step("\n".join(command) + "\n", tuple(output)))
    return result


def matches(expected: tuple[str, ...], actual: str) -> bool:
    """``actual`` is what ``expected`` shows, ``...`` standing for any text (see above)."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?"
        if line.strip() == "..."
        else ".*".join(re.escape(part) for part in line.split("...")) + r"\n"
        for line in expected
    )
    text = actual if actual.endswith("\n") or not actual else actual + "\n"
    return re.fullmatch(pattern, text) is not None


def run(step: Step, cwd: Path, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step.command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout


def check(step: Step, code: int, output: str) -> str | None:
    """Why this run of ``step`` does not do what the page shows, or None when it does."""
    if code != 0:
        return f"exit {code}:\n{output}"
    if step.expected is not None and not matches(step.expected, output):
        return "printed:\n" + output + "\nthe page shows:\n" + "\n".join(step.expected)
    return None


def shipped_files(root: Path = REPO_ROOT) -> list[str]:
    """The tracked files: what a clone holds (as they are in the working tree)."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (root / name).is_file()]
