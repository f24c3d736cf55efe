"""Every command README.md and docs/*.md show, and every ``EXAMPLES`` line of ``bumper COMMAND
--help``, runs against what ships, so examples cannot rot.

Each shell block runs in its own copy of the tracked files (blocks may edit files), as
tests/docs/blocks.py describes, with its markers: ``<!-- skip-test: REASON -->`` before a
block skips it, with that reason; ``<!-- quickstart -->`` hands it to
tests/e2e/test_quickstart.py, which runs it with ``make run`` up. The same rules are written
for doc writers in docs/architecture.md, "Writing docs".
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from bumper import cli
from tests.docs import blocks

ALL_BLOCKS = [block for page in blocks.pages() for block in blocks.blocks(page)]
SYNOPSIS = re.compile(r"\[--?[a-z]|\b[A-Z]{3,}\.\.\.")
RUN_HERE = [block for block in ALL_BLOCKS if block.marker is None]

# EXAMPLES lines that cannot run in a copy of the checkout, each with its reason.
EXAMPLES_NOT_RUN = {
    "bumper agent --config examples/agent.yaml --once": "needs a cluster (examples/agent.yaml "
    "is loaded below; tests/agent runs the agent against the test bed)",
    "bumper agent --config examples/agent.yaml": "needs a cluster, and runs until stopped",
    "bumper check-config bumper.yaml": "the operator's own bumper.yaml, where the processes run",
    "bumper log": "needs make run's Redis: run by tests/e2e/test_quickstart.py",
    "bumper log --image hello --limit 5": "needs make run's Redis: run by the quickstart test",
    "BUMPER_REDIS_URL=redis://redis:6379/0 bumper log --json": "names a deployment's Redis",
    "bumper log --jobs": "needs make run's Redis: run by tests/e2e/test_quickstart.py",
    "bumper explain-promotion ghcr.io/acme/api": "needs a pipeline's state in Redis: "
    "tests/promotion/test_explain_promotion.py runs it on the state the real flow leaves",
    "bumper explain-promotion api --limit 3": "needs a pipeline's state in Redis "
    "(tests/promotion/test_explain_promotion.py)",
    "bumper explain-promotion --file bumper.yaml ghcr.io/acme/api:1.2.0 --json": "the operator's "
    "bumper.yaml and Redis (tests/promotion/test_explain_promotion.py)",
    "bumper retry bump-api_0-3f2a1c-7": "needs a failed job: docs/dashboard.md's quickstart "
    "block retries one (tests/e2e/test_quickstart.py), tests/worker/test_retry.py more",
    "bumper run": "runs until Ctrl-C: tests/e2e/test_quickstart.py runs make run",
    "BUMPER_RUN__PORT=9090 bumper run": "runs until Ctrl-C (tests/cli/test_run_signals.py)",
    "bumper set-chart clusters/prod --chart oci://ghcr.io/acme/charts/api --version 2.0.0": (
        "a path in the operator's config repo (the first example runs the same command)"
    ),
    "bumper worker": "runs until stopped (tests/cli/test_worker_and_run.py)",
    "bumper worker --burst --log-level DEBUG": "needs Redis with queued jobs (tests/worker)",
    "bumper worker --alive-file /tmp/worker-alive": "runs until stopped (test_alive.py)",
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    for name in blocks.shipped_files():
        if name.startswith("tests/"):
            continue  # the suite itself: no page runs it, and it is most of the files
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blocks.REPO_ROOT / name, target)
    return root


@pytest.fixture
def checkout(shipped: Path, tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    shutil.copytree(shipped, root, symlinks=True)
    (root / ".venv").symlink_to(sys.prefix)  # the installed venv, as after `make install`
    return root


def environment(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    env["PATH"] = f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleave as in a terminal
    return env


def test_every_page_has_blocks_and_every_skip_a_reason() -> None:
    assert len(ALL_BLOCKS) >= 10, [block.name for block in ALL_BLOCKS]
    for block in ALL_BLOCKS:
        if block.marker == "skip-test":
            assert len(block.argument.split()) >= 3, f"{block.name}: skip-test without a reason"
    background = [b for b in ALL_BLOCKS if b.marker == "quickstart" and b.argument]
    assert [(b.page, b.argument, b.text.split()[:2]) for b in background] == [
        ("README.md", "background", ["make", "run"])
    ]


def test_a_block_may_not_be_a_bare_synopsis() -> None:
    """Usage synopses (``[--flag]``, ``PATH...``) are fenced as ``text``: they cannot run."""
    for block in ALL_BLOCKS:
        if block.marker != "skip-test":
            assert not SYNOPSIS.search(block.text), (
                f"{block.name}: a synopsis in a shell block; fence it as text or show a command"
            )


@pytest.mark.parametrize("block", RUN_HERE, ids=[block.name for block in RUN_HERE])
def test_the_block_runs_as_shown(block: blocks.Block, checkout: Path) -> None:
    env = environment(checkout)
    for step in blocks.steps(block):
        code, output = blocks.run(step, checkout, env)
        failure = blocks.check(step, code, output)
        assert failure is None, f"{block.name}: {step.command}{failure}"
        assert "Traceback" not in output


def cli_examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    parser = cli.build_parser()
    for command, sub in sorted(parser._subparsers._group_actions[0].choices.items()):  # type: ignore[union-attr]
        text = (sub.epilog or "").split("examples:\n", 1)[-1]
        lines = [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]
        found += [(command, line.split("  #")[0].strip()) for line in lines]
    return found


CLI_EXAMPLES = cli_examples()


@pytest.mark.parametrize(
    ("command", "line"), CLI_EXAMPLES, ids=[example for _, example in CLI_EXAMPLES]
)
def test_each_help_example_runs_or_says_why_not(
    command: str, line: str, request: pytest.FixtureRequest
) -> None:
    if line in EXAMPLES_NOT_RUN:
        pytest.skip(EXAMPLES_NOT_RUN[line])
    checkout: Path = request.getfixturevalue("checkout")
    code, output = blocks.run(blocks.Step(line, None), checkout, environment(checkout))
    assert code == 0, f"bumper {command} --help shows `{line}`, which fails:\n{output}"
    assert "Traceback" not in output


def test_the_examples_agent_config_loads() -> None:
    from bumper.agent import config

    loaded = config.load({}, blocks.REPO_ROOT / "examples" / "agent.yaml")
    assert loaded.repo_url == "https://github.com/acme/platform-config"


def test_every_skipped_example_still_exists() -> None:
    assert set(EXAMPLES_NOT_RUN) <= {line for _, line in CLI_EXAMPLES}


TEST_PATH = re.compile(r"\btests/[\w/.*-]*\w")


def test_every_test_a_skip_reason_names_still_exists() -> None:
    """A reason that points at the test doing the work must point at a file that is there:
    the list cannot rot into naming tests that moved (as tests/cli/test_retry*.py did)."""
    reasons = [*EXAMPLES_NOT_RUN.values()]
    reasons += [block.argument for block in ALL_BLOCKS if block.marker == "skip-test"]
    named = {path for reason in reasons for path in TEST_PATH.findall(reason)}
    assert named, "no reason names a test: the pattern is wrong"
    missing = sorted(path for path in named if not list(blocks.REPO_ROOT.glob(path)))
    assert missing == []
