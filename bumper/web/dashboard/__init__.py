"""The dashboard, on the operations listener (``bumper.web.listeners``): server-rendered pages
that work without JavaScript, and a small script that refreshes each panel in place.

- ``views``: the routes (``/``, ``/panels/<name>``, ``/events/<delivery>``, the retry POST);
- ``model``: the read model, what each panel shows, from Redis and RQ;
- ``csrf``: the retry form's token.

What it shows is documented in docs/dashboard.md. It never shows a header, body or secret:
only names, tags, ids, times and one-line reasons, autoescaped by Jinja.
"""

from __future__ import annotations

from bumper.web.dashboard.views import blueprint

__all__ = ["blueprint"]
