"""Event hints: the event kind a webhook URL names (``/hooks/<receiver>?event=build_success``).

Some senders do not say in the body (or a header) which event fired: Quay's build manager
sends the same body for a build that started, succeeded or was cancelled, and lets a user
create one notification, with its own URL, per event. The URL's ``event`` query parameter is
then the only place the kind can come from. The web layer (and ``bumper explain-webhook
--query``) reads it here, the ``Sender`` checks it against the values its module allows
(``EVENT_HINTS``), and the parser reads it from the ``X-Bumper-Event-Hint`` context header,
which only the web layer sets.

A hint is bounded and validated before any parser sees it: at most one ``event`` parameter,
and only a value the sender allows; anything else is refused with a one-line 400
(``unknown-event-hint``), so that a mistyped URL is noticed at once in the sender's delivery
log instead of turning into silently ignored deliveries. Pure; no I/O.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from bumper.core.events import BuildStatus
from bumper.errors import WebhookRejected

EVENT_HINT_HEADER = "X-Bumper-Event-Hint"
EVENT_PARAMETER = "event"
MAX_QUERY = 2048
"""A longer query string is refused: no hook URL needs one (the request line is bounded too)."""
MAX_FIELDS = 20

OUTCOMES: dict[str, BuildStatus] = {
    "build_success": "success",
    "build_failure": "failure",
    "build_cancelled": "cancelled",
}
"""The hints that name a finished build's outcome, for senders whose body may not (Quay,
Buildkite, CDEvents ``build.finished``)."""


def from_query(query: str | None) -> str | None:
    """The ``event`` parameter of a URL's query string, or ``None`` when it has none.

    Raises ``WebhookRejected(400, "unknown-event-hint")`` for a query too long to be a hook
    URL's, or for more than one ``event`` parameter.
    """
    if not query:
        return None
    if len(query) > MAX_QUERY:
        raise _refused(f"the query string is longer than {MAX_QUERY} characters")
    try:
        values = parse_qs(query, max_num_fields=MAX_FIELDS).get(EVENT_PARAMETER, [])
    except ValueError:
        raise _refused(f"the query string has more than {MAX_FIELDS} parameters") from None
    if len(values) > 1:
        raise _refused("give at most one event= parameter")
    return values[0].strip() if values else None


def check(sender: str, allowed: frozenset[str], hint: str) -> str:
    """``hint`` if ``sender`` allows it; otherwise the one-line refusal naming what it allows."""
    if hint in allowed:
        return hint
    shown = repr(hint[:40])
    if not allowed:
        raise _refused(f"{sender} deliveries take no event hint (got event={shown})")
    known = ", ".join(sorted(allowed))
    raise _refused(f"event={shown} is not a {sender} event (known: {known})")


def _refused(message: str) -> WebhookRejected:
    return WebhookRejected(message, status=400, reason="unknown-event-hint")


def outcome(
    told: BuildStatus | None, hint: str | None, how: str
) -> tuple[BuildStatus, dict[str, str]]:
    """A finished build's status from what the body ``told`` (``None``: nothing) and the URL's
    ``hint``, with ``extra.ambiguous`` when they cannot settle it. Never a guessed success:
    neither saying anything, or a hint the body contradicts, is ``unknown`` with ``how`` (the
    URL to configure) as the reason, which the worker records as an ``ambiguous`` decision."""
    hinted = OUTCOMES.get(hint or "")
    if hinted is not None and told is not None and told != hinted:
        return "unknown", {"ambiguous": f"the URL says {hint} but the body says {told}; {how}"}
    status = hinted or told
    if status is None:
        return "unknown", {"ambiguous": how}
    return status, {}
