"""Bumper's error tree. Every error carries a short ``reason`` slug for metrics and HTTP replies.

    BumperError
    ├── ConfigError          bad bumper.yaml or settings; fix the config, retrying will not help
    ├── WebhookRejected      a delivery we refuse; ``status`` is the HTTP code (400/401/403/413/415)
    ├── PermanentError       a job that can never succeed as asked; fails visibly, never retried
    └── TransientError       a job that may succeed later; retried after ``delay`` seconds

Callers show ``reason`` and ``str(error)`` to users, never a traceback, and never a secret:
messages are written so that they cannot contain one.
"""

from __future__ import annotations


class BumperError(Exception):
    """Base of every error Bumper raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(BumperError):
    """Invalid configuration. ``path`` locates the problem inside the file when known."""

    reason = "config"

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.path = path


class WebhookRejected(BumperError):
    """A webhook delivery refused with an HTTP status and a reason the sender can read."""

    reason = "rejected"

    def __init__(self, message: str, *, status: int = 400, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class PermanentError(BumperError):
    """A job failure that retrying cannot fix."""

    reason = "permanent"


class TransientError(BumperError):
    """A job failure that may pass later; ``delay`` is the suggested wait in seconds."""

    reason = "transient"

    def __init__(self, message: str, *, delay: float = 60.0, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay
