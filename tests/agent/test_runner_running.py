"""The pull loop's ``running`` reports (``Agent._report_running``): observed after a new
commit, again while an entry is not ready, else at most every ``RUNNING_EVERY`` seconds; an
observation that fails costs a log line, never the loop. The engine's observation is replaced
by a recorder (the real one is tests/agent/test_running*.py and the real-node E2E); the
reporter is the real one, posting to a local receiver."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bumper.agent import kube, runner
from bumper.agent import source as git
from bumper.agent.config import AgentConfig
from bumper.agent.reporter import Reporter

ENTRY = {
    "namespace": "apps", "kind": "Deployment", "name": "api", "container": "api",
    "repository": "r.example/acme/api", "tag": "1.1.0", "digest": "sha256:" + "a" * 64,
    "ready": True, "commit": "c" * 40,
}  # fmt: skip


class Observed:
    """Stands in for ``Engine.running``: returns ``entries`` or raises ``error``."""

    def __init__(self) -> None:
        self.calls = 0
        self.entries: list[dict[str, Any]] = [ENTRY]
        self.error: Exception | None = None

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return [dict(e) for e in self.entries]


@pytest.fixture
def agent(tmp_path: Path) -> tuple[runner.Agent, Observed, Reporter]:
    cfg = AgentConfig(repo_url="https://git.example/config.git", cache_dir=tmp_path / "cache")
    client = kube.Client(kube.Connection("http://127.0.0.1:9"), retry_for=0)
    source = git.GitSource(url=cfg.repo_url, branch="main", cache=tmp_path / "git")
    reporter = Reporter("http://127.0.0.1:9", "token-0123456789abcdef")
    agent = runner.Agent(cfg, client, source, state_namespace="agent", reporter=reporter)
    observed = Observed()
    agent.engine.running = observed  # type: ignore[method-assign]
    agent.engine.status.commit = "c" * 40
    return agent, observed, reporter


def test_observed_after_a_new_commit_while_not_ready_and_when_stale(
    agent: tuple[runner.Agent, Observed, Reporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, observed, reporter = agent
    sent: list[list[dict[str, Any]]] = []
    monkeypatch.setattr(reporter, "running", sent.append)
    loop._report_running()
    assert observed.calls == 1 and sent == [[ENTRY]]
    loop._report_running()  # same commit, all ready, fresh: a quiet pass reads no pods
    assert observed.calls == 1
    loop.engine.status.commit = "d" * 40  # a new commit
    observed.entries = [{**ENTRY, "ready": False}]
    loop._report_running()
    loop._report_running()  # still not ready: read again
    assert observed.calls == 3 and sent[-1][0]["ready"] is False
    observed.entries = [ENTRY]
    loop._report_running()  # ready now; then quiet until stale
    loop._report_running()
    assert observed.calls == 4
    monkeypatch.setattr(loop, "_running_at", loop._running_at - runner.RUNNING_EVERY)
    loop._report_running()
    assert observed.calls == 5 and len(sent) == 5


def test_a_failing_observation_costs_a_log_line_not_the_loop(
    agent: tuple[runner.Agent, Observed, Reporter], caplog: pytest.LogCaptureFixture
) -> None:
    loop, observed, _ = agent
    observed.error = KeyError("spec")
    with caplog.at_level(logging.WARNING, logger="bumper.agent"):
        loop._report_running()  # does not raise
    assert any("running: not observed" in r.getMessage() for r in caplog.records)
