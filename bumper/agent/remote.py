"""Remote references in a checkout's render inputs: refused before a tool runs unless allowed.

kustomize loads resources, components, patches and generator files from URLs and git repos
whenever an entry is not a local path, and helm fetches chart dependencies from repositories.
Both run inside the cluster, so a config-repo writer could make the agent request any address
it can reach (SSRF: cluster services, the cloud metadata endpoint). This module promises:

- ``check_kustomize`` and ``check_helm`` walk the render inputs (bounded: ``MAX_FILES`` files
  of at most ``MAX_BYTES`` each) and raise ``RenderError`` naming the file and the entry for
  every reference that is neither a path inside the checkout nor under an allowed prefix
  (agent config ``allowed_remotes``, empty by default);
- ``tool_env`` is the second line of defence: an environment in which kustomize, helm and the
  git they spawn reach no network at all when nothing is allowed, and in which helm reads no
  repository, registry or plugin configuration but the empty one it is given.

Must not: run the tools or touch the network.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from bumper.core.yaml import limits
from bumper.errors import ParseLimitExceeded, RenderError

MAX_FILES = 200
MAX_BYTES = 1 << 20
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize fields whose entries are paths (or, when not local, remote references).
PATH_LISTS = (
    "resources",
    "components",
    "bases",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
)
# Of those, the ones whose local directories are kustomizations to walk in turn.
NESTED = frozenset({"resources", "components", "bases", "generators", "transformers"})
PATH_ITEMS = ("patches", "patchesJson6902", "replacements")
GENERATORS = ("configMapGenerator", "secretGenerator")
# Always remote: a scheme (https://, file://, ssh://...), git's scp form, go-getter's git::.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://|git@|git::)")
# Remote unless it is a local path: a host name as the first segment (github.com/org/repo);
# with a git marker (``//`` subdirectory, ``?ref=``) kustomize clones it even if it exists.
_HOST_FORM = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?/")
# helm knows the JSON Schema meta-schemas by heart: naming one fetches nothing.
_METASCHEMA = re.compile(r"^https?://json-schema\.org/")
_SCHEMA_REF_KEYS = frozenset({"$ref", "$schema", "$dynamicRef", "$recursiveRef"})
MAX_SCHEMA_NODES = 100_000
# Where the tools' HTTP goes when nothing is allowed: a closed local port (Go honours it for
# every non-loopback address), so a fetch fails at once instead of reaching anything.
_NO_PROXY_HERE = "http://127.0.0.1:9"


def allowed(ref: str, prefixes: Sequence[str]) -> bool:
    """``ref`` starts with one of ``prefixes`` at a boundary and climbs no ``..``.

    ``https://git.example/acme`` allows ``https://git.example/acme/x`` and
    ``https://git.example/acme?ref=v1`` but not ``https://git.example/acme-evil`` nor
    ``https://git.example/acme/../evil``.
    """
    if ".." in re.split(r"[/?]", ref) or "\\" in ref:
        return False
    for prefix in prefixes:
        if ref == prefix:
            return True
        if ref.startswith(prefix) and (prefix[-1] in "/?=" or ref[len(prefix)] in "/?"):
            return True
    return False


def check_kustomize(root: Path, start: Path, allow: Sequence[str]) -> None:
    """Every kustomization reachable from ``start`` names only local or allowed sources."""
    _Walk(root, allow).kustomization(start)


def check_helm(root: Path, chart: Path, allow: Sequence[str]) -> bool:
    """The chart's dependencies (and its unpacked subcharts') are in the checkout or allowed.

    A dependency from a repository that the checkout vendors in ``charts/`` is fine: helm
    renders it from there. Returns whether an allowed dependency is missing from the
    checkout: only then may helm fetch (``--dependency-update``).
    """
    walk = _Walk(root, allow)
    return walk.chart(chart)


def tool_env(scratch: Path, allow: Sequence[str]) -> dict[str, str]:
    """Environment for kustomize and helm: isolated helm config, and no network unless allowed."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "repositories.yaml").write_text("apiVersion: v1\nrepositories: []\n")
    (scratch / "registry.json").write_text('{"auths": {}}\n')
    env = {
        "HELM_REPOSITORY_CONFIG": str(scratch / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(scratch / "repository"),
        "HELM_REGISTRY_CONFIG": str(scratch / "registry.json"),
        "HELM_PLUGINS": str(scratch / "plugins"),
        "HELM_CACHE_HOME": str(scratch / "cache"),
        "HELM_CONFIG_HOME": str(scratch / "config"),
        "HELM_DATA_HOME": str(scratch / "data"),
    }
    if not allow:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = _NO_PROXY_HERE
        env["NO_PROXY"] = env["no_proxy"] = ""
        env["GIT_ALLOW_PROTOCOL"] = "none"  # git clones (kustomize's remote bases) refused
    return env


class _Walk:
    def __init__(self, root: Path, allow: Sequence[str]) -> None:
        self.root = root.resolve()
        self.allow = allow
        self.seen: set[Path] = set()

    # -- kustomize --------------------------------------------------------------------------

    def kustomization(self, where: Path) -> None:
        found = next((where / n for n in KUSTOMIZATION_NAMES if (where / n).is_file()), None)
        if found is None or found.resolve() in self.seen:
            return  # not a kustomization: a plain directory kustomize will judge itself
        data = self._load(found)
        base = found.parent
        for field, entry in _path_entries(data):
            local = self._local(base, entry, found, field)
            if local is None:
                continue
            if field in NESTED and local.is_dir():
                self.kustomization(local)
        for index, chart in enumerate(_items(data.get("helmCharts"))):
            repo = chart.get("repo")
            if isinstance(repo, str) and repo:
                self._remote(repo, found, f"helmCharts[{index}].repo")

    # -- helm -------------------------------------------------------------------------------

    def chart(self, chart: Path) -> bool:
        needs_fetch = False
        for name in ("Chart.yaml", "requirements.yaml"):
            path = chart / name
            if not path.is_file() or path.resolve() in self.seen:
                continue
            data = self._load(path)
            for index, dep in enumerate(_items(data.get("dependencies"))):
                repo = dep.get("repository")
                where = f"dependencies[{index}].repository"
                if not isinstance(repo, str) or not repo:
                    continue  # a subchart the checkout holds in charts/
                if repo.startswith("file://"):
                    self._local(chart, repo.removeprefix("file://"), path, where)
                elif not _vendored(chart, dep.get("name")):
                    self._remote(repo, path, where)
                    needs_fetch = True
        self._schema(chart / "values.schema.json")
        subcharts = chart / "charts"
        if subcharts.is_dir():
            for sub in sorted(p for p in subcharts.iterdir() if p.is_dir()):
                self._inside(sub, subcharts / "Chart.yaml", "charts/")
                self.chart(sub)
        return needs_fetch

    def _schema(self, path: Path) -> None:
        """helm validates values against the schema and loads what its ``$ref``s name."""
        if not path.is_file():
            return
        self.seen.add(path.resolve())
        try:
            with path.open("rb") as handle:
                data = json.loads(handle.read(MAX_BYTES + 1))
        except (OSError, ValueError) as error:
            raise RenderError(f"{self._rel(path)}: not a JSON schema helm can read") from error
        for key, ref in _schema_refs(data):
            in_document = key != "$schema" and ref.startswith("#")
            if not in_document and not (key == "$schema" and _METASCHEMA.match(ref)):
                self._remote(ref, path, key)

    # -- shared -----------------------------------------------------------------------------

    def _load(self, path: Path) -> dict[str, Any]:
        self.seen.add(path.resolve())
        where = self._rel(path)
        if len(self.seen) > MAX_FILES:
            raise RenderError(f"{where}: more than {MAX_FILES} kustomization or chart files")
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
        except OSError as error:
            raise RenderError(f"{where}: cannot read: {error.strerror}") from error
        if len(raw) > MAX_BYTES:
            raise RenderError(f"{where}: larger than {MAX_BYTES} bytes")
        try:
            documents = limits.load_all(raw.decode("utf-8"))
        except ParseLimitExceeded as error:
            raise RenderError(f"{where}: {error}", reason=error.reason) from error
        except (UnicodeDecodeError, yaml.YAMLError) as error:
            raise RenderError(f"{where}: not valid YAML") from error
        data = documents[0] if documents else None
        return data if isinstance(data, dict) else {}

    def _local(self, base: Path, entry: str, found: Path, field: str) -> Path | None:
        """The local path ``entry`` names, or None once a remote one passed the allow-list."""
        candidate = base / entry
        git_marker = "//" in entry or "?" in entry
        if _SCHEME.match(entry) or (_HOST_FORM.match(entry) and git_marker):
            self._remote(entry, found, f"{field} entry")
            return None
        if candidate.exists() or candidate.is_symlink():
            self._inside(candidate, found, f"{field} entry {entry!r}")
            return candidate.resolve()
        if _HOST_FORM.match(entry):
            self._remote(entry, found, f"{field} entry")
            return None
        raise RenderError(f"{self._rel(found)}: {field} entry {entry!r} is not in the repository")

    def _inside(self, path: Path, found: Path, what: str) -> None:
        real = path.resolve()
        if real != self.root and self.root not in real.parents:
            raise RenderError(f"{self._rel(found)}: {what} leaves the repository")

    def _remote(self, ref: str, found: Path, what: str) -> None:
        if not allowed(ref, self.allow):
            raise RenderError(
                f"{self._rel(found)}: {what} {ref!r} is a remote source; the agent fetches "
                "nothing from the network unless it is listed in allowed_remotes"
            )

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def _vendored(chart: Path, name: object) -> bool:
    """The dependency is in the checkout (``charts/<name>/`` or ``charts/<name>-<version>.tgz``):
    helm renders it from there and fetches nothing."""
    if not isinstance(name, str) or not name or "/" in name:
        return False
    charts = chart / "charts"
    return (charts / name).is_dir() or any(charts.glob(f"{glob.escape(name)}-*.tgz"))


def _schema_refs(data: object) -> Iterator[tuple[str, str]]:
    """(key, value) of every reference in a JSON schema, visiting at most MAX_SCHEMA_NODES."""
    stack, visited = [data], 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > MAX_SCHEMA_NODES:
            raise RenderError(f"values.schema.json has more than {MAX_SCHEMA_NODES} nodes")
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _SCHEMA_REF_KEYS and isinstance(value, str):
                    yield key, value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _items(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _path_entries(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, path-or-reference) for every entry kustomize would load from somewhere."""
    for field in PATH_LISTS:
        value = data.get(field)
        for entry in value if isinstance(value, list) else []:
            if isinstance(entry, str) and "\n" not in entry:  # multi-line: an inline document
                yield field, entry.strip()
    for field in PATH_ITEMS:
        for item in _items(data.get(field)):
            if isinstance(item.get("path"), str):
                yield field, item["path"]
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi", openapi["path"]
    for field in GENERATORS:
        for item in _items(data.get(field)):
            for entry in _strings(item.get("files")):
                yield field, entry.split("=", 1)[-1]  # key=path, as kustomize splits it
            for entry in [*_strings(item.get("envs")), *_strings([item.get("env")])]:
                yield field, entry
