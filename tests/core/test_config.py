"""bumper.yaml model: repos, images, policies, gates, targets, ci triggers, cross-field rules.

Each invalid case asserts the exact path the problem is reported at, since check-config
users navigate by it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bumper.core import config, events
from bumper.errors import PermanentError

VALID: dict[str, Any] = {
    "apiVersion": "bumper/v1",
    "receivers": [{"name": "ghcr", "type": "github", "secret": {"env": "GH_SECRET"}}],
    "repos": [
        {
            "name": "platform-config",
            "forge": "github",
            "url": "https://github.com/acme/platform-config",
            "branch": "main",
            "credentials": {"env": "GITHUB_TOKEN"},
            "author": {"name": "Bumper Bot", "email": "bot@acme.test"},
        },
        {"name": "local", "forge": "git", "url": "/srv/git/config.git"},
    ],
    "images": [
        {
            "name": "api",
            "image": "ghcr.io/acme/api",
            "policy": {"semver": ">=1.4.0 <2"},
            "gate": {"ci": "github", "project": "acme/api", "workflow": "build"},
            "targets": [
                {"repo": "platform-config", "paths": ["apps/api/dev/**"], "mode": "commit"},
                {
                    "repo": "platform-config",
                    "paths": ["apps/api/prod/**"],
                    "mode": "pr",
                    "delivery": "push",
                },
            ],
            "labels": ["bump"],
            "reviewers": ["alice"],
            "pr_title": "Bump {name} to {tag}",
        },
        {
            "name": "web",
            "image": "nginx",
            "policy": {
                "regex": r"^main-(?P<ts>\d+)-[0-9a-f]{7}$",
                "extract": "ts",
                "order": "numeric",
            },
            "targets": [{"repo": "local", "paths": ["web.yaml"], "mode": "commit"}],
        },
    ],
    "ci": [
        {
            "name": "api-main",
            "source": "github",
            "repository": "acme/api",
            "branches": ["main", "release/*"],
            "image": "api",
            "tag": "{branch}-{short_sha}",
        }
    ],
}


def issues_of(doc: dict[str, Any]) -> dict[str, str]:
    result, issues = config.validate(doc)
    assert result is None, "expected the document to be invalid"
    return {issue.path: issue.message for issue in issues}


def edited(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        node: Any = doc
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        node[key] = value
    return doc


def test_valid_document_loads_with_defaults_and_normalised_image() -> None:
    cfg, issues = config.validate(VALID)
    assert issues == [] and cfg is not None
    assert cfg.image("web") is not None and cfg.image("web").image == "docker.io/library/nginx"  # type: ignore[union-attr]
    local = cfg.repo("local")
    assert local is not None and local.branch == "main" and local.author.name == "bumper"
    api = cfg.images[0]
    assert api.gate is not None and api.gate.repository == "acme/api"
    assert [t.mode for t in api.targets] == ["commit", "pr"]
    assert api.targets[1].deploy == "push" and api.targets[0].deploy == "pull"
    assert cfg.images_for("docker.io/library/nginx") == [cfg.images[1]]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (
            {"images__0__policy": {"semver": ">=1.4 <<2"}},
            "images[0].policy.semver",
            "cannot read '<'",
        ),
        ({"images__1__policy__extract": "tx"}, "images[1].policy.extract", "no named group 'tx'"),
        ({"images__1__policy__regex": "^(?P<ts"}, "images[1].policy.regex", "invalid regex"),
        ({"images__1__policy__order": None}, "images[1].policy", "needs order"),
        ({"images__0__policy": {"digest": "latest", "semver": "^1"}}, "images[0].policy", "digest"),
        ({"images__0__policy": {}}, "images[0].policy", "give one of"),
        ({"images__0__targets__0__mode": "direct"}, "images[0].targets[0].mode", "commit"),
        ({"images__0__targets__0__paths": ["../etc/**"]}, "images[0].targets[0].paths[0]", ".."),
        ({"images__0__targets__0__paths": ["/abs/x"]}, "images[0].targets[0].paths[0]", "relative"),
        ({"images__0__targets__0__paths": ["a/**b"]}, "images[0].targets[0].paths[0]", "'**'"),
        ({"images__0__targets__0__paths": ["a/[bc"]}, "images[0].targets[0].paths[0]", "unclosed"),
        ({"images__0__targets__0__paths": []}, "images[0].targets[0].paths", "at least 1"),
        ({"images__0__image": "ghcr.io/acme/api:1.0"}, "images[0].image", "without a tag"),
        ({"images__0__image": "Not An Image"}, "images[0].image", ""),
        ({"images__0__pr_title": "Bump {nope}"}, "images[0].pr_title", "unknown template field"),
        ({"images__0__colour": "blue"}, "images[0].colour", "Extra inputs"),
        ({"repos__0__forge": "bitbucket"}, "repos[0].forge", "github"),
        ({"repos__0__url": "git@github.com:a/b"}, "repos[0]", "http(s) url"),
        ({"repos__0__branch": "a..b"}, "repos[0].branch", "branch name"),
        (
            {"repos__0__credentials": {"env": "A", "file": "/b"}},
            "repos[0].credentials",
            "exactly one",
        ),
        ({"ci__0__tag": "{sha7}"}, "ci[0].tag", "unknown template field"),
        ({"ci__0__tag": "fixed"}, "ci[0].tag", "no event field"),
    ],
)
def test_field_errors_are_reported_at_their_path(
    change: dict[str, Any], path: str, fragment: str
) -> None:
    found = issues_of(edited(**change))
    assert path in found, found
    assert fragment in found[path]


def test_cross_field_errors_name_the_entry() -> None:
    doc = edited(images__0__targets__1__repo="nowhere", ci__0__image="ghost")
    doc["images"].append(copy.deepcopy(doc["images"][1]))
    doc["repos"].append(copy.deepcopy(doc["repos"][0]))
    found = issues_of(doc)
    assert "unknown repo 'nowhere'" in found["images[0].targets[1].repo"]
    assert "unknown image rule 'ghost'" in found["ci[0].image"]
    assert "first at images[1]" in found["images[2].name"]
    assert "first at repos[0]" in found["repos[2].name"]


def test_every_error_is_reported_not_just_the_first() -> None:
    doc = edited(
        images__0__policy={"semver": "nope"},
        images__1__targets__0__repo="missing",
        repos__1__forge="svn",
    )
    assert set(issues_of(doc)) == {
        "images[0].policy.semver",
        "images[1].targets[0].repo",
        "repos[1].forge",
    }


def test_model_validate_enforces_cross_field_rules_too() -> None:
    with pytest.raises(ValueError, match="unknown repo"):
        config.BumperConfig.model_validate(edited(images__0__targets__0__repo="zzz"))


def test_non_mapping_document_is_one_issue() -> None:
    cfg, issues = config.validate(["apiVersion"])
    assert cfg is None and len(issues) == 1 and "mapping" in issues[0].message


def build(**fields: Any) -> events.BuildFinished:
    base: dict[str, Any] = {
        "status": "success",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/heads/release/1.4",
        "repository": "acme/api",
        "pipeline": "build",
        "source": "github",
    }
    base.update(fields)
    return events.BuildFinished(**base)


def test_ci_trigger_matches_branch_globs_and_renders_a_valid_tag() -> None:
    cfg, _ = config.validate(VALID)
    assert cfg is not None
    trigger = cfg.ci[0]
    assert trigger.matches(build())
    assert trigger.render_tag(build()) == "release-1.4-0123456"
    assert not trigger.matches(build(ref="refs/heads/feature/x"))
    assert not trigger.matches(build(ref="refs/tags/v1.4.0"))
    assert not trigger.matches(build(repository="acme/other"))
    assert not trigger.matches(build(source="gitlab"))
    assert cfg.triggers_for("github", "acme/api") == [trigger]


def api_release() -> config.CiTrigger:
    """A trigger on acme/api's tags ``v*`` that bumps ``api`` to the git tag itself."""
    return config.CiTrigger.model_validate(
        {
            "name": "api-release",
            "source": "github",
            "repository": "acme/api",
            "tags": ["v*"],
            "image": "api",
            "tag": "{git_tag}",
        }
    )


