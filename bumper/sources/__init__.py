"""Webhook senders, one module each.

Every sender module exposes two pure functions over raw bytes:

- ``verify(headers, body, secret) -> None`` raises ``WebhookRejected`` (401/403) on bad auth;
- ``parse(headers, body) -> list[Event]`` raises ``WebhookRejected`` (400) on a malformed body.

``headers`` is a case-insensitive mapping (see ``Headers``). ``SENDERS`` maps the sender name
used in configuration and on the CLI to its module.
"""
