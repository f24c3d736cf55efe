"""Two listeners, one process: the public one (webhooks) and the operations one (introspection).

Promise: what shows receivers, images, repos, SHAs, queue depth or counters (the dashboard,
``/metrics``, the detailed ``/readyz``, and whatever joins ``bumper.web.ops``) is answered only
on connections accepted on ``BUMPER_WEB__OPS_BIND`` (loopback by default). On the public
listener those URLs are unknown: 404, like any other. The public listener keeps ``/hooks``,
the agents' ``/agent/v1/reports`` and the probes, which reveal nothing but up/ready.

How: gunicorn binds both addresses (``gunicorn_conf``) and every connection reaches the one
WSGI app ``create_app`` returns. ``install`` puts ``dispatch`` in front of it: a connection
whose socket's *local* address is the ops listener's port (or unix socket path) goes to the
ops Flask app, anything else to the public one. The local address comes from the accepted
socket (gunicorn's ``environ["gunicorn.socket"]``), which a client cannot choose, unlike
``Host`` (from which gunicorn derives ``SERVER_PORT`` for unix sockets). A request without that
socket (the Flask test client, another WSGI server) is public: the safe default.

Why a second bind rather than a second small server: the same workers, settings, secrets and
Redis pool serve both, the Prometheus multiprocess files are already per worker, and there is
no further process for ``bumper run``, the Procfile or a chart to supervise. The cost: both
listeners share gunicorn's workers, so whatever protects the public listener from slow clients
protects the ops listener too, and nothing more.

Must not: import the views; it only routes a request to one of two apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from bumper.settings import listen_address

_OPS_APP = "bumper.ops_app"


def install(public: Flask, ops: Flask, ops_bind: str) -> None:
    """Serve ``ops`` to connections accepted on ``ops_bind`` (empty: to none), ``public``
    to every other."""
    public.extensions[_OPS_APP] = ops
    if not ops_bind:
        return
    wanted = listen_address(ops_bind)
    public_app: Callable[..., Iterable[bytes]] = public.wsgi_app
    ops_app: Callable[..., Iterable[bytes]] = ops.wsgi_app

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _local_address(environ) == wanted:
            return ops_app(environ, start_response)
        return public_app(environ, start_response)

    public.wsgi_app = dispatch  # type: ignore[method-assign]


def ops_app(public: Flask) -> Flask:
    """The operations app ``install`` attached to ``public`` (for tests and tools)."""
    app = public.extensions[_OPS_APP]
    assert isinstance(app, Flask)
    return app


def _local_address(environ: dict[str, Any]) -> int | str | None:
    """The port (TCP) or path (unix socket) the connection was accepted on; None if unknown."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return None
    try:
        local = sock.getsockname()
    except OSError:
        return None
    return address_of(local)


def address_of(local: object) -> int | str | None:
    """A socket's local address as ``listen_address`` gives it: the port (TCP) or the path."""
    if isinstance(local, tuple):
        return int(local[1])
    if isinstance(local, bytes):
        return local.decode(errors="replace")
    return local if isinstance(local, str) else None