def test_ci_trigger_matches_tag_globs_and_renders_the_git_tag() -> None:
    trigger = api_release()
    assert trigger.matches(build(ref="refs/tags/v1.4.0"))
    assert trigger.render_tag(build(ref="refs/tags/v1.4.0")) == "v1.4.0"
    assert not trigger.matches(build(ref="refs/tags/nightly"))
    assert not trigger.matches(build(ref="refs/heads/v1.4.0"))  # a branch is not a tag
    assert not trigger.matches(build(ref=None))


def test_a_ref_whose_kind_the_sender_did_not_say_is_read_by_the_rules_globs() -> None:
    """GitHub's push run on v1.4.0 names no kind (ref None, extra.ref_name): a rule listing
    tags reads it as a tag, one listing branches as a branch, one listing neither not at all."""
    unknown = build(ref=None, extra={"ref_name": "v1.4.0", "ref_unknown": "not said"})
    release = api_release()
    assert release.matches(unknown)
    assert release.render_tag(unknown) == "v1.4.0"
    main_only = config.CiTrigger(
        name="t", source="github", repository="acme/api", branches=["main"], image="api"
    )
    assert not main_only.matches(unknown)
    assert config.rule_ref(None, "v1.4.0", ["v*"], []) == "refs/heads/v1.4.0"
    assert config.rule_ref(None, "v1.4.0", [], []) is None
    # What the sender said wins over any glob: a branch named like a version is no tag.
    assert not release.matches(build(ref="refs/heads/v2.0", extra={"ref_name": "v2.0"}))
    recorded = {"source": "github", "repository": "acme/api", "pipeline": "build"}
    gate = config.Gate(ci="github", tags=["v*"])
    assert gate.matches(**recorded, ref="", ref_name="v1.4.0")
    # As the worker records it (worker.store.record_ci), for rules and promotion gates alike.
    assert gate.matches_record({**recorded, "ref_name": "v1.4.0"})
    assert not gate.matches_record(recorded)
    assert not gate.matches(**recorded, ref="refs/heads/v1.4.0", ref_name="")
    assert not config.Gate(ci="github", branches=["main"]).matches(
        **recorded, ref="", ref_name="v1.4.0"
    )


