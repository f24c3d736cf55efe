"""Bumper: carries a freshly built container image into a running cluster, through Git."""

__version__ = "0.1.0"
