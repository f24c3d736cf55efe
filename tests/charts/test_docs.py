"""docs/deploy.md: its values tables are what ``bumper.chartdoc`` generates from the charts, and
the bumper.yaml the page and the golden cases show is a valid config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bumper import chartdoc, configfile
from tests.charts.helm import CASES, CHARTS, REPO

PAGE = REPO / "docs" / "deploy.md"


def test_values_tables_match_the_charts() -> None:
    page = PAGE.read_text()
    assert chartdoc.rewrite(page, REPO) == page, (
        "docs/deploy.md is stale: python -m bumper.chartdoc --write docs/deploy.md"
    )
    for name, chart in CHARTS.items():
        assert f"<!-- values: charts/{name} -->" in page
        for line in chartdoc.table(chart).splitlines()[2:]:
            assert line in page


def test_every_schema_key_has_a_row() -> None:
    rows = chartdoc.table(CHARTS["bumper"]).splitlines()[2:]
    keys = {row.split("`")[1] for row in rows}
    assert {"web.service.port", "web.opsService.port", "externalRedis.url", "secrets.web"} <= keys
    rows = chartdoc.table(CHARTS["bumper-agent"]).splitlines()[2:]
    keys = {row.split("`")[1] for row in rows}
    assert {"agent.repoUrl", "git.signers.gpgKeysKey", "networkPolicy.dns.ports"} <= keys


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_value_of_both_charts_has_a_meaning(name: str) -> None:
    """Each row's meaning: the schema's description, else the value's `# --` comment."""
    rows = chartdoc.table(CHARTS[name]).splitlines()[2:]
    assert [row.split("`")[1] for row in rows if row.endswith("|  |")] == []


def test_every_agent_value_has_a_helm_docs_comment() -> None:
    """bumper-agent's schema carries no descriptions: its values.yaml comments are the one
    source, in the form helm-docs reads (charts/bumper's descriptions live in its schema)."""
    chart = CHARTS["bumper-agent"]
    schema = json.loads((chart / "values.schema.json").read_text())
    leaves = {path for path, _ in chartdoc.leaves(schema, schema, "")}
    assert len(leaves) > 80
    assert sorted(leaves - set(chartdoc.comments((chart / "values.yaml").read_text()))) == []
    assert "description" not in json.dumps(schema)


def test_comments_are_read_from_values_yaml() -> None:
    text = "a:\n  # -- the b\n  # key\n  b: 1\n# -- c\nc:\n  - d: 2\n# a note\ne: 3\n"
    assert chartdoc.comments(text) == {"a.b": "the b key", "c": "c"}


def test_the_bumper_yaml_shown_is_valid(tmp_path: Path) -> None:
    page = PAGE.read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "receivers" in b]
    shown = yaml.safe_load(block)["config"]["bumper"]
    case = yaml.safe_load((CASES / "bumper--bundled.yaml").read_text())["config"]["bumper"]
    for bumper_yaml in (shown, case):
        result, issues = configfile.check_text(yaml.safe_dump(bumper_yaml))
        assert result is not None and not issues, issues