@pytest.mark.parametrize(
    ("ref", "branches", "tags", "expected"),
    [
        ("refs/heads/main", [], [], True),
        (None, [], [], True),
        ("refs/heads/release/1.4", ["release/*"], [], True),
        ("release/1.4", ["release/*"], [], True),  # a bare name is a branch
        ("refs/tags/release/1.4", ["release/*"], [], False),  # a tag never matches branches
        ("refs/tags/v2.0.0", [], ["v*"], True),
        ("refs/heads/v2.0.0", [], ["v*"], False),  # a branch never matches tags
        ("refs/tags/V2.0.0", [], ["v*"], False),  # case-sensitive on every platform
        ("", ["*"], ["*"], False),  # an unknown ref matches no filter
        (None, ["*"], [], False),
    ],
)
def test_one_ref_filter_for_triggers_and_gates(
    ref: str | None, branches: list[str], tags: list[str], expected: bool
) -> None:
    assert config.ref_matches(ref, branches, tags) is expected
    trigger = config.CiTrigger(
        name="t", source="github", repository="acme/api", branches=branches, tags=tags, image="api"
    )
    assert trigger.matches(build(ref=ref)) is expected
    gate = config.Gate(ci="github", branches=branches, tags=tags)
    recorded = {"source": "github", "repository": "acme/api", "pipeline": "build"}
    assert gate.matches(**recorded, ref=ref or "") is expected


def test_a_gate_narrows_by_sender_project_workflow_and_ref() -> None:
    gate = config.Gate.model_validate(
        {"ci": "github", "project": "acme/api", "workflow": "release", "tags": ["v*"]}
    )
    fits = {"source": "github", "repository": "acme/api", "pipeline": "release"}
    assert gate.matches(**fits, ref="refs/tags/v1.0.0")
    assert not gate.matches(**fits, ref="refs/heads/main")
    assert not gate.matches(**{**fits, "source": "gitlab"}, ref="refs/tags/v1.0.0")
    assert not gate.matches(**{**fits, "repository": "acme/web"}, ref="refs/tags/v1.0.0")
    assert not gate.matches(**{**fits, "pipeline": "test"}, ref="refs/tags/v1.0.0")


def test_ci_trigger_without_the_field_it_needs_is_permanent_error() -> None:
    cfg, _ = config.validate(VALID)
    assert cfg is not None
    with pytest.raises(PermanentError, match="no short_sha"):
        cfg.ci[0].render_tag(build(commit=None))


def test_a_mode_with_pull_requests_on_a_plain_git_repo_is_an_error() -> None:
    for mode in ("pr", "pr-automerge"):
        doc = copy.deepcopy(VALID)
        doc["images"][1]["targets"][0]["mode"] = mode
        assert issues_of(doc) == {
            "images[1].targets[0].mode": f"mode {mode} needs pull requests, but repo "
            "'local' is forge: git (a plain remote): set mode: commit, or use forge: github "
            "or gitlab"
        }


def test_a_pipeline_names_the_environment_that_needs_an_agent() -> None:
    # staging reports nothing, so prod (after it) would never see a digest run healthy there
    def env(name: str, agent: str | None) -> dict[str, Any]:
        target = {"repo": "local", "paths": [f"{name}/**"], "mode": "commit"}
        return {"name": name, "targets": [target], **({"agent": agent} if agent else {})}

    doc = copy.deepcopy(VALID)
    doc["agents"] = [{"name": "dev", "token": {"env": "DEV_AGENT_TOKEN"}}]
    doc["pipelines"] = [
        {
            "name": "api",
            "image": "ghcr.io/acme/api",
            "policy": {"semver": "^1"},
            "environments": [env("dev", "dev"), env("staging", None), env("prod", None)],
        }
    ]
    assert issues_of(doc) == {
        "pipelines[0]": "staging: needs agent: (who reports its health): prod receives only "
        "what ran healthy in staging"
    }
