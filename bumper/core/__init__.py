"""The pure heart of Bumper.

Nothing in this package does I/O or imports flask, rq, redis, github, gitlab or kubernetes,
so every decision (reference grammar, YAML edits, policies, events) is unit-testable alone.
"""
