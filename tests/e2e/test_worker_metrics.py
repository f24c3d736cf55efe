"""The acceptance of issue 15 items 2-3, end to end: two real ``bumper worker`` processes and a
gunicorn web process with two workers, a real Redis, the forge simulator (GitHub).

- A bump shows the worker's series on the web's ``/metrics`` (jobs, durations, forge requests
  and rate limit, bumps by rule, queues and registries), the same whichever gunicorn worker
  answers.
- A webhook whose push the config repo's pre-receive hook refuses ends as a permanent failure
  after one attempt, with the hook's words in ``job.meta["failure"]``, in ``bumper log`` and
  in the metrics, and on the dashboard's failed-jobs panel (fetched over HTTP from the
  ops listener, as a browser without JavaScript does).
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker
from rq.registry import FailedJobRegistry

from bumper import rqjobs
from tests.e2e.stack import CONFIG_REPO, DEPLOY, REPO_ROOT, START, Stack, repo_block
from tests.e2e.test_flows import image_rule, open_prs
from tests.support.child_processes import die_with_parent
from tests.support.forgesim import ForgeSim
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(150)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
HOOK = "#!/bin/sh\necho 'GH006: Protected branch update failed: reviews required.'\nexit 1\n"


@pytest.fixture
def stack(tmp_path: Path, redis_server: RedisServer, forgesim: ForgeSim) -> Iterator[Stack]:
    forgesim.create_repo(CONFIG_REPO, {DEPLOY: START})
    built = Stack(
        tmp_path, redis_server, forgesim, repo_block(forgesim, "github") + image_rule("pr")
    )
    built.web = GunicornServer(tmp_path / "web", built.env, workers=2)
    built.start()
    second = subprocess.Popen(
        [sys.executable, "-m", "bumper", "worker", "--name", "second"],
        cwd=REPO_ROOT,
        env={**os.environ, **built.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        yield built
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
        built.stop()


def scrape(stack: Stack) -> Samples:
    with urllib.request.urlopen(f"{stack.web.ops_url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def failed_rows(stack: Stack, path: str) -> dict[str, str]:
    """The failed-jobs table of the dashboard page at ``path``: job id -> the row's text."""
    with urllib.request.urlopen(f"{stack.web.ops_url}{path}", timeout=10) as reply:
        page = reply.read().decode()
    table = page.split('<table id="jobs-failed">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-job="([^"]+)">(.*?)</tr>', table, re.S)
    return {job: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for job, row in rows}


def worker_series(samples: Samples) -> Samples:
    """The series the bump wrote: not the queue gauges or scheduled jobs' counters (a polling
    or promotion tick may run between two scrapes and move them)."""
    prefixes = ("bumper_worker_", "bumper_forge_", "bumper_bumps", "bumper_git_")
    return {
        key: v
        for key, v in samples.items()
        if key[0].startswith(prefixes) and dict(key[1]).get("type") in (None, "bump", "event")
    }


def test_worker_series_after_a_bump_and_a_push_the_hook_refuses(
    stack: Stack, forgesim: ForgeSim
) -> None:
    bumps = rqjobs.bump_queue_name(stack.queue)
    host = forgesim.github_api_url.split("://", 1)[1].split("/", 1)[0]
    stack.wait("two workers", lambda: Worker.count(connection=stack.redis) == 2)

    stack.push("1.3.0")
    stack.wait("the PR", lambda: open_prs(stack))
    done = stack.wait(
        "the bump counted",
        lambda: (
            (s := scrape(stack))
            and value(s, "bumper_worker_jobs_total", type="bump", outcome="succeeded")
            and s
        ),
    )
    assert value(done, "bumper_worker_jobs_total", type="event", outcome="succeeded") == 1.0
    assert value(done, "bumper_worker_jobs_total", type="bump", outcome="succeeded") == 1.0
    count = "bumper_worker_job_duration_seconds_count"
    assert value(done, count, type="bump", outcome="succeeded") == 1.0
    inf = value(
        done,
        "bumper_worker_job_duration_seconds_bucket",
        type="bump",
        outcome="succeeded",
        le="+Inf",
    )
    assert inf == 1.0
    assert value(done, "bumper_bumps_total", rule="api", result="pr") == 1.0
    statuses = {
        dict(labels)["status"]: v
        for (name, labels), v in done.items()
        if name == "bumper_forge_requests_total" and dict(labels)["host"] == host
    }
    assert statuses.get("200", 0) + statuses.get("201", 0) >= 2, statuses  # find + open the PR
    remaining = value(done, "bumper_forge_rate_limit_remaining", forge="github", host=host)
    assert remaining is not None and 0 < remaining < 5000
    for queue in (stack.queue, bumps):
        assert value(done, "bumper_queue_depth", queue=queue) == 0.0
        for state in ("started", "scheduled", "deferred", "failed"):
            assert value(done, "bumper_queue_jobs", queue=queue, state=state) is not None
    assert value(done, "bumper_redis_up") == 1.0
    # two gunicorn workers: whichever answers shows the same worker series
    assert len(worker_series(done)) >= 5
    assert all(worker_series(scrape(stack)) == worker_series(done) for _ in range(4))

    hook = forgesim.repo(CONFIG_REPO).git.path / "hooks" / "pre-receive"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    stack.push("1.4.0")
    failed = stack.wait(
        "the refused push counted",
        lambda: (
            (s := scrape(stack))
            and value(s, "bumper_worker_job_failures_total", type="bump", reason="push-refused")
            # RQ moves the job to its failed registry after the worker counted the failure
            and value(s, "bumper_queue_jobs", queue=bumps, state="failed")
            and s
        ),
    )
    assert value(failed, "bumper_worker_jobs_total", type="bump", outcome="failed") == 1.0
    assert value(failed, "bumper_worker_jobs_total", type="bump", outcome="retrying") is None
    assert value(failed, "bumper_queue_jobs", queue=bumps, state="failed") == 1.0

    registry = FailedJobRegistry(bumps, connection=stack.redis)
    [job_id] = registry.get_job_ids(cleanup=False)
    job = rqjobs.BumperJob.fetch(job_id, connection=stack.redis)
    assert job.meta["failure"]["reason"] == "push-refused"
    assert job.meta["failure"]["permanent"] is True
    assert (
        "GH006: Protected branch update failed: reviews required." in job.meta["failure"]["message"]
    )
    assert not job.number_of_retries and "retry" not in job.meta  # one attempt, no retry

    shown = subprocess.run(
        [sys.executable, "-m", "bumper", "log", "--jobs", "--json"],
        cwd=REPO_ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    [entry] = json.loads(shown.stdout)
    assert entry["job_id"] == job_id and entry["state"] == "failed"
    assert entry["reason"] == "push-refused" and "GH006" in entry["message"]
    assert "Traceback" not in shown.stderr
    # the dashboard: the full page and the panel its script fetches
    for path in ("/", "/panels/jobs"):
        rows = failed_rows(stack, path)
        assert list(rows) == [job_id], rows
        assert "push-refused (permanent)" in rows[job_id]
        assert "GH006: Protected branch update failed" in rows[job_id]
    # plain `bumper log` lists it after the decisions
    plain = subprocess.run(
        [sys.executable, "-m", "bumper", "log"],
        cwd=REPO_ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode == 0 and "Traceback" not in plain.stderr, plain.stderr
    [line] = [line for line in plain.stdout.splitlines() if job_id in line]
    assert "push-refused" in line
    assert "1.3.0" in open_prs(stack)[0].title  # the PR was not touched by the refused push
