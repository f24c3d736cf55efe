"""The chaos suite (``make chaos``, part of ``make test``): the real product on one machine
under faults, with its invariants checked after each scenario. See docs/scaling.md.

Not collected by pytest (no ``test_`` modules): it runs as ``python -m tests.chaos``.
"""
