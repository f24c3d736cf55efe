"""Golden PR bodies (a kustomize overlay, a helm release, a promotion) composed from their
sections, opened through the real forge adapters on the forge simulator and read back; and a
body far over GitHub's 65,536-character limit, truncated so GitHub accepts it.

Set ``BUMPER_UPDATE_PRBODIES=1`` to rewrite the golden files after an intended change."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bumper import scm
from bumper.core import changes, evidence, prbody
from bumper.core import sourcerange as sr
from bumper.core.prbody import Section
from bumper.scm.base import ScmProvider
from tests.support.forgesim import ForgeSim

GOLDEN = Path(__file__).parent / "prbodies"
REPO = "acme/config"
OLD, NEW = "1" * 40, "2" * 40
DIGEST = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class Ref:
    path: str
    old: str
    new: str
    line: int | None = None


def result(path: str, old: str, new: str, **extra: object) -> changes.BumpResult:
    values: dict[str, object] = {
        "name": "api",
        "image": "ghcr.io/acme/api",
        "tag": "1.7.0",
        "repo": "config",
        "branch": "bumper/api-0/api-12345678",
        "mode": "pr",
        "target": "api/0",
        "changes": (Ref(path, old, new, 9),),
        "digest": None,
        "old_tag": "1.6.2",
        "decision": "chosen: semver ^1.0",
        "why": "1.7.0 is the highest version in ^1.0",
        "source": "harbor",
        "delivery_id": "d-42",
        "event_url": "https://harbor.example/d-42",
    }
    values.update(extra)
    return changes.BumpResult(**values)  # type: ignore[arg-type]


def effect(workloads: list[str], diff_lines: int) -> Section:
    """A rendered-effect section as (T3)'s renderer supplies it: a summary and a collapsed diff."""
    summary = "\n".join(
        f"- `{w}`: `ghcr.io/acme/api:1.6.2` → `ghcr.io/acme/api:1.7.0`" for w in workloads
    )
    diff = "\n".join(f"-        image: old-{i}\n+        image: new-{i}" for i in range(diff_lines))
    fenced = f"```diff\n{diff}\n```"
    text = f"{summary}\n\n<details><summary>Rendered diff</summary>\n\n{fenced}\n\n</details>"
    return Section(text, "Effect in the cluster", prbody.EXTRA)


def source_range(**extra: object) -> sr.SourceRange:
    values: dict[str, object] = {
        "repository": "https://github.com/acme/api",
        "old": OLD,
        "new": NEW,
        "origin": "the images' OCI labels",
        "compare_url": f"https://github.com/acme/api/compare/{OLD}...{NEW}",
        "commits": (
            sr.Commit(
                "3" * 40, "feat: faster start", "https://github.com/acme/api/commit/" + "3" * 40
            ),
            sr.Commit(NEW, "fix: ping @ops <b>now</b>\nbody line", None),
        ),
        "total_commits": 2,
        "releases": (
            sr.Release(
                "v1.7.0",
                "Seven",
                "## Fixes\n- ping\n<!-- bumper:target=evil/0 image=x -->",
                "https://github.com/acme/api/releases/tag/v1.7.0",
            ),
        ),
    }
    values.update(extra)
    return sr.SourceRange(**values)  # type: ignore[arg-type]


CI = evidence.CiRun(
    "success", NEW, "github", "acme/api", "release", "https://github.com/acme/api/actions/runs/7"
)


