"""docs/deploy.md's values tables, generated from each chart's values.schema.json.

Every key the schema declares becomes a row: its type (or choices), its default (from the
chart's values.yaml) and its meaning (the schema's ``description``, else the comment right
above the key in values.yaml when it starts with ``# --``, the form helm-docs reads; it may go
on over more ``#`` lines). A comment without ``--`` is a note for the reader of values.yaml.
``python -m bumper.chartdoc charts/bumper`` prints one table;
``python -m bumper.chartdoc --write docs/deploy.md`` rewrites every table between
``<!-- values: charts/NAME -->`` and ``<!-- end values -->`` markers. tests/charts/test_docs.py
fails when the committed page and the charts disagree. Must not: be imported by a process.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

MARKER = re.compile(r"(<!-- values: (\S+) -->\n)(.*?)(<!-- end values -->)", re.S)
KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):")
LONG_DEFAULT = 48


def comments(values_text: str) -> dict[str, str]:
    """Dotted key -> the ``# --`` comment block right above it, without the marker (keys
    inside list items are skipped)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            if pending and (pending[0] == "--" or pending[0].startswith("-- ")):
                text = " ".join([pending[0].removeprefix("--").strip(), *pending[1:]])
                found[".".join(key for _, key in stack)] = text.strip()
        pending = []
    return found


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return _resolve(merged, root)


def leaves(
    schema: dict[str, Any], root: dict[str, Any], path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    schema = _resolve(schema, root)
    props = schema.get("properties")
    if schema.get("type") == "object" and props and schema.get("additionalProperties") is False:
        for name, sub in props.items():
            yield from leaves(sub, root, f"{path}.{name}" if path else name)
    elif path:
        yield path, schema


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _default(values: Any, path: str) -> str:
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return ""
        values = values[part]
    text = json.dumps(values)
    return "see values.yaml" if len(text) > LONG_DEFAULT else f"`{text}`"


def table(chart: Path) -> str:
    schema = json.loads((chart / "values.schema.json").read_text())
    values_text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(values_text)
    notes = comments(values_text)
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for path, sub in leaves(schema, schema, ""):
        meaning = (sub.get("description") or notes.get(path, "")).replace("|", "\\|")
        lines.append(f"| `{path}` | {_type(sub)} | {_default(values, path)} | {meaning} |")
    return "\n".join(lines) + "\n"


def rewrite(page: str, base: Path) -> str:
    """The page with every marked table regenerated (chart paths relative to ``base``)."""
    return MARKER.sub(lambda m: m.group(1) + table(base / m.group(2)) + m.group(4), page)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        page = Path(argv[1])
        page.write_text(rewrite(page.read_text(), Path.cwd()))
        return 0
    if len(argv) == 1:
        print(table(Path(argv[0])), end="")
        return 0
    print("usage: python -m bumper.chartdoc CHART_DIR | --write PAGE.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
