"""Reading a source repository's history from its forge, for a PR body's source range: the
commits between two revisions and the releases of the repository.

``SourceReader(forge, api_url, token)`` makes at most one request per call, with short connect
and read timeouts, a bounded body, no redirect, no proxy or netrc from the environment, and no
retry: a PR body must never wait long for, or fail because of, a forge it only quotes.

- GitHub: ``GET /repos/{owner}/{repo}/compare/{base}...{head}`` (``total_commits``,
  ``commits[].sha``, ``.commit.message``, ``.html_url``; oldest first) and
  ``GET /repos/{owner}/{repo}/releases?per_page=N`` (``tag_name``, ``name``, ``body``,
  ``html_url``, ``draft``; newest first).
- GitLab: ``GET /api/v4/projects/{id}/repository/compare?from=&to=`` (``commits[].id``,
  ``.title``, ``.web_url``) and ``GET /api/v4/projects/{id}/releases?per_page=N`` (``tag_name``,
  ``name``, ``description``, ``_links.self``).

Errors: ``SourceUnavailable`` with a short reason ("HTTP 404", "timed out", "not JSON"), never
a header, a token or a response body. Must not: be given a URL that bumper.yaml did not
configure (``worker.sourcerange`` only builds a reader for a configured forge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

TIMEOUT = (3.0, 5.0)
MAX_BYTES = 2 * 1024 * 1024


class SourceUnavailable(Exception):
    """The forge did not give the history: the reason is safe to show in a PR."""


@dataclass(frozen=True)
class FoundCommit:
    sha: str
    subject: str
    url: str | None


@dataclass(frozen=True)
class FoundRelease:
    tag: str
    name: str
    notes: str
    url: str | None
    draft: bool = False


@dataclass(frozen=True)
class Comparison:
    commits: tuple[FoundCommit, ...]  # oldest first
    total: int


class SourceReader:
    def __init__(self, forge: str, api_url: str, token: str | None) -> None:
        self.forge = forge
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session = requests.Session()
        self._session.trust_env = False

    def compare(self, path: str, base: str, head: str) -> Comparison:
        if self.forge == "gitlab":
            found = self._get(
                f"{self._project(path)}/repository/compare", {"from": base, "to": head}
            )
            commits = _list(found, "commits")
            made = [
                _commit(c.get("id"), c.get("title") or c.get("message"), c.get("web_url"))
                for c in commits
            ]
            kept = tuple(c for c in made if c is not None)
            return Comparison(kept, len(kept))
        found = self._get(f"/repos/{_quote(path)}/compare/{_quote(base)}...{_quote(head)}", {})
        made = [
            _commit(c.get("sha"), (c.get("commit") or {}).get("message"), c.get("html_url"))
            for c in _list(found, "commits")
        ]
        kept = tuple(c for c in made if c is not None)
        total = found.get("total_commits") if isinstance(found, dict) else None
        return Comparison(kept, total if isinstance(total, int) and total >= 0 else len(kept))

    def releases(self, path: str, limit: int) -> list[FoundRelease]:
        params = {"per_page": str(limit)}
        if self.forge == "gitlab":
            found = self._get(f"{self._project(path)}/releases", params)
            return [r for r in (_release(item, "description", True) for item in _items(found)) if r]
        found = self._get(f"/repos/{_quote(path)}/releases", params)
        return [r for r in (_release(item, "body", False) for item in _items(found)) if r]

    def _project(self, path: str) -> str:
        return f"/api/v4/projects/{quote(path, safe='')}"

    def _get(self, path: str, params: dict[str, str]) -> Any:
        headers = {"Accept": "application/json"}
        if self._token:
            key = "PRIVATE-TOKEN" if self.forge == "gitlab" else "Authorization"
            headers[key] = self._token if self.forge == "gitlab" else f"token {self._token}"
        try:
            with self._session.get(
                self.api_url + path,
                params=params,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.status_code != 200:
                    raise SourceUnavailable(f"HTTP {response.status_code} from {self.forge}")
                body = _read(response)
        except requests.Timeout as error:
            raise SourceUnavailable(f"{self.forge} timed out") from error
        except requests.RequestException as error:
            raise SourceUnavailable(f"{self.forge} unreachable") from error
        try:
            return json.loads(body)
        except ValueError as error:
            raise SourceUnavailable(
                f"{self.forge} answered with something that is not JSON"
            ) from error


def _read(response: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_BYTES:
            raise SourceUnavailable(f"answer larger than {MAX_BYTES // 1024 // 1024} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _quote(text: str) -> str:
    return quote(text, safe="/")


def _items(found: Any) -> list[dict[str, Any]]:
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _list(found: Any, key: str) -> list[dict[str, Any]]:
    return _items(found.get(key)) if isinstance(found, dict) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _commit(sha: Any, message: Any, url: Any) -> FoundCommit | None:
    if not isinstance(sha, str) or not sha:
        return None
    return FoundCommit(sha, _text(message)[:2000], _text(url) or None)


def _release(item: dict[str, Any], notes_key: str, gitlab: bool) -> FoundRelease | None:
    tag = _text(item.get("tag_name"))
    if not tag:
        return None
    links = item.get("_links") if gitlab else None
    url = _text(links.get("self")) if isinstance(links, dict) else _text(item.get("html_url"))
    return FoundRelease(
        tag=tag,
        name=_text(item.get("name")),
        notes=_text(item.get(notes_key))[:20_000],
        url=url or None,
        draft=bool(item.get("draft")),
    )