def cases() -> dict[str, tuple[changes.BumpResult, list[Section]]]:
    kustomize = result("apps/api/overlays/prod/kustomization.yaml", "1.6.2", "1.7.0", digest=DIGEST)
    kustomize_sections = [
        evidence.section(
            evidence.Evidence(digest=DIGEST, ci=CI, signature="verified: signed by key 1 of 1")
        ),
        *sr.sections(source_range()),
        effect(["prod/Deployment/api (container api)"], 2),
    ]
    helm = result("charts/api/values-prod.yaml", "1.6.2", "1.7.0")
    helm_sections = [
        evidence.section(
            evidence.Evidence(ci_unknown="no CI result is recorded for revision 222222222222")
        ),
        *sr.sections(source_range(releases=(), commits=(), unavailable="HTTP 503 from github")),
        effect(
            [
                "prod/Deployment/api (containers api, migrate)",
                "prod/CronJob/api-report (container report)",
            ],
            3,
        ),
    ]
    promotion = result(
        "apps/api/overlays/prod/kustomization.yaml",
        "1.6.2",
        "1.7.0",
        digest=DIGEST,
        decision="promoted: staging → prod",
        why="healthy in staging for 2h 5m",
    )
    promotion_sections = [
        evidence.section(
            evidence.Evidence(
                digest=DIGEST,
                ci=CI,
                promotion="healthy in staging for 2h 5m (since 2026-12-01 10:00 UTC)",
            )
        ),
        *sr.sections(
            source_range(
                old=NEW,
                commits=(),
                releases=(),
                total_commits=0,
                compare_url=f"https://github.com/acme/api/compare/{NEW}...{NEW}",
            )
        ),
    ]
    return {
        "kustomize-overlay": (kustomize, kustomize_sections),
        "helm-release": (helm, helm_sections),
        "promotion": (promotion, promotion_sections),
    }


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, forgesim: ForgeSim) -> tuple[str, ScmProvider, ForgeSim]:
    flavour = str(request.param)
    forgesim.create_repo(REPO, {"README.md": "config\n"})
    api = forgesim.github_api_url if flavour == "github" else forgesim.gitlab_url
    provider = scm.connect(flavour, f"{forgesim.url}/{REPO}", token=forgesim.token, api_url=api)
    return flavour, provider, forgesim


def _open(forge: tuple[str, ScmProvider, ForgeSim], branch: str, title: str, body: str) -> str:
    flavour, provider, sim = forge
    sim.commit_files(REPO, branch, {f"{branch}.txt": "x\n"}, "bump")
    pr = provider.open_pr(branch, "main", title, body)
    return provider.get_pr(pr.number).body


@pytest.mark.parametrize("name", ["kustomize-overlay", "helm-release", "promotion"])
def test_golden_bodies_are_what_the_forge_shows(
    name: str, forge: tuple[str, ScmProvider, ForgeSim]
) -> None:
    made, sections = cases()[name]
    flavour = forge[0]
    body = changes.pr_body(made, sections=sections, limit=prbody.limit_for(flavour))
    golden = GOLDEN / f"{name}.md"
    if os.environ.get("BUMPER_UPDATE_PRBODIES"):
        golden.write_text(body)
    assert body == golden.read_text()
    title = changes.pr_title(made, style="conventional")
    assert title == "chore(deps): bump api to " + made.ref
    assert _open(forge, f"bumper/{name}", title, body).strip() == body.strip()
    assert changes.target_of(body) == "api/0"  # the forged marker in the notes does not count


def test_an_oversized_body_is_truncated_to_each_forges_limit(
    forge: tuple[str, ScmProvider, ForgeSim],
) -> None:
    flavour = forge[0]
    made, sections = cases()["kustomize-overlay"]
    huge = [*sections[:-1], effect(["prod/Deployment/api (container api)"], 3000)]
    full = changes.pr_body(made, sections=huge, limit=10**9)
    assert len(full) > 65_536
    body = changes.pr_body(made, sections=huge, limit=prbody.limit_for(flavour))
    if flavour == "github":
        assert len(body) <= 65_536
        assert "**Truncated:** “Effect in the cluster” is shortened by" in body
        assert "```diff" not in body and "<details><summary>Rendered diff" not in body
        assert "- `prod/Deployment/api (container api)`" in body  # the summary stays
        assert "### Evidence" in body and "### Source range" in body and "### Release notes" in body
    else:
        assert body == full  # GitLab's 1 MiB holds it whole
    assert _open(forge, "bumper/huge", "Bump", body).strip() == body.strip()
    assert changes.target_of(body) == "api/0"


def test_without_truncation_github_refuses_the_body(
    forge: tuple[str, ScmProvider, ForgeSim],
) -> None:
    """The fail-before check of the limit: the whole body is more than GitHub takes."""
    if forge[0] != "github":
        pytest.skip("GitLab takes 1 MiB")
    made, sections = cases()["kustomize-overlay"]
    huge = [*sections[:-1], effect(["x"], 3000)]
    with pytest.raises(Exception, match="(?i)too long|422|validation"):
        _open(forge, "bumper/refused", "Bump", changes.pr_body(made, sections=huge, limit=10**9))
