"""``ForgeSim``: a threaded HTTP server on a random loopback port that plays GitHub and GitLab.

    /<owner>/<name>.git/...   git smart HTTP (``git http-backend``), Basic auth: any user, token
    /api/v3/...               GitHub REST subset (PyGithub ``base_url``)
    /api/graphql              GitHub GraphQL: enable/disable pull request auto-merge only
    /api/v4/...               GitLab v4 subset (python-gitlab ``url`` is the server root)

Test-side API: ``create_repo``, ``commit_files``, ``set_status``, ``add_user``, ``inject`` (faults),
``requests`` (the request log). Every request is logged with the status it got.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.forgesim import github_api, gitlab_api, merging
from tests.support.forgesim import history as history  # its routes register on import
from tests.support.forgesim.gitstore import BareRepo, http_backend
from tests.support.forgesim.http import ApiError, Request, Response, dispatch
from tests.support.forgesim.model import CheckRun, Pipeline, Release, SimRepo, SimStatus, User

BOT = "bumper-bot"
DEFAULT_TOKEN = "forgesim-token-0123456789"
RATE_LIMIT = 5000
GITLAB_STATES = {
    "created": "pending",
    "running": "pending",
    "failed": "failure",
    "canceled": "error",
}


@dataclass
class Fault:
    """Answer ``status`` to requests whose "METHOD /path" matches ``pattern``, ``times`` times."""

    status: int
    pattern: re.Pattern[str]
    times: int
    retry_after: float | None = None
    reset_in: float | None = None
    message: str | None = None
    hits: int = 0

    @property
    def rate_limited(self) -> bool:
        """429, or a 403 that says "rate limit" (no custom message, or a wait was given)."""
        waits = self.retry_after is not None or self.reset_in is not None
        return self.status == 429 or (self.status == 403 and (self.message is None or waits))


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int
    flavour: str  # github | gitlab | graphql | git
    body: bytes
    fault: bool


class ForgeSim:
    """The simulator. Use as a context manager or call ``start()`` / ``stop()``."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.mkdtemp(prefix="forgesim-")
        self.root = root or Path(self._tmp or ".")
        self.git_root = self.root / "git"
        self.git_root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[str, SimRepo] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self._ids = 1000
        self._server: ThreadingHTTPServer | None = None
        self.add_user(BOT, token=DEFAULT_TOKEN)
        self.token = DEFAULT_TOKEN
        # SSH signing keys users uploaded (``add_signing_key``), as git's allowed-signers file
        self.allowed_signers = self.root / "allowed_signers"
        self.allowed_signers.write_text("")
        self.signatures: dict[tuple[str, int], tuple[str, str]] = {}
        self.signing_keys = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ForgeSim:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="forgesim", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ForgeSim:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "simulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def github_api_url(self) -> str:
        return self.url + "/api/v3"

    @property
    def gitlab_url(self) -> str:
        return self.url

    def clone_url(self, full_name: str, *, with_token: bool = False) -> str:
        if with_token:
            host = self.url.removeprefix("http://")
            return f"http://x-access-token:{self.token}@{host}/{full_name}.git"
        return f"{self.url}/{full_name}.git"

    # -- test-side state ---------------------------------------------------------------------

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def add_user(self, login: str, *, token: str | None = None) -> User:
        with self.lock:
            user = self.users.get(login) or User(id=self.next_id(), login=login)
            self.users[login] = user
            if token:
                self.tokens[token] = login
            return user

    def grant(self, full_name: str, login: str, role: str) -> None:
        """Give ``login`` a role on a repository (GitHub role names; see ``ROLE_LEVELS``)."""
        with self.lock:
            self.add_user(login)
            self.repo(full_name).roles[login] = role

    def role(self, repo: SimRepo, login: str) -> str | None:
        """``login``'s role on ``repo``: the bot administers every repository."""
        return "admin" if login == BOT else repo.roles.get(login)

    def create_repo(
        self,
        full_name: str,
        files: Mapping[str, str] | None = None,
        *,
        default_branch: str = "main",
        require_checks: bool = False,
    ) -> SimRepo:
        owner, name = full_name.split("/", 1)
        path = self.git_root / owner / f"{name}.git"
        git = BareRepo.create(path, files or {"README.md": f"# {name}\n"}, default_branch)
        with self.lock:
            repo = SimRepo(
                id=self.next_id(),
                owner=owner,
                name=name,
                git=git,
                default_branch=default_branch,
                require_checks=require_checks,
            )
            self.repos[full_name.lower()] = repo
            return repo

    def add_signing_key(self, email: str, public_key: str) -> None:
        """Trust an SSH signing key for commits whose committer email is ``email`` (GitHub:
        a user's uploaded signing key with that verified email)."""
        with self.lock:
            with self.allowed_signers.open("a") as handle:
                handle.write(f"{email} {public_key.strip()}\n")
            self.signing_keys += 1

    def signature(self, repo: SimRepo, sha: str) -> tuple[str, str]:
        """git's verdict on ``sha``'s signature (status letter, principal), cached per key set."""
        key = (sha, self.signing_keys)
        found = self.signatures.get(key)
        if found is None:
            found = self.signatures[key] = repo.git.signer(sha, self.allowed_signers)
        return found

    def create_release(
        self,
        full_name: str,
        tag: str,
        ref: str,
        *,
        name: str = "",
        notes: str = "",
        draft: bool = False,
    ) -> Release:
        """Tag ``ref`` as ``tag`` and publish a release of it (a draft has no tag yet)."""
        repo = self.repo(full_name)
        sha = repo.git.resolve(ref)
        assert sha is not None, f"{ref} is not in {full_name}"
        if not draft:
            repo.git.tag(tag, sha)
        release = Release(self.next_id(), tag, sha, name or tag, notes, draft)
        with self.lock:
            repo.releases.append(release)
        return release

    def repo(self, full_name: str) -> SimRepo:
        try:
            return self.repos[full_name.lower()]
        except KeyError:
            raise ApiError(404, "Not Found") from None

    def repo_by_id(self, ident: str) -> SimRepo:
        if ident.isdigit():
            for repo in self.repos.values():
                if repo.id == int(ident):
                    return repo
            raise ApiError(404, "404 Project Not Found")
        return self.repo(ident)

    def commit_files(
        self, full_name: str, branch: str, files: Mapping[str, str], message: str = "change"
    ) -> str:
        """Commit straight into the bare repo (like a push; a new branch forks from the default
        branch); returns the new sha."""
        repo = self.repo(full_name)
        sha = repo.git.commit_files(branch, files, message, start=repo.default_branch)
        self.after_push(repo)
        return sha

    def set_status(
        self,
        full_name: str,
        sha: str,
        state: str,
        context: str = "ci",
        description: str = "",
        *,
        ref: str | None = None,
        target_url: str | None = None,
    ) -> SimStatus:
        """Report a CI result on ``sha`` (GitHub words pending/success/failure/error, or GitLab
        words created/running/failed/canceled). On GitLab it also shows as the commit's pipeline."""
        word = GITLAB_STATES.get(state, state)
        if word not in ("pending", "success", "failure", "error"):
            raise ValueError(f"unknown status state {state!r}")
        with self.lock:
            repo = self.repo(full_name)
            if ref is None:
                tips = [b for b, tip in repo.git.branches().items() if tip == sha]
                ref = tips[0] if tips else repo.default_branch
            status = SimStatus(
                self.next_id(),
                sha,
                word,
                context,
                description or None,
                target_url,
                native=state if state in GITLAB_STATES else None,
                ref=ref,
            )
            repo.statuses.append(status)
            if sha not in repo.pipelines:
                repo.pipelines[sha] = Pipeline(self.next_id(), sha, ref)
            merging.evaluate(self, repo)
            return status

    def add_check_run(
        self, full_name: str, sha: str, name: str, status: str, conclusion: str | None = None
    ) -> CheckRun:
        """Report a GitHub check run (status queued/in_progress/completed, conclusion)."""
        with self.lock:
            repo = self.repo(full_name)
            run = CheckRun(self.next_id(), sha, name, status, conclusion)
            repo.check_runs.append(run)
            merging.evaluate(self, repo)
            return run

    def after_push(self, repo: SimRepo) -> None:
        with self.lock:
            merging.evaluate(self, repo)

    # -- faults and the request log ----------------------------------------------------------

    def inject(
        self,
        status: int,
        route: str,
        *,
        times: int = 1,
        retry_after: float | None = None,
        reset_in: float | None = None,
        message: str | None = None,
    ) -> Fault:
        """Fail the next ``times`` requests whose "METHOD /raw/path" matches regex ``route``.

        For 403/429, ``retry_after`` sets ``Retry-After``; ``reset_in`` sets the rate-limit
        reset (``X-RateLimit-Reset`` on GitHub, ``RateLimit-Reset`` on GitLab) that many seconds
        ahead, with the remaining count at 0.
        """
        fault = Fault(status, re.compile(route), times, retry_after, reset_in, message)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests, filtered by method and a regex searched in the path."""
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method)
                and (path is None or re.search(path, r.path))
            ]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.hits < fault.times and fault.pattern.search(f"{method} {path}"):
                    fault.hits += 1
                    return fault
        return None

    def authenticate(self, headers: Mapping[str, str]) -> User | None:
        token = headers.get("private-token") or headers.get("job-token")
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            token = value.strip()
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode(errors="replace")
            except binascii.Error:
                return None
            token = decoded.partition(":")[2]
        login = self.tokens.get(token or "")
        return self.users.get(login) if login else None

    # -- request handling --------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        split = urlsplit(raw_path)
        path, query = split.path, {k: v[0] for k, v in parse_qs(split.query).items()}
        flavour = _flavour(path)
        fault = self._take_fault(method, path)
        if fault:
            response = _fault_response(fault, flavour)
        else:
            req = Request(method, path, query, headers, body, self.authenticate(headers))
            response = self._serve(flavour, req, split.query)
        if flavour in ("github", "graphql"):
            response.headers.extend(_github_rate_headers(len(self.log), fault))
        elif flavour == "gitlab":
            response.headers.extend(_gitlab_rate_headers(len(self.log), fault))
        with self.lock:
            self.log.append(
                LoggedRequest(method, path, query, response.status, flavour, body, bool(fault))
            )
        return response

    def _serve(self, flavour: str, req: Request, raw_query: str) -> Response:
        if flavour == "git":
            return self._serve_git(req, raw_query)
        if req.user is None:
            message = "Requires authentication" if flavour != "gitlab" else "401 Unauthorized"
            return Response(401, {"message": message})
        try:
            with self.lock:
                if flavour == "graphql":
                    return github_api.graphql(self, req)
                return dispatch(self, flavour, req)
        except ApiError as err:
            render = gitlab_api.error_body if flavour == "gitlab" else github_api.error_body
            return Response(err.status, render(err))

    def _serve_git(self, req: Request, raw_query: str) -> Response:
        m = re.match(r"^/([^/]+)/([^/]+?)\.git(/.*)$", req.path)
        if not m or f"{m[1]}/{m[2]}".lower() not in self.repos:
            return Response(404, b"repository not found\n")
        if req.user is None:
            challenge = [("WWW-Authenticate", 'Basic realm="forgesim"')]
            return Response(401, b"authentication required\n", challenge)
        repo = self.repos[f"{m[1]}/{m[2]}".lower()]
        status, headers, payload = http_backend(
            self.git_root,
            method=req.method,
            path_info=f"/{repo.owner}/{repo.name}.git{m[3]}",
            query=raw_query,
            headers=req.headers,
            body=req.body,
            remote_user=req.user.login,
        )
        if req.path.endswith("/git-receive-pack"):
            self.after_push(repo)
        return Response(status, payload, headers)


def _flavour(path: str) -> str:
    if path.startswith("/api/v3/"):
        return "github"
    if path.startswith("/api/graphql"):
        return "graphql"
    if path.startswith("/api/v4/"):
        return "gitlab"
    return "git"


def _fault_response(fault: Fault, flavour: str) -> Response:
    headers: list[tuple[str, str]] = []
    if fault.retry_after is not None:
        headers.append(("Retry-After", str(int(fault.retry_after))))
    if fault.rate_limited:
        if flavour == "gitlab":
            default = "This endpoint has been requested too many times. Try again later."
        elif fault.reset_in is not None:
            default = "API rate limit exceeded for user ID 1."
        else:
            default = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."  # noqa: E501
    elif fault.status >= 500:
        default = "Server Error" if flavour != "gitlab" else f"{fault.status} Internal Server Error"
    else:
        default = "Conflict" if fault.status == 409 else "Error"
    return Response(fault.status, {"message": fault.message or default}, headers)


def _github_rate_headers(used: int, fault: Fault | None) -> list[tuple[str, str]]:
    now = int(time.time())
    reset = now + 3600
    remaining = max(RATE_LIMIT - used, 1)
    if fault and fault.reset_in is not None:
        reset, remaining = now + int(fault.reset_in), 0
    return [
        ("X-RateLimit-Limit", str(RATE_LIMIT)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Used", str(RATE_LIMIT - remaining)),
        ("X-RateLimit-Reset", str(reset)),
        ("X-RateLimit-Resource", "core"),
    ]


def _gitlab_rate_headers(used: int, fault: Fault | None) -> list[tuple[str, str]]:
    if not fault or not fault.rate_limited:
        return []
    reset = int(time.time() + (fault.reset_in if fault.reset_in is not None else 60))
    return [
        ("RateLimit-Limit", "600"),
        ("RateLimit-Observed", "600"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", str(reset)),
        ("RateLimit-ResetTime", formatdate(reset, usegmt=True)),
    ]


def _make_handler(sim: ForgeSim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stall

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                response = sim.handle(self.command, self.path, headers, self._body())
            except Exception as exc:  # a simulator bug must show up as a 500, not a hang
                response = Response(500, {"message": f"forgesim bug: {exc!r}"})
            payload = response.encoded()
            self.send_response(response.status)
            names = {k.lower() for k, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            if "content-type" not in names and response.body is not None:
                ctype = "application/octet-stream" if isinstance(response.body, bytes) else None
                self.send_header("Content-Type", ctype or "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                # a client killed mid-request (the chaos suite's kill -9) is not the forge's error
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
