"""Bumper's one registry client: the OCI distribution API, for the registries of bumper.yaml's
``registries:`` block only.

- ``challenge``: ``WWW-Authenticate`` parsing (pure, bounded);
- ``client``: ``RegistryClient`` (tags list with pagination, manifest ``HEAD`` for digests, the
  image config's revision label; anonymous, basic and bearer-token auth; ``Retry-After`` and
  ``RateLimit-*``; bounded bodies, timeouts, no credentials on a redirect to another host);
- ``signatures``: cosign signatures of a digest (the ``sha256-<hex>.sig`` tag and OCI
  referrers), read for ``bumper.core.signatures`` to judge;
- ``state``: what polling keeps in Redis, and ``poll_status`` that the dashboard reads.

Must not: call a registry that has no ``registries:`` entry (callers look the entry up with
``BumperConfig.registry(host)``; nothing here takes a URL from a payload), put a credential in
a log line, an error message or a process argument. Importing this package imports neither
``requests`` nor ``redis``: the web process imports only ``state``.
"""
