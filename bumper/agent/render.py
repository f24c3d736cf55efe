"""Turn a checkout into a list of manifests: a plain YAML tree, kustomize, or ``helm template``.

Any failure raises ``RenderError`` with a one-line reason, and the caller applies nothing.
Paths given in the config are confined to the checkout (no ``..`` or symlink escapes).
Nothing is fetched from the network unless allowed (``RenderSpec.allowed_remotes``, see
``remote``): remote references are refused before a tool runs, and the tools run in an
environment that cannot fetch. This module runs tools and reads files; it never talks to the
cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bumper.agent import manifests, remote
from bumper.errors import ManifestError, RenderError

Mode = Literal["plain", "kustomize", "helm"]
YAML_SUFFIXES = (".yaml", ".yml", ".json")
# Files that describe how to render, not objects to apply, even in a plain tree.
NOT_MANIFESTS = frozenset(
    {"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml", "values.yaml"}
)
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RenderSpec:
    mode: Mode = "plain"
    paths: tuple[str, ...] = (".",)
    helm_release: str = "release"
    helm_namespace: str | None = None
    helm_values: tuple[str, ...] = ()
    helm_bin: str = "helm"
    kustomize_bin: str | None = None
    timeout: float = 120.0
    env: dict[str, str] = field(default_factory=dict)
    # URL prefixes kustomize and helm may fetch from (``remote.allowed``); empty: none.
    allowed_remotes: tuple[str, ...] = ()


def render(root: Path, spec: RenderSpec) -> list[manifests.Obj]:
    """All objects under ``root`` per ``spec``, validated and in render order."""
    objs: list[manifests.Obj] = []
    with tempfile.TemporaryDirectory(prefix="bumper-render-") as scratch:
        env = remote.tool_env(Path(scratch), spec.allowed_remotes)
        for rel in spec.paths:
            where = confined(root, rel)
            if not where.exists():
                raise RenderError(f"path {rel!r} does not exist in the commit")
            if spec.mode == "plain":
                objs.extend(_plain(root, where))
            elif spec.mode == "kustomize":
                objs.extend(_parse(_kustomize(root, where, spec, env), rel))
            else:
                objs.extend(_parse(_helm(root, where, spec, env), rel))
    try:
        return manifests.validate(objs)
    except ManifestError as error:
        raise RenderError(str(error)) from error


def confined(root: Path, rel: str) -> Path:
    """``root/rel`` resolved, refusing anything that ends up outside ``root``."""
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise RenderError(f"path {rel!r} leaves the repository")
    return target


def _plain(root: Path, where: Path) -> list[manifests.Obj]:
    files = [where] if where.is_file() else sorted(_walk(where))
    objs: list[manifests.Obj] = []
    for path in files:
        rel = path.relative_to(root.resolve()).as_posix()
        confined(root, rel)  # a symlinked file must not point outside either
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RenderError(f"{rel}: cannot read: {error}") from error
        objs.extend(_parse(text, rel))
    return objs


def _walk(where: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(where):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(YAML_SUFFIXES) and name not in NOT_MANIFESTS:
                if not name.startswith("."):
                    found.append(Path(dirpath) / name)
    return found


def _parse(text: str, source: str) -> list[manifests.Obj]:
    try:
        docs = list(yaml.load_all(text, Loader=Loader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise RenderError(f"{source}:{where}: {problem}") from error
    try:
        return manifests.validate(docs, source=source)
    except ManifestError as error:
        raise RenderError(str(error)) from error


def _run(argv: Sequence[str], cwd: Path, spec: RenderSpec, env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=spec.timeout,
            env={**os.environ, **env, **spec.env},
            check=False,
        )
    except FileNotFoundError as error:
        raise RenderError(f"{argv[0]} is not installed") from error
    except subprocess.TimeoutExpired as error:
        raise RenderError(f"{argv[0]} took longer than {spec.timeout:g}s") from error
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise RenderError(f"{Path(argv[0]).name} failed: {lines[-1] if lines else 'no output'}")
    return done.stdout


def _kustomize(root: Path, where: Path, spec: RenderSpec, env: dict[str, str]) -> str:
    remote.check_kustomize(root, where, spec.allowed_remotes)
    # Files only from inside the kustomization's root; no helm, exec or alpha plugins.
    args = [str(where), "--load-restrictor=LoadRestrictionsRootOnly"]
    if spec.kustomize_bin:
        return _run([spec.kustomize_bin, "build", *args], where, spec, env)
    if shutil.which("kustomize"):
        return _run(["kustomize", "build", *args], where, spec, env)
    return _run(["kubectl", "kustomize", *args], where, spec, env)


def _helm(root: Path, chart: Path, spec: RenderSpec, env: dict[str, str]) -> str:
    if remote.check_helm(root, chart, spec.allowed_remotes):
        # Only allowed repositories are declared; fetched into the checkout's charts/.
        _run([spec.helm_bin, "dependency", "update", str(chart)], chart, spec, env)
    argv = [spec.helm_bin, "template", spec.helm_release, str(chart), "--include-crds"]
    if spec.helm_namespace:
        argv += ["--namespace", spec.helm_namespace]
    for values in spec.helm_values:
        argv += ["--values", str(confined(root, values))]
    return _run(argv, chart, spec, env)
