"""The dashboard in a real headless browser: Debian's ``chromium`` (installed by ``make test``,
``make browser``), driven by Playwright for Python through ``executable_path``; Playwright's own
browser download is never used.

Without chromium the tests skip, saying why; under ``make test`` (``BUMPER_TESTBED_REQUIRED=1``)
they fail instead. A failing test saves a screenshot of its page in its tmp dir and names it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    path = shutil.which(CHROMIUM)
    if path is None:
        why = "Debian's chromium is not installed (make browser installs it)"
        if os.environ.get("BUMPER_TESTBED_REQUIRED") == "1":
            pytest.fail(why)
        pytest.skip(why)
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where chromium's sandbox refuses to start
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's page, saved while it is still open, named in the report."""
    report = yield
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    opened = funcargs.get("page")
    if report.when == "call" and report.failed and isinstance(opened, Page):
        shot = Path(str(funcargs["tmp_path"])) / "failure.png"
        try:
            opened.screenshot(path=str(shot), full_page=True)
            report.sections.append(("screenshot", f"the failing page: {shot}"))
        except Exception as error:  # the browser may be what failed
            report.sections.append(("screenshot", f"none: {type(error).__name__}: {error}"))
    return report


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()
