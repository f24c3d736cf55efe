"""Benchmarks, run as modules from the repository root (``python -m bench.ingest``), so
``bumper`` and the test support in ``tests`` import without path edits."""
