"""Hostile YAML a config-repo writer could commit, for the parse-limit tests and bench.

``alias_bomb()`` is the classic "billion laughs" as a Kubernetes ConfigMap: about 600 bytes
whose nine levels of nine aliases stand for 9**9 (387 million) strings once expanded.
"""

from __future__ import annotations

LEVELS = 9
WIDTH = 9


def alias_bomb(name: str = "lol", image: str = "ghcr.io/acme/api:1.0") -> str:
    """A ConfigMap whose ``data.bomb`` list expands to WIDTH**LEVELS scalars, and which
    mentions ``image`` (so the worker's cheap screen does not pass it by)."""
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {name}",
        f"  annotations: {{example.com/image: '{image}'}}",
        "data:",
        "  l0: &l0 [" + ",".join(['"lol"'] * WIDTH) + "]",
    ]
    for level in range(1, LEVELS):
        lines.append(f"  l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * WIDTH) + "]")
    lines.append(f"  bomb: [{','.join([f'*l{LEVELS - 1}'] * WIDTH)}]")
    return "\n".join(lines) + "\n"
