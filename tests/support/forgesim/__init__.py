"""Forge simulator for tests: GitHub REST + GitLab v4 subsets over real git smart HTTP.

``ForgeSim`` is the entry point (see ``sim.py``); the fixtures in ``fixtures.py`` start one per
test module. Test support only: never imported by ``bumper`` or ``worker``.
"""

from tests.support.forgesim.sim import DEFAULT_TOKEN, ForgeSim, LoggedRequest

__all__ = ["DEFAULT_TOKEN", "ForgeSim", "LoggedRequest"]
