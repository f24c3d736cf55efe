"""``bumper explain-policy``: offline decisions with a rule from bumper.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bumper import cli

CONFIG = """\
apiVersion: bumper/v1
repos: [{name: r, forge: git, url: ../r.git}]
images:
  - name: api
    image: ghcr.io/acme/api
    policy: {semver: "^1.4", ignore: ["1.6.*"]}
    targets: [{repo: r, paths: ["**"]}]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bumper.yaml"
    path.write_text(CONFIG)
    return path


def test_explains_each_tag_and_the_selection(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain-policy", "api", "1.5.0", "1.6.1", "2.0.0", "1.3.0", "--current", "1.4.2"]
    assert cli.main([*argv, "--file", str(config_file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "1.5.0: accepted by semver ^1.4: newer than current 1.4.2",
        "1.6.1: rejected by ignore 1.6.*: '1.6.1' matches ignore pattern '1.6.*'",
        "2.0.0: rejected by semver ^1.4: 2.0.0 is outside ^1.4",
        "1.3.0: rejected by semver ^1.4: 1.3.0 is outside ^1.4",
        "selected: 1.5.0",
    ]


def test_nothing_selected_exits_1_and_json(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain-policy", "api", "1.4.0", "--current", "1.4.2", "--json"]
    assert cli.main([*argv, "--file", str(config_file)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["best"] is None
    assert data["decisions"][0]["rule"] == "no-downgrade"


def test_unknown_rule_is_a_one_line_error(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["explain-policy", "web", "1.0.0", "--file", str(config_file)]) == 2
    assert "no image rule named 'web' (rules: api)" in capsys.readouterr().err
