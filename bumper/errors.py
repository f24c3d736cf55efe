"""Bumper's error tree: every error Bumper raises on purpose, defined here and only here.

Every error carries a short ``reason`` slug for metrics, logs and HTTP replies. Callers show
``reason`` and ``str(error)`` to users, never a traceback, and never a secret: messages are
written so that they cannot contain one. This module imports nothing from Bumper, so every
layer (``bumper.core`` and ``bumper.sources`` included) may raise these. ``docs/errors.md``
has the same tree and the HTTP status of every failure at the receivers and the agent.

    BumperError
    ├── ConfigError          bad bumper.yaml, settings or secret; fix the config, never retried
    ├── WebhookRejected      a delivery we refuse; ``status`` is the HTTP code (400/401/403/413/415)
    ├── InvalidReference     text that is not an image reference, tag or digest
    ├── PermanentError       a job that can never succeed as asked; fails visibly, never retried
    │   ├── EditRefused      a YAML edit that cannot be made safely
    │   └── PathEscape       a path that would leave the checkout
    ├── TransientError       a job that may succeed later; retried after ``delay`` seconds
    ├── GitError             a git command failed; ``reason`` says whether retrying can help
    │   ├── PushRejected     the remote branch moved under our push (a race: retried)
    │   └── PushRefused      the remote refused the push: a hook, a protected branch, no right
    ├── KubeApiError         the Kubernetes API server refused a request (not retryable)
    ├── ManifestError        a rendered document that cannot be applied
    ├── RenderError          the manifests of a commit could not be rendered
    ├── ApplyError           the render could not be applied to the cluster
    ├── SignatureError       a commit not signed by an allowed key
    ├── ParseLimitExceeded   YAML/JSON over the parse limits (size, documents, nodes, aliases)
    └── NotRetryable         a job asked to retry that is unknown, not failed, or dead-lettered

Who raises what, what it means for an HTTP client, and whether it is retried:

``ConfigError`` (``config``)
    Invalid configuration: ``bumper.yaml`` (``bumper.core.config``), settings, a receiver
    secret in the wrong form (``bumper.sources`` ``check_secret``, ``bumper.web.receivers``),
    the agent's config, key or trust files (``bumper.agent``). Found at start-up: the process
    does not start and the CLI exits 2. In a worker job it fails the job. Never retried.
``WebhookRejected`` (the sender's reason, e.g. ``bad-signature``, ``malformed``)
    A webhook delivery refused, at a receiver (``bumper.sources``, ``bumper.web.hooks``) or at
    the agent's ``/hooks/git`` (``bumper.agent.trigger``). ``status`` is the reply: 400 malformed
    body, 401 credential missing, 403 credential present but wrong, stale or forged, 413 body
    too large, 415 not JSON. The sender decides whether to resend; Bumper does not retry.
``InvalidReference`` (``invalid-reference``)
    Text that is not a valid image name, reference, tag or digest (``bumper.core.refs``).
    Callers decide what it means: a config value becomes a ``ConfigError``, a webhook field
    becomes ``None``, a YAML value is left alone, ``bumper set-image`` exits 2. No HTTP status
    of its own; never retried.
``PermanentError`` (``permanent``, or the cause: ``http_404``, ``git``, ...)
    A worker job that retrying cannot fix (``worker``, ``bumper.scm`` for forge 4xx replies,
    ``bumper.gitrepo``). The job fails visibly with its reason in ``job.meta["failure"]``.
``EditRefused`` (``edit-refused``), a ``PermanentError``
    An image edit ``bumper.core.yaml.editor`` will not make: no tag or digest field to write,
    overlapping edits, or a result that no longer parses or verifies. Nothing is written.
``PathEscape`` (``path-escape``), a ``PermanentError``
    A path that would leave a checkout (``..``, absolute, ``.git``, a symlink), from
    ``bumper.gitrepo``. Nothing is read or written there.
``TransientError`` (``transient``, or the cause: ``rate_limited``, ``git-timeout``, ...)
    A failure that may pass later: a forge or API server outage, a rate limit, a git network
    error. A worker job is retried after at least ``delay`` seconds (with backoff, up to
    ``retry_max`` times, then it becomes a ``PermanentError``); the agent tries its next pass
    sooner and does not mark the commit failed.
``GitError`` (``git-transient``, ``git-permanent``)
    A git command run by ``bumper.gitrepo`` failed; its output, with credentials scrubbed, is
    the message. ``gitrepo.as_job_error`` turns it into a ``TransientError`` (retried after
    5 s) or, for ``git-permanent`` (authentication, missing repository), a ``PermanentError``.
``PushRejected`` (``push-rejected``), a ``GitError``
    The remote refused a push because the branch moved (git says ``non-fast-forward``,
    ``fetch first``, ``stale info``, or the server lost a ref-lock race); ``cause`` names which.
    ``bumper.gitrepo`` re-fetches, re-applies the edit and pushes again; when that keeps
    failing it is retried as a ``TransientError`` (``push-race``).
``PushRefused`` (``push-refused``), a ``GitError``
    The remote refused the push for a reason a retry cannot change: a pre-receive or update
    hook declined it, the branch is protected, the credentials may not push. The message holds
    git's status and the hook's own words (one line, credentials scrubbed).
    ``gitrepo.as_job_error`` makes it a ``PermanentError`` (``push-refused``): the job fails
    after one attempt.
``KubeApiError`` (``api``)
    A reply from the Kubernetes API server that retrying will not change (``bumper.agent.kube``;
    429 and 5xx replies are retried inside the client and end as ``TransientError``).
    ``status`` is the API server's HTTP code and ``api_reason`` its ``Status.reason``. The
    agent reports the pass as failed and tries again on its next pass.
``ManifestError`` (``manifest``)
    A rendered document the agent cannot apply: not a Kubernetes object, an object declared
    twice (``bumper.agent.manifests``). The whole render is refused; nothing is applied.
``RenderError`` (``render``)
    Rendering a commit's manifests failed: plain YAML, Helm or Kustomize
    (``bumper.agent.render``). Nothing from that commit is applied; the agent reports the
    commit as failed and tries again on its next pass.
``ApplyError`` (``apply``)
    The render could not be applied (``bumper.agent.apply``): the server's dry run refused
    objects (``failures`` maps each to the server's reason), or an object lies outside the
    agent's namespace. The agent reports the commit as failed and tries again on its next
    pass. (A rollback follows failed *health*, not an ``ApplyError``.)
``SignatureError`` (``signature``)
    The commit to deploy is not signed, or not by an allowed key (``bumper.agent.source``).
    It is never applied; the agent reports it and waits for a new commit.
``ParseLimitExceeded`` (``parse-limit``)
    A YAML or JSON file from a config repo (or a rendered stream) over the limits of
    ``bumper.core.yaml.limits``: size, documents, nodes, alias expansion (an alias bomb),
    nesting depth. Checked while streaming, before anything is built, so memory stays bounded.
    Callers name the file: the agent refuses the render (``RenderError``, nothing applied),
    the worker fails the bump (``PermanentError``), ``bumper scan``/``set-image`` skip the file
    with the reason, ``bumper check-config`` reports it. Never retried: fix the file.
``NotRetryable`` (``not-retryable``)
    ``bumper retry ID`` or the dashboard's Retry button named a job that cannot run again
    (``worker.retry``): unknown or expired, not in the failed registry, or dead-lettered (a
    refused job). Nothing is queued; the CLI exits 2, the dashboard shows the one line.
"""

