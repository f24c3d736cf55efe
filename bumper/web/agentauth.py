"""Who may report to ``POST /agent/v1/reports``: the pull agents of bumper.yaml's ``agents``,
each with its own bearer token, bound once at start (as ``bumper.web.receivers`` binds the
receivers' secrets).

A token is resolved by ``bumper.secrets``; it must be at least 16 bytes (``bumper.core.strength``)
and shared with no receiver and no other agent, or the web process does not start
(a ``ConfigError`` naming the agent, never the value). A presented token is compared in
constant time with every agent's token. Tokens live only in ``AgentToken.token``, hidden from
its ``repr``; nothing here logs one.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bumper import secrets
from bumper.core import config as config_model
from bumper.core import strength
from bumper.errors import ConfigError
from bumper.web.receivers import ReceiverEndpoint


@dataclass(frozen=True)
class AgentToken:
    name: str
    token: bytes = field(repr=False)


def load_agents(
    cfg: config_model.BumperConfig,
    *,
    base: Path,
    receivers: Mapping[str, ReceiverEndpoint],
    environ: Mapping[str, str] | None = None,
) -> tuple[AgentToken, ...]:
    """Every configured agent with its token; a ``ConfigError`` at start for a token that is
    missing, short, or also a receiver's secret or another agent's token."""
    taken = {r.secret: f"receiver {name!r}" for name, r in receivers.items() if r.secret}
    agents: list[AgentToken] = []
    for item in cfg.agents:
        try:
            token = secrets.resolve(item.token, base=base, environ=environ)
        except ConfigError as error:
            raise ConfigError(f"agent {item.name!r}: {error}") from None
        try:
            strength.check(token, "report token")
        except ConfigError as error:
            raise ConfigError(f"agent {item.name!r}: {error}", reason="secret") from None
        if token in taken:
            raise ConfigError(
                f"agent {item.name!r}: its token is also the secret of {taken[token]}; "
                "give every agent and receiver its own"
            )
        taken[token] = f"agent {item.name!r}"
        agents.append(AgentToken(item.name, token.encode()))
    return tuple(agents)


def identify(header: str | None, agents: tuple[AgentToken, ...]) -> str | None:
    """The name of the agent whose token ``header`` (``Bearer <token>``) presents, or None.

    Every agent's token is compared, in constant time, whichever matches."""
    scheme, _, presented = (header or "").partition(" ")
    token = presented.strip().encode("utf-8", "surrogatepass")
    if scheme.lower() != "bearer" or not token:
        return None
    found = None
    for agent in agents:
        if hmac.compare_digest(token, agent.token):
            found = agent.name
    return found
