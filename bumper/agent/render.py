"""Turn a checkout into a list of manifests: a plain YAML tree, kustomize, or ``helm template``.

Any failure raises ``RenderError`` with a one-line reason, and the caller applies nothing.
Paths given in the config are confined to the checkout (no ``..`` or symlink escapes).
Every file and every tool output is parsed within the parse limits of
``bumper.core.yaml.limits`` (an alias bomb is a ``RenderError`` naming the file, reason
``parse-limit``). Symbolic links (docs/agent.md, "Symbolic links"): a plain tree never reads
through a link whose real path leaves the configured path; the link is left out and named in
``Rendered.skipped``, and the rest renders. kustomize and helm read files themselves, so a link
under their directory that leaves it refuses the render.
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
from typing import Literal

import yaml

from bumper.agent import manifests, remote
from bumper.core.yaml import limits
from bumper.errors import ManifestError, ParseLimitExceeded, RenderError

Mode = Literal["plain", "kustomize", "helm"]
YAML_SUFFIXES = (".yaml", ".yml", ".json")
# Files that describe how to render, not objects to apply, even in a plain tree.
NOT_MANIFESTS = frozenset(
    {"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml", "values.yaml"}
)


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


def render(
    root: Path, spec: RenderSpec, left_out: Sequence[tuple[str, str]] = ()
) -> manifests.Rendered:
    """All objects under ``root`` per ``spec``, validated and in render order, with the files
    left out (``skipped``): the render's own, and those of ``left_out`` (files the checkout
    lacks, e.g. links the export refused) that lie under the configured paths."""
    objs: list[manifests.Obj] = []
    skipped = [(path, why) for path, why in left_out if _under(path, spec.paths)]
    with tempfile.TemporaryDirectory(prefix="bumper-render-") as scratch:
        env = remote.tool_env(Path(scratch), spec.allowed_remotes)
        for rel in spec.paths:
            where = confined(root, rel)
            if not where.exists():
                raise RenderError(f"path {rel!r} does not exist in the commit")
            if spec.mode == "plain":
                objs.extend(_plain(root, where, skipped))
                continue
            _refuse_links_out(root, where)
            if spec.mode == "kustomize":
                objs.extend(_parse(_kustomize(root, where, spec, env), rel))
            else:
                objs.extend(_parse(_helm(root, where, spec, env), rel))
    try:
        return manifests.Rendered(manifests.validate(objs), sorted(skipped))
    except ManifestError as error:
        raise RenderError(str(error)) from error


def _under(path: str, paths: Sequence[str]) -> bool:
    return any(
        rel in ("", ".") or path == rel or path.startswith(rel.rstrip("/") + "/")
        for rel in (os.path.normpath(p) for p in paths)
    )


def confined(root: Path, rel: str) -> Path:
    """``root/rel`` resolved, refusing anything that ends up outside ``root``."""
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise RenderError(f"path {rel!r} leaves the repository")
    return target


def _plain(root: Path, where: Path, skipped: list[tuple[str, str]]) -> list[manifests.Obj]:
    """The objects of the files under ``where``; a symbolic link whose real path leaves
    ``where`` is not read but added to ``skipped``, and the other files still render."""
    base = root.resolve()
    objs: list[manifests.Obj] = []
    for path in [where] if where.is_file() else _walk(where):
        rel = path.relative_to(base).as_posix()
        real = path.resolve()
        if path.is_symlink() or real != path:
            if real != where and where not in real.parents:
                skipped.append((rel, _leaves(base, where, real)))
                continue
            if not real.exists():
                skipped.append((rel, "a symbolic link to a missing file: not read"))
                continue
        if path.is_dir():
            continue  # a linked directory inside ``where``: its files are walked there
        objs.extend(_parse(_read(path, rel), rel))
    return objs


def _leaves(base: Path, where: Path, real: Path) -> str:
    config_path = where.relative_to(base).as_posix()
    if real != base and base not in real.parents:
        return "a symbolic link leaving the repository: not read"
    target = real.relative_to(base).as_posix()
    return f"a symbolic link to {target}, outside the config path {config_path!r}: not read"


def _read(path: Path, rel: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            limits.check_size(os.fstat(handle.fileno()).st_size)
            return handle.read().decode("utf-8")
    except ParseLimitExceeded as error:
        raise RenderError(f"{rel}: {error}", reason=error.reason) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RenderError(f"{rel}: cannot read: {error}") from error


def _walk(where: Path) -> list[Path]:
    """Manifest files under ``where`` in path order, and the symbolic links to directories
    met (``os.walk`` lists them but does not descend into them)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(where):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath) / d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            if name.endswith(YAML_SUFFIXES) and name not in NOT_MANIFESTS:
                if not name.startswith("."):
                    found.append(Path(dirpath) / name)
    return sorted(found)


def _refuse_links_out(root: Path, where: Path) -> None:
    """kustomize and helm read files themselves, and helm follows any link (to ``/etc`` too):
    refuse a render whose directory holds a link leaving it (a file cannot be left out of a
    tool's render the way a plain tree leaves it out)."""
    base = root.resolve()
    for dirpath, dirnames, filenames in os.walk(where):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                real = path.resolve()
                if real != where and where not in real.parents:
                    rel = path.relative_to(base).as_posix()
                    raise RenderError(f"{rel}: {_leaves(base, where, real)}")


def _parse(text: str, source: str) -> list[manifests.Obj]:
    try:
        docs = limits.load_all(text)
    except ParseLimitExceeded as error:
        raise RenderError(f"{source}: {error}", reason=error.reason) from None
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