from __future__ import annotations

from collections.abc import Sequence


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


class InvalidReference(BumperError):
    """The text is not a valid image reference (or tag, or digest); ``str()`` says why."""

    reason = "invalid-reference"


class PermanentError(BumperError):
    """A job failure that retrying cannot fix."""

    reason = "permanent"


class EditRefused(PermanentError):
    """An edit that cannot be made safely; ``str()`` says why."""

    reason = "edit-refused"


class PathEscape(PermanentError):
    """A path that would leave the checkout (``..``, absolute, ``.git`` or a symlink)."""

    reason = "path-escape"


class TransientError(BumperError):
    """A job failure that may pass later; ``delay`` is the suggested wait in seconds."""

    reason = "transient"

    def __init__(self, message: str, *, delay: float = 60.0, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay


class GitError(BumperError):
    """A git command failed; ``reason`` says how (``push-rejected``, ``git-permanent``, ...)."""

    reason = "git"


class PushRejected(GitError):
    """The remote refused the push because its branch moved (someone else pushed first);
    ``cause`` is git's word for it (``non-fast-forward``, ``fetch-first``, ``stale-info``)."""

    reason = "push-rejected"

    def __init__(self, message: str, *, cause: str = "non-fast-forward") -> None:
        super().__init__(message)
        self.cause = cause


class PushRefused(GitError):
    """The remote refused the push for good: a hook declined it, a protected branch, no right."""

    reason = "push-refused"


class KubeApiError(BumperError):
    """A non-retryable answer from the Kubernetes API server; ``status`` is the HTTP code."""

    reason = "api"

    def __init__(self, message: str, *, status: int, api_reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.api_reason = api_reason


class ManifestError(BumperError):
    """A rendered document that cannot be applied; the render as a whole is refused."""

    reason = "manifest"


class RenderError(BumperError):
    """The render failed; nothing from this commit may be applied."""

    reason = "render"


class ApplyError(BumperError):
    """The render could not be applied; ``failures`` maps objects to the server's reason."""

    reason = "apply"

    def __init__(self, message: str, failures: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


class SignatureError(BumperError):
    """The commit is not signed by an allowed key; it must not be applied."""

    reason = "signature"


class ParseLimitExceeded(BumperError):
    """YAML or JSON over the parse limits (``bumper.core.yaml.limits``); ``str()`` says which."""

    reason = "parse-limit"


class NotRetryable(BumperError):
    """The job cannot be retried: unknown, not failed, or dead-lettered (``worker.retry``)."""

    reason = "not-retryable"
