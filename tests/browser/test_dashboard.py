"""The dashboard in Debian's chromium, against the real product: gunicorn (``create_app``), a
real ``bumper worker`` process (RQ), a real Redis, and the forge simulator's GitHub.

One stack for the module (the tests run in order and build on each other): ``api`` bumps by PR,
``web`` names a file the config repo lacks, so its bump job fails for good until the file is
committed and the job retried from the page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, expect
from rq.registry import FailedJobRegistry

from bumper import decisions, rqjobs
from bumper.core import events, policy
from bumper.registry import state as poll_state
from tests.e2e.stack import CONFIG_REPO, DEPLOY, START, Stack, repo_block
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from worker.promotionstore import PromotionStore

pytestmark = pytest.mark.timeout(180)

WEB_FILE = "apps/web/deploy.yaml"
IMAGES = (
    "images:\n"
    "  - name: api\n"
    "    image: ghcr.io/acme/api\n"
    '    policy: {semver: "^1.0"}\n'
    "    targets:\n"
    "      - repo: config\n"
    '        paths: ["apps/api/**"]\n'
    "        mode: pr\n"
    "  - name: web\n"
    "    image: ghcr.io/acme/web\n"
    '    policy: {semver: "^2.0"}\n'
    "    targets:\n"
    "      - repo: config\n"
    f'        paths: ["{WEB_FILE}"]\n'
    "        mode: commit\n"
)
PIPELINE = (
    "pipelines:\n"
    "  - name: db\n"
    "    image: ghcr.io/acme/db\n"
    '    policy: {semver: "^3.0"}\n'
    "    environments:\n"
    "      - name: dev\n"
    "        agent: dev\n"
    '        targets: [{repo: config, paths: ["apps/db/dev/**"], mode: commit}]\n'
    "      - name: staging\n"
    "        gate: {ci: github, workflow: e2e}\n"
    '        targets: [{repo: config, paths: ["apps/db/staging/**"], mode: commit}]\n'
    "agents:\n"
    "  - {name: dev, token: {file: dev-agent-token}}\n"
)
DB_DIGEST = "sha256:" + "d" * 64


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("dashboard")
    sim = ForgeSim(workdir / "forgesim").start()
    sim.create_repo(CONFIG_REPO, {DEPLOY: START})
    (workdir / "dev-agent-token").write_text("dashboard-dev-agent-token-0123456789\n")
    started = Stack(workdir, redis_server, sim, repo_block(sim, "github") + IMAGES + PIPELINE)
    try:
        started.start()
        started.push("1.3.0")
        started.push("0.9.0")  # refused by the policy: a "rejected" decision
        started.push("2.1.0", image="ghcr.io/acme/web")
        started.wait("the api PR", lambda: [c for c in started.changes() if c.state == "open"])
        started.wait("the web bump to fail", lambda: _failed(started))
        yield started
    finally:
        started.stop()
        sim.stop()


def _failed(stack: Stack) -> list[str]:
    registry = FailedJobRegistry(
        f"{stack.queue}-bumps", connection=stack.redis, job_class=rqjobs.BumperJob
    )
    return list(registry.get_job_ids())


def _row(page: Page, target: str) -> object:
    return page.locator(f'#images-table tr[data-target="{target}"]')


def test_the_page_shows_images_jobs_and_processes(stack: Stack, page: Page) -> None:
    page.goto(stack.web.ops_url + "/")
    expect(page.locator("header")).to_contain_text("auth: none")
    api = page.locator('#images-table tr[data-target="api/0"]')
    expect(api).to_contain_text("ghcr.io/acme/api")
    expect(api).to_contain_text(f"{DEPLOY} → 1.0.0")  # what HEAD holds
    expect(api).to_contain_text("1.3.0")  # the newest accepted candidate, and the PR's ref
    expect(api).to_contain_text("open")
    pr = api.get_by_role("link", name="PR")
    [change] = [c for c in stack.changes() if c.state == "open"]
    assert str(change.number) in (pr.get_attribute("href") or "")
    web = page.locator('#images-table tr[data-target="web/0"]')
    expect(web).to_contain_text("failed")
    [job_id] = _failed(stack)
    failed = page.locator(f'#jobs-failed tr[data-job="{job_id}"]')
    expect(failed).to_contain_text("edit")
    expect(failed).to_contain_text(WEB_FILE)
    expect(page.locator("#workers")).to_contain_text(str(stack.worker.pid if stack.worker else ""))
    expect(page.locator("#replicas")).to_contain_text("live")
    expect(page.locator("#push-mode")).to_contain_text("No target uses push mode.")


def test_the_event_page_shows_the_normalised_event_and_its_decisions(
    stack: Stack, page: Page
) -> None:
    page.goto(stack.web.ops_url + "/")
    row = page.locator("#deliveries tr", has_text="ghcr.io/acme/api:0.9.0")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/events/"))
    expect(page.locator("#events pre")).to_contain_text('"tag": "0.9.0"')
    expect(page.locator("#events pre")).to_contain_text('"image": "ghcr.io/acme/api"')
    decision = page.locator("#event-decisions")
    expect(decision).to_contain_text("rejected")
    expect(decision).to_contain_text("api")
    page.get_by_role("link", name="Bumper").click()
    expect(page.locator("#images-table")).to_be_visible()


def test_decisions_filter_by_rule_and_outcome_and_page(stack: Stack, page: Page) -> None:
    journal = decisions.DecisionLog(stack.redis)
    for n in range(30):  # an old rule's history, to page through
        verdict = policy.Decision(f"3.{n}.0", "semver", "rejected", f"number {n}")
        push = events.ImageEvent("image.pushed", "ghcr.io/acme/old", f"3.{n}.0", source="t")
        journal.record(verdict, image="ghcr.io/acme/old", rule_name="old", event=push, at=n)
    page.goto(stack.web.ops_url + "/")
    form = page.locator("#decision-filters")
    form.locator('select[name="rule"]').select_option("api")
    form.locator('select[name="outcome"]').select_option("rejected")
    form.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"rule=api.*outcome=rejected"))
    table = page.locator("#decisions")
    expect(table).to_contain_text("0.9.0")
    expect(table).not_to_contain_text("1.3.0")
    page.goto(stack.web.ops_url + "/?image=ghcr.io/acme/old")
    expect(table).to_contain_text("3.29.0")  # newest first
    expect(table).not_to_contain_text("3.4.0")
    page.locator("#pages").get_by_role("link", name="older").click()
    expect(page.locator("#pages")).to_contain_text("Page 2")
    expect(table).to_contain_text("3.4.0")
    expect(table).not_to_contain_text("3.29.0")


def test_the_page_updates_in_place(stack: Stack, page: Page) -> None:
    page.goto(stack.web.ops_url + "/")
    page.evaluate("window.notReloaded = true")
    api = page.locator('#images-table tr[data-target="api/0"]')
    expect(api).not_to_contain_text("1.4.0")
    expect(page.locator("#polling")).to_contain_text("No repository is polled")
    expect(page.locator("#promotions")).to_contain_text("No digest seen yet")
    stack.push("1.4.0")
    # a poll's outcome, as the worker records it, comes in with the next update as well
    stack.redis.sadd(poll_state.WATCHED, "ghcr.io/acme/api")
    stack.redis.hset(poll_state.REPO + "ghcr.io/acme/api", mapping={"result": "ok", "caught": 1})
    # and a pipeline's digest (the running worker's promotion tick evaluates it again)
    record = {"tag": "3.1.0", "first_seen": time.time(), "statuses": []}
    PromotionStore(stack.redis).save_digests("db", {DB_DIGEST: record})
    expect(api).to_contain_text("1.4.0", timeout=40_000)
    expect(page.locator("#polling")).to_contain_text("ghcr.io/acme/api")
    row = page.locator(f'#promotions tr[data-digest="{DB_DIGEST}"]')
    expect(row).to_contain_text("3.1.0@sha256:dddd")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#live")).to_contain_text("updated")


def test_retry_needs_the_csrf_token_and_the_button_retries(stack: Stack, page: Page) -> None:
    [job_id] = _failed(stack)
    forged = requests.post(f"{stack.web.ops_url}/jobs/{job_id}/retry", timeout=10)
    assert forged.status_code == 403 and _failed(stack) == [job_id]
    stack.sim.commit_files(CONFIG_REPO, "main", {WEB_FILE: "image: ghcr.io/acme/web:2.0.0\n"})
    page.goto(stack.web.ops_url + "/")
    page.locator(f'#jobs-failed tr[data-job="{job_id}"]').get_by_role("button").click()
    expect(page.locator("#retry-result")).to_contain_text(f"job {job_id} is queued again")
    page.get_by_role("link", name="Back to the dashboard").click()
    web = page.locator('#images-table tr[data-target="web/0"]')
    expect(web).to_contain_text("merged", timeout=40_000)
    expect(web).to_contain_text("2.1.0")
    expect(page.locator("#jobs-failed")).not_to_contain_text(job_id)
    assert "ghcr.io/acme/web:2.1.0" in stack.file("main", WEB_FILE)
