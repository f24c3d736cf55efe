"""``bumper check-config``: every problem on its own line with path and line; exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import cli, configfile
from bumper.errors import ConfigError

GOOD = """\
apiVersion: bumper/v1
repos:
  - name: platform-config
    forge: git
    url: ../config.git
images:
  - name: api
    image: ghcr.io/acme/api
    policy: {semver: "^1.4"}
    targets:
      - repo: platform-config
        paths: ["apps/**"]
        mode: commit
"""

BAD = """\
apiVersion: bumper/v1
repos:
  - name: platform-config
    forge: git
    url: ../config.git
images:
  - name: api
    image: ghcr.io/acme/api
    policy: {semver: ">=1.4 <<2"}
    targets:
      - repo: platform-config
        paths: ["apps/**"]
  - name: api
    image: nginx
    policy:
      regex: '^(?P<ts>\\d+)$'
      extract: tx
      order: numeric
    targets:
      - repo: elsewhere
        paths: ["x/**"]
        mode: direct
"""


@pytest.fixture(autouse=True)
def _secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets these files name are set, as where the processes run."""
    monkeypatch.setenv("HUB_SECRET", "a-harbor-secret-of-32-characters")
    monkeypatch.setenv("S", "a-github-secret-of-32-characters")


OFFLINE = "F: offline: target files not checked (no repo cloned)\n"


def run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """check-config --offline (these repos do not exist; tests/cli/test_startup_errors.py
    checks target files), without its offline line."""
    path = tmp_path / "bumper.yaml"
    path.write_text(text)
    code = cli.main(["check-config", "--offline", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.replace(str(path), "F").replace(OFFLINE, "")


def test_valid_file_exits_0_with_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(tmp_path, GOOD, capsys)
    assert code == 0 and err == ""
    assert "valid" in out and "1 repo," in out and "1 image rule (1 target)" in out


def test_every_error_with_path_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, BAD, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[:-1] == [
        "F:9: images[0].policy.semver: cannot read '<' in range '>=1.4 <<2': write an "
        "npm-style range, e.g. '^1.4', '~1.4.2' or '>=1.4 <2' (space-separated comparators; "
        "'||' between alternatives)",
        "F:13: images[1].name: duplicate name 'api' (first at images[0])",
        "F:17: images[1].policy.extract: regex has no named group 'tx' (named groups: ts)",
        "F:20: images[1].targets[0].repo: unknown repo 'elsewhere' (repos: platform-config)",
        "F:22: images[1].targets[0].mode: Input should be 'commit', 'pr' or 'pr-automerge'",
    ]
    assert lines[-1] == "F: 5 errors"


def test_yaml_syntax_error_has_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, "apiVersion: bumper/v1\nrepos:\n  - name: [x\n", capsys)
    assert code == 2
    assert err.startswith("F:4: (document): YAML syntax:")


def test_duplicate_keys_are_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, GOOD + "repos: []\n", capsys)
    assert code == 2 and "YAML syntax" in err and "duplicate" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check-config", str(tmp_path / "absent.yaml")])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err


def test_load_raises_config_error_with_first_issue(tmp_path: Path) -> None:
    path = tmp_path / "bumper.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError, match=r"line 9\).*and 4 more") as caught:
        configfile.load(path)
    assert caught.value.path == "images[0].policy.semver"
    path.write_text(GOOD)
    assert configfile.load(path).images[0].policy.semver == "^1.4"


