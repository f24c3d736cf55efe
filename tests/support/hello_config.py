"""The "hello" setup the CLI tests edit: one image rule writing ``apps/hello.yaml`` in a repo
named ``config``, and that file committed in a plain local git repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

HELLO_RULE = """\
images:
  - name: hello
    image: registry.example.com/acme/hello
    policy: {semver: ">=1.0.0"}
    targets:
      - repo: config
        paths: ["apps/hello.yaml"]
        mode: commit
"""


def commit_hello(repo: Path, content: str) -> None:
    """Write apps/hello.yaml in the plain git repo ``repo`` (created if need be), committed."""
    (repo / "apps").mkdir(parents=True, exist_ok=True)
    (repo / "apps" / "hello.yaml").write_text(content)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "edit"], check=True)