def test_the_documented_full_example_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "a-webhook-secret-of-32-characters")
    monkeypatch.setenv("HARBOR_AUTH_HEADER", "Bearer a-harbor-secret-of-32-characters")
    monkeypatch.setenv("GITHUB_TOKEN", "a-token")
    (tmp_path / "signing-key").write_text("a key\n")
    page = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    section = page.split("## A full example", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = example.replace("/run/secrets/signing-key", str(tmp_path / "signing-key"))
    code, out, err = run(tmp_path, example, capsys)
    assert (code, err) == (0, "")
    assert "3 image rules (4 targets), 1 ci trigger" in out


SCOPED = """\
apiVersion: bumper/v1
receivers:
  - name: hub
    type: harbor
    secret: {env: HUB_SECRET}
    registry: https://harbor.example.com
    scope:
      images: [ghcr.io/acme, acme/api]
      repos: [acme/api, "a b"]
  - name: harbor-without-host
    type: harbor
    secret: {env: HUB_SECRET}
"""


def test_scope_entries_are_checked_with_path_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(tmp_path, SCOPED, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "F:6: receivers[0].registry: 'https://harbor.example.com' is not a registry host "
        "(e.g. harbor.example.com)",
        "F:8: receivers[0].scope.images[1]: 'acme/api' does not start with a registry host "
        "(a name with a '.' or a port, or localhost; e.g. ghcr.io, registry.local:5000 or "
        "ghcr.io/acme)",
        "F:9: receivers[0].scope.repos[1]: 'a b' is not a repository path (e.g. acme/api, or "
        "group/subgroup for all of a GitLab group)",
        "F: 3 errors",
    ]


def test_a_receiver_that_cannot_know_its_images_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = SCOPED.replace("https://harbor.example.com", "harbor.example.com")
    fixed = fixed.replace(", acme/api]", "]").replace(', "a b"', "")
    code, out, err = run(tmp_path, fixed, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "F:10: receivers[1]: receiver 'harbor-without-host': type harbor has no registry of its "
        "own; set registry: <host> (or scope.images) to the registry it speaks for, or "
        "scope: {images: []} to drop its image events",
        "F: 1 error",
    ]
    path = tmp_path / "bumper.yaml"
    assert configfile.load(path).receivers[1].registry is None  # processes without senders


def test_ci_no_receiver_may_speak_for_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace("        mode: commit\n", "        mode: commit\n    gate: {ci: gitlab}\n")
    text += (
        "receivers:\n"
        "  - {name: gh, type: github, secret: {env: S}, scope: {repos: [acme/web]}}\n"
        "ci:\n"
        "  - {name: web, source: github, repository: acme/web, image: api}\n"
        "  - {name: api, source: github, repository: acme/api, image: api}\n"
    )
    code, out, err = run(tmp_path, text, capsys)
    assert code == 0 and "valid" in out
    assert [line for line in err.splitlines() if ": note: " not in line] == [
        "F:14: images[0].gate: warning: no gitlab receiver lists any repository in "
        "scope.repos: this gate never sees a result",
        "F:19: ci[1].repository: warning: no github receiver has 'acme/api' in scope.repos: "
        "this trigger never fires",
    ]


def _with_receiver(secret_ref: str) -> str:
    return (
        "apiVersion: bumper/v1\n"
        "receivers:\n"
        "  - name: gh\n"
        "    type: github\n"
        f"    secret: {secret_ref}\n"
    )


def test_short_and_blank_secrets_are_errors_naming_their_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hook-secret").write_text("only-15-bytes!!\n")
    code, out, err = run(tmp_path, _with_receiver("{file: hook-secret}"), capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "F:5: receivers[0].secret: receiver 'gh' (secret from file hook-secret): the receiver "
        "secret is too short: 15 bytes, at least 16 are required (generate one with "
        "`openssl rand -hex 32`)",
        "F: 1 error",
    ]
    monkeypatch.setenv("BUMPER_TEST_BLANK", "  ")
    code, out, err = run(tmp_path, _with_receiver("{env: BUMPER_TEST_BLANK}"), capsys)
    assert code == 2 and "environment variable BUMPER_TEST_BLANK): " in err
    assert "the receiver secret is empty or blank" in err


def test_a_long_enough_secret_is_valid_and_an_unset_one_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hook-secret").write_text("sixteen-bytes!!!\n")
    code, out, err = run(tmp_path, _with_receiver("{file: hook-secret}"), capsys)
    assert (code, err) == (0, "") and "valid" in out
    monkeypatch.delenv("BUMPER_TEST_UNSET", raising=False)
    code, out, err = run(tmp_path, _with_receiver("{env: BUMPER_TEST_UNSET}"), capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "F:5: receivers[0].secret: environment variable BUMPER_TEST_UNSET is not set: set "
        "BUMPER_TEST_UNSET in the process' environment, or point receivers[0].secret elsewhere",
        "F: 1 error",
    ]


CHART_RULES = """\
apiVersion: bumper/v1
repos:
  - name: platform-config
    forge: git
    url: ../config.git
images:
  - name: both
    image: ghcr.io/acme/api
    chart: oci://ghcr.io/acme/charts/api
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: no-repository
    chart: podinfo
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: oci-and-repository
    chart: oci://ghcr.io/acme/charts/api
    chart_repository: https://charts.example.com
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: ftp
    chart: podinfo
    chart_repository: ftp://charts.example.com
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: inline-secret
    chart: podinfo
    chart_repository: https://bot:hunter2@charts.example.com/stable
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: bad-name
    chart: "Pod Info!"
    chart_repository: https://charts.example.com/stable
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: url-as-image
    image: https://charts.example.com/stable/podinfo
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
  - name: neither
    policy: {semver: "^1"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
"""
CLASSIC = """\
  - name: classic
    chart: podinfo
    chart_repository: https://Charts.Example.com/stable/
    policy: {semver: "^6"}
    targets: [{repo: platform-config, paths: ["apps/**"], mode: commit}]
"""


def test_chart_rules_each_problem_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule gives either image or chart; a chart is oci://... or a name with a classic
    chart_repository (http(s), no inline credentials); each mistake is one line."""
    code, out, err = run(tmp_path, CHART_RULES, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "F:7: images[0]: give either image or chart, not both",
        "F:12: images[1]: give chart: oci://host/path/name, or chart_repository with a name",
        "F:16: images[2]: an oci:// chart names its repository; drop chart_repository",
        "F:21: images[3]: chart_repository 'ftp://charts.example.com' is not an http(s) or oci URL",
        "F:26: images[4]: the URL carries a password inline; remove it and use a registries entry",
        "F:31: images[5]: 'Pod Info!' is not a chart name such as podinfo",
        "F:36: images[6]: 'https://charts.example.com/stable/podinfo' is not an image name "
        "(a chart? use chart:)",
        "F:40: images[7]: give image (a container image) or chart (a Helm chart)",
        "F: 8 errors",
    ]
    assert "hunter2" not in err


def test_a_classic_chart_rule_is_valid_and_keyed_by_its_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(tmp_path, GOOD + CLASSIC, capsys)
    assert code == 0 and err == "", err
    assert "2 image rules" in out
    rule = configfile.load(tmp_path / "bumper.yaml").images[1]
    assert (rule.artifact, rule.chart_identity()) == (
        "chart",
        ("podinfo", "https://charts.example.com/stable"),
    )
    assert rule.image == "https://charts.example.com/stable/podinfo"  # what events name


def test_unset_mode_on_a_plain_git_repo_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default mode (pr) can't land on forge: git, so every bump would fail: exit 2, with the
    target's location and both fixes, rather than a warning that a start would then ignore."""
    code, out, err = run(tmp_path, GOOD.replace("        mode: commit\n", ""), capsys)
    assert code == 2, (out, err)
    line = next(line for line in err.splitlines() if "mode is not set" in line)
    assert "images[0].targets[0]" in line or "images.0.targets.0" in line, line
    assert "set mode: commit, or use forge: github or gitlab" in line
    assert "Traceback" not in out + err
