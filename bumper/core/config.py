"""The ``bumper.yaml`` model (``apiVersion: bumper/v1``), validated with pydantic.

Pure: it validates data already read from the file; reading the file and locating each issue
by line live in ``bumper.configfile``, reporting in ``bumper check-config``.
Sections:

- ``receivers``: named webhook endpoints (``POST /hooks/<name>``), each with a sender type,
  a secret reference, the event kinds it may produce and its scope (the registries, image
  prefixes and CI repositories it may speak for, ``bumper.core.scope``);
- ``repos``: config repositories, their forge, credentials, bot author and signing;
- ``images``: rules that map an image to a tag policy, an optional CI gate, and targets
  (path globs in a repo, each with a mode ``commit`` | ``pr`` | ``pr-automerge``, and a
  deploy ``pull`` | ``push``; a push target's ``cluster`` says where the worker applies);
- ``ci``: triggers that turn a successful ``build.finished`` into a bump, with the tag
  rendered from a template over the event's fields;
- ``agents``: pull agents allowed to report bad images and health
  (``POST /agent/v1/reports``), each with its own token;
- ``registries``: one entry per registry host: its credentials, API flavour, CA file and
  ``poll`` interval (``bumper.registry`` speaks to it; a receiver's ``scope.images`` may name
  an entry);
- ``verify`` (on an image rule or a registries entry): the cosign public keys and annotations
  an image's signature must have before it is bumped (``bumper.core.signatures``).

Cross-field rules (unique names, targets naming a known repo, triggers naming a known image)
live in :func:`cross_check`, which works on the raw document so that ``bumper check-config``
can report them next to field errors, every one with its path.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bumper.core import charts, events, refs, scope, semver, urls
from bumper.errors import InvalidReference, PermanentError

EventKind = Literal["image.pushed", "image.deleted", "build.finished", "pr.comment"]
# pr.comment (a /bumper command on a PR) is queued only for repositories in a receiver's
# scope.repos (none by default), so allowing it by default widens nothing.
ALL_EVENT_KINDS: tuple[EventKind, ...] = (
    "image.pushed",
    "image.deleted",
    "build.finished",
    "pr.comment",
)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in bumper.yaml must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret lives. Exactly one of ``env`` or ``file``; the value is never logged."""

    env: str | None = Field(None, description="name of an environment variable holding it")
    file: str | None = Field(None, description="path of a file holding it (trailing newline cut)")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self


def _image_scope_entry(value: str) -> str:
    """A registry host / image prefix, or the name of a ``registries`` entry (no '.' or ':')."""
    if re.fullmatch(NAME_PATTERN, value) and not re.search(r"[.:]", value) and value != "localhost":
        return value  # cross_check says whether the entry exists
    return scope.check_image_entry(value)


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ImageScopeEntry = Annotated[str, AfterValidator(_image_scope_entry)]
RepoScopeEntry = Annotated[str, AfterValidator(scope.check_repo_entry)]


class ReceiverScope(Strict):
    """What a receiver may speak for; events outside it are dropped (``bumper.core.scope``)."""

    images: list[ImageScopeEntry] | None = Field(
        None,
        description="registry hosts or image prefixes (ghcr.io, ghcr.io/acme), or names of "
        "registries entries; default: the receiver's registry, else its sender's own registry "
        "hosts (docker.io for dockerhub...)",
    )
    repos: list[RepoScopeEntry] = Field(
        default_factory=list,
        description="CI repositories (acme/api) or their owners / groups (acme); none by default",
    )


_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
ORIGIN_PATTERN = re.compile(rf"^{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?$")


def check_origin(value: str) -> str:
    """A CloudEvents handshake origin: a host name (and port), lower-cased; no scheme, no ``*``."""
    origin = value.strip().lower()
    if not ORIGIN_PATTERN.match(origin):
        raise ValueError(
            f"{value[:80]!r} is not a host name such as eventemitter.example.com "
            "(no scheme, path or wildcard)"
        )
    return origin


class Receiver(Strict):
    """One webhook endpoint, ``POST /hooks/<name>``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    type: str = Field(description="sender module name, e.g. 'github', 'harbor', 'dockerhub'")
    secret: SecretRef | None = Field(
        None, description="required for every sender except where 'insecure: true' is set"
    )
    events: list[EventKind] = Field(
        default_factory=lambda: list(ALL_EVENT_KINDS),
        description="event kinds this receiver may enqueue; others are dropped with a reason",
    )
    max_body_bytes: int = Field(1_048_576, gt=0, description="bigger bodies get 413")
    registry: str | None = Field(
        None,
        description="the registry host this receiver speaks for: the default of scope.images, "
        "and the host of images for senders whose payloads do not name it (JFrog, Nexus, ACR); "
        "passed to the sender as the X-Bumper-Registry header",
    )
    scope: ReceiverScope = Field(default_factory=lambda: ReceiverScope())
    insecure: bool = Field(False, description="accept without authentication (tests only)")
    replay_window_seconds: int = Field(
        300,
        ge=1,
        le=3600,
        description="senders that sign a timestamp (GitLab signing token, Buildkite signature): "
        "a delivery signed further than this from now is refused (403 stale-timestamp)",
    )
    allowed_origins: list[Annotated[str, AfterValidator(check_origin)]] = Field(
        default_factory=list,
        description="CloudEvents webhook handshake: the WebHook-Request-Origin host names "
        "this receiver consents to; none by default",
    )

    @field_validator("registry")
    @classmethod
    def _registry_host(cls, value: str | None) -> str | None:
        return None if value is None else scope.check_host(value)

    @model_validator(mode="after")
    def _secret_unless_insecure(self) -> Receiver:
        if self.secret is None and not self.insecure:
            raise ValueError("a receiver needs 'secret' (or 'insecure: true' for local tests)")
        return self


class AgentClient(Strict):
    """A pull agent that may report to the web process; its name stamps what it reports."""

    name: str = Field(pattern=NAME_PATTERN, description="the agent's identity in its records")
    token: SecretRef = Field(
        description="the agent's bearer token (at least 16 bytes; its own, shared with no "
        "receiver and no other agent)"
    )


# Fields a commit message / PR template may use ({name} style); bumper.core.changes fills them.
TEMPLATE_FIELDS: dict[str, str] = {
    "name": "the image rule's name",
    "image": "the normalised image name",
    "tag": "the new tag",
    "old_tag": "the tag it replaces (the first changed reference)",
    "digest": "the new digest, or empty",
    "ref": "what was written: tag, or tag@digest",
    "repo": "the config repo's name",
    "branch": "the branch the change lands on",
    "mode": "commit, pr or pr-automerge",
    "paths": "the target's path globs, comma-separated",
    "files": "the changed files, comma-separated",
    "count": "how many references changed",
    "source": "the sender of the event",
    "delivery_id": "the event's delivery id",
    "decision": "the policy's result and rule",
    "why": "the policy's explanation",
}
# Fields a ci trigger's tag template may use, taken from the build.finished event.
CI_TAG_FIELDS: dict[str, str] = {
    "sha": "the full commit sha",
    "short_sha": "the first 7 characters of the sha",
    "branch": "the branch name (ref without refs/heads/; '/' becomes '-')",
    "git_tag": "the git tag of a tag build (ref without refs/tags/), else empty",
    "ref": "the ref as the event gives it",
    "repository": "the CI project",
    "pipeline": "the workflow / pipeline name",
    "source": "the CI sender",
}


def template_fields(template: str) -> set[str]:
    """The field names used by a ``str.format`` template; ``ValueError`` if it does not parse."""
    names = set()
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field or not re.fullmatch(r"[A-Za-z_]\w*", field):
            raise ValueError(f"template field {{{field}}} is not a plain name")
        if spec or conversion:
            raise ValueError(
                f"template field {{{field}}}: format specs and !conversions are not supported"
            )
        names.add(field)
    return names


def _check_template(template: str | None, allowed: Mapping[str, str]) -> str | None:
    if template is None:
        return None
    unknown = sorted(template_fields(template) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown template field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    return template


# -- path globs ---------------------------------------------------------------------------


def check_path_glob(value: str) -> str:
    """A target path glob: relative, inside the repo, ``**`` only as a whole segment."""
    if not value.strip():
        raise ValueError("empty path glob")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r}: paths are relative to the repo root")
    if "\\" in value:
        raise ValueError(f"{value!r}: use '/' as the path separator")
    parts = value.split("/")
    if ".." in parts:
        raise ValueError(f"{value!r}: '..' would leave the repo")
    for part in parts:
        if "**" in part and part != "**":
            raise ValueError(f"{value!r}: '**' must be a whole path segment")
    _check_brackets(value)
    return value


def _check_brackets(value: str) -> None:
    depth_open = None
    for index, char in enumerate(value):
        if char == "[" and depth_open is None:
            depth_open = index
        elif char == "]" and depth_open is not None and index > depth_open + 1:
            depth_open = None
    if depth_open is not None:
        raise ValueError(f"{value!r}: unclosed '[' in pattern")


def check_tag_glob(value: str) -> str:
    if not value:
        raise ValueError("empty tag pattern")
    _check_brackets(value)
    return value


PathGlob = Annotated[str, AfterValidator(check_path_glob)]
TagGlob = Annotated[str, AfterValidator(check_tag_glob)]


class Author(Strict):
    """The bot identity on commits Bumper makes."""

    name: str = Field("bumper", min_length=1)
    email: str = Field("bumper@localhost", pattern=r"^[^@\s<>]+@[^@\s<>]+$")


class Signing(Strict):
    """Commit signing; the key is a secret (armoured GPG key, or an SSH private key)."""

    format: Literal["gpg", "ssh"]
    key: SecretRef
    key_id: str | None = Field(None, description="GPG key id / SSH public key to sign with")


class Repo(Strict):
    """A config repository the worker clones, edits and pushes to."""

    name: str = Field(pattern=NAME_PATTERN)
    forge: Literal["github", "gitlab", "git"]
    url: str = Field(min_length=1, description="clone URL (https for github/gitlab)")
    branch: str = Field("main", min_length=1, description="the branch bumps land on")
    api_url: str | None = Field(None, description="forge API base (GitHub Enterprise, GitLab)")
    credentials: SecretRef | None = Field(None, description="a token; never logged")
    author: Author = Field(default_factory=lambda: Author())
    signing: Signing | None = None

    @field_validator("url")
    @classmethod
    def _no_inline_credentials(cls, value: str) -> str:
        return urls.refuse_inline_credentials(value, instead="credentials: {file: PATH}")

    @field_validator("api_url")
    @classmethod
    def _http_api(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("api_url must be an http(s) URL")
        if value is not None:
            urls.refuse_inline_credentials(value, instead="credentials: {file: PATH}")
        return value

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str) -> str:
        if value.startswith(("-", "/")) or ".." in value or re.search(r"[\s~^:?*\[\\]", value):
            raise ValueError(f"{value!r} is not a valid git branch name")
        return value

    @model_validator(mode="after")
    def _forge_needs_http(self) -> Repo:
        if self.forge != "git" and not re.match(r"^https?://", self.url):
            raise ValueError(f"forge {self.forge} needs an http(s) url, got {self.url!r}")
        if self.forge == "git" and self.api_url is not None:
            raise ValueError("api_url makes no sense with forge: git")
        return self


# -- registries ---------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> int | None:
    """``5m``, ``90s``, ``1h30m`` (or a number of seconds) → seconds; ``off`` / null → None."""
    if value is None or value == "off" or value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        found = _DURATION.match(str(value).strip())
        if found is None or not any(found.groups()):
            raise ValueError(f"{str(value)[:40]!r} is not a duration such as 30s, 5m or 1h")
        hours, minutes, secs = (int(g or 0) for g in found.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not 1 <= seconds <= 7 * 86_400:
        raise ValueError("a poll interval is between 1s and 168h")
    return seconds


PollInterval = Annotated[int | None, BeforeValidator(parse_duration)]
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")


AnnotationKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class Verify(Strict):
    """Cosign signatures an image must carry before it is bumped (``docs/signatures.md``).

    A candidate passes when one signature read from its registry names the candidate's digest,
    verifies with one of ``keys`` and carries every ``annotations`` entry with that value.
    """

    keys: list[SecretRef] = Field(
        min_length=1,
        max_length=16,
        description="PEM public keys (ECDSA P-256 or Ed25519), as secrets; any one may sign",
    )
    annotations: dict[AnnotationKey, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict,
        max_length=16,
        description="annotations the signature's payload must carry (cosign sign -a KEY=VALUE)",
    )


class RegistryCredentials(Strict):
    """A registry login: a user name (not secret) and a password or token (a secret)."""

    username: str = Field(min_length=1, max_length=256)
    password: SecretRef = Field(description="password or access token; never logged")


class RegistryEntry(Strict):
    """One registry host Bumper may call: for polling, and to complete events lacking facts."""

    name: str | None = Field(
        None, pattern=NAME_PATTERN, description="how receivers' scope names it; default its host"
    )
    host: str = Field(description="registry host as image names spell it (ghcr.io, docker.io)")
    api: Literal["distribution"] = Field(
        "distribution",
        description="API flavour: distribution (the OCI distribution API: Docker Hub, GHCR, "
        "GitLab, Harbor, Quay, GAR, ACR, JFrog, Nexus, distribution itself)",
    )
    credentials: RegistryCredentials | None = Field(None, description="anonymous when absent")
    poll: PollInterval = Field(None, description="poll every watched repository this often")
    ca_file: str | None = Field(None, min_length=1, description="PEM CA bundle to trust")
    plain_http: bool = Field(False, description="speak HTTP, not HTTPS (loopback registries)")
    verify: Verify | None = Field(
        None, description="signatures every image of this registry needs (a rule's replaces it)"
    )

    @field_validator("host")
    @classmethod
    def _registry_host(cls, value: str) -> str:
        return scope.check_host(value)

    @model_validator(mode="after")
    def _no_credentials_in_clear(self) -> RegistryEntry:
        if self.plain_http and self.credentials and not _LOOPBACK.match(self.host):
            raise ValueError("credentials over plain_http are allowed to loopback hosts only")
        return self

    @property
    def label(self) -> str:
        return self.name or self.host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``host[:port]``) is a loopback address, where plain HTTP may carry
    credentials."""
    return bool(_LOOPBACK.match(host))


# The fix each unparsable policy's error ends with (docs/config.md, "Tag policies").
SEMVER_FIX = (
    "write an npm-style range, e.g. '^1.4', '~1.4.2' or '>=1.4 <2' (space-separated "
    "comparators; '||' between alternatives)"
)
REGEX_FIX = "fix the pattern (Python's re syntax; single-quote it in YAML so backslashes stay)"


class Policy(Strict):
    """How a candidate tag is chosen; compiled into :class:`bumper.core.policy.CompiledPolicy`.

    Exactly one strategy: ``semver`` (a range), ``regex`` with ``order``, or ``digest`` (a
    mutable tag whose digest is tracked). ``regex`` may also filter for ``semver``: then
    ``extract`` (or the whole tag) is read as the version.
    """

    semver: str | None = Field(None, description="npm-style range, e.g. '^1.4' or '>=1.4 <2'")
    prerelease: bool = Field(False, description="accept pre-release versions (semver)")
    regex: str | None = Field(None, description="the whole tag must match")
    extract: str | None = Field(None, description="named group of regex whose value is ordered")
    order: Literal["numeric", "alphabetical"] | None = None
    digest: str | None = Field(None, description="mutable tag to track by digest, e.g. latest")
    pin_digest: bool | None = Field(
        None,
        description=(
            "true: write tag@digest whenever the digest is known; false: tags only (a pin is"
            " dropped); unset: each reference keeps its form (a pinned one is re-pinned)"
        ),
    )
    allow: list[TagGlob] = Field(default_factory=list, description="tag globs; must match one")
    ignore: list[TagGlob] = Field(default_factory=list, description="tag globs never chosen")
    allow_downgrade: bool = Field(False, description="let an older candidate replace newer")

    @field_validator("semver")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                semver.parse_range(value)
            except semver.InvalidRange as error:
                raise ValueError(f"{error}: {SEMVER_FIX}") from None
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"invalid regex: {error}: {REGEX_FIX}") from None
        return value

    @field_validator("extract")
    @classmethod
    def _extract_group(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        pattern = info.data.get("regex")
        if pattern is None:
            if "regex" in info.data:  # given as null or absent, not invalid
                raise ValueError("extract needs a regex with that named group")
            return value  # the regex itself is reported invalid
        groups = re.compile(pattern).groupindex
        if value not in groups:
            known = ", ".join(groups) or "none"
            raise ValueError(f"regex has no named group {value!r} (named groups: {known})")
        return value

    @field_validator("digest")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", value):
            raise ValueError(f"{value!r} is not a valid tag")
        return value

    @model_validator(mode="after")
    def _one_strategy(self) -> Policy:
        if self.digest is not None and (self.semver or self.regex or self.order):
            raise ValueError("digest tracking cannot be combined with semver, regex or order")
        if self.semver is not None and self.order is not None:
            raise ValueError("order applies to regex policies; semver has its own order")
        if self.regex is not None and self.semver is None and self.order is None:
            raise ValueError("a regex policy needs order: numeric or alphabetical")
        if self.order is not None and self.regex is None:
            raise ValueError("order needs a regex (with extract, or the whole tag is ordered)")
        if self.semver is None and self.regex is None and self.digest is None:
            raise ValueError("give one of semver, regex (with order) or digest")
        return self


BRANCHES_HELP = "branch globs; any ref if both these and tags are empty"
TAGS_HELP = "git tag globs (v*); any ref if both these and branches are empty"


def ref_matches(ref: str | None, branches: Sequence[str], tags: Sequence[str]) -> bool:
    """Whether a build's git ref passes branch and tag globs (``fnmatch``, case-sensitive):
    any ref when both lists are empty; a branch ref (``refs/heads/x`` or a bare name) against
    ``branches`` only, a tag ref (``refs/tags/x``) against ``tags`` only. The one ref filter of
    CI triggers and CI gates."""
    if not branches and not tags:
        return True
    branch, tag = branch_of(ref), tag_of(ref)
    if branch is not None and any(fnmatchcase(branch, g) for g in branches):
        return True
    return tag is not None and any(fnmatchcase(tag, g) for g in tags)


def rule_ref(
    ref: str | None, name: str | None, branches: Sequence[str], tags: Sequence[str]
) -> str | None:
    """The build's ref as a rule with these globs reads it. ``ref`` when the sender said it;
    for a run whose sender named it without saying branch or tag (``extra.ref_name``, GitHub's
    ``head_branch`` of a push run), the kind whose globs the name matches, tags first (a rule
    that lists tags expects tag runs); ``None`` when neither list matches it."""
    if ref or not name:
        return ref
    if any(fnmatchcase(name, glob) for glob in tags):
        return f"refs/tags/{name}"
    if any(fnmatchcase(name, glob) for glob in branches):
        return f"refs/heads/{name}"
    return None


class Gate(Strict):
    """Hold an image push until CI for the image's revision succeeded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    ci: str = Field(min_length=1, description="CI sender, e.g. github, gitlab")
    repository: str | None = Field(
        None,
        validation_alias=AliasChoices("repository", "project"),
        description="CI project (owner/name); any when omitted",
    )
    workflow: str | None = Field(None, description="workflow / pipeline name; any when omitted")
    branches: list[str] = Field(default_factory=list, description=BRANCHES_HELP)
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP)
    hold_seconds: int = Field(3600, gt=0, description="how long a held push waits for CI")

    def matches(
        self, *, source: str, repository: str, pipeline: str, ref: str, ref_name: str = ""
    ) -> bool:
        """Whether a CI result (as recorded: empty strings for unknowns) counts for this gate;
        ``ref_name``: a ref's name whose kind the sender did not say (see ``rule_ref``)."""
        seen = rule_ref(ref, ref_name, self.branches, self.tags)
        return (
            source == self.ci
            and (self.repository is None or repository == self.repository)
            and (self.workflow is None or pipeline == self.workflow)
            and ref_matches(seen, self.branches, self.tags)
        )

    def matches_record(self, record: Mapping[str, str]) -> bool:
        """``matches`` for a CI result as the worker records it (``worker.store.record_ci``):
        missing keys are unknowns (a result recorded before refs were kept has no ``ref``)."""
        return self.matches(
            source=record.get("source", ""),
            repository=record.get("repository", ""),
            pipeline=record.get("pipeline", ""),
            ref=record.get("ref", ""),
            ref_name=record.get("ref_name", ""),
        )


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
GLOB_CHARS = "*?["


def check_render_path(value: str) -> str:
    """A directory or file to render: relative, inside the repo, no glob characters."""
    check_path_glob(value)
    if any(char in value for char in GLOB_CHARS):
        raise ValueError(f"{value!r}: a render path is a directory or file, not a glob")
    return value


RenderPath = Annotated[str, AfterValidator(check_render_path)]


class Cluster(Strict):
    """Where a ``deploy: push`` target is applied, and how its files are rendered.

    Every field has a default, so ``deploy: push`` alone means: in-cluster credentials,
    namespace ``default``, a plain render of the directories the target's path globs start with.
    """

    name: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$",
        description="deployer name: label value on applied objects, prefix of its ConfigMaps "
        "(default bumper-push-<image rule>-<target index>)",
    )
    kubeconfig: str | None = Field(
        None,
        min_length=1,
        description="kubeconfig file (relative to bumper.yaml); in-cluster if unset",
    )
    context: str | None = Field(None, min_length=1, description="kubeconfig context")
    namespace: str = Field("default", pattern=DNS_LABEL, description="for objects without one")
    state_namespace: str | None = Field(
        None, pattern=DNS_LABEL, description="where the status/inventory ConfigMaps live"
    )
    render: Literal["plain", "kustomize", "helm"] = "plain"
    paths: list[RenderPath] = Field(
        default_factory=list, description="what to render; default: the globs' fixed prefixes"
    )
    helm_release: str = Field("release", pattern=DNS_LABEL)
    helm_values: list[RenderPath] = Field(default_factory=list)
    health_timeout: float = Field(300.0, gt=0, le=3600, description="seconds a rollout may take")
    prune: bool = Field(True, description="delete objects that left the render")
    field_manager: str = Field("bumper-push", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _helm_values_need_helm(self) -> Cluster:
        if self.helm_values and self.render != "helm":
            raise ValueError("helm_values needs render: helm")
        return self


def render_paths(globs: Iterable[str]) -> list[str]:
    """The fixed directory prefix of each glob (``apps/a/**`` → ``apps/a``), nested ones dropped."""
    found: list[str] = []
    for glob in globs:
        fixed: list[str] = []
        for part in glob.split("/"):
            if any(char in part for char in GLOB_CHARS):
                break
            fixed.append(part)
        found.append("/".join(fixed) or ".")
    unique = sorted(set(found))
    return [
        p
        for p in unique
        if p == "." or not any(q == "." or p.startswith(q + "/") for q in unique if q != p)
    ]


class Target(Strict):
    """Where an image is bumped: path globs in one repo, how the change lands in Git (``mode``)
    and who applies it to a cluster (``deploy``: the pull agent, or the worker itself)."""

    repo: str
    paths: list[PathGlob] = Field(min_length=1)
    mode: Literal["commit", "pr", "pr-automerge"] = "pr"
    # "delivery" is the key's old name, accepted for one release (see CHANGELOG.md): the word
    # now means only a webhook delivery.
    deploy: Literal["pull", "push"] = Field(
        "pull", validation_alias=AliasChoices("deploy", "delivery")
    )
    cluster: Cluster | None = Field(None, description="push mode: where and how to apply")
    pr_render: bool = Field(
        False,
        description="PR modes: render the affected kustomize overlay or helm release before "
        "and after, and show what changes in the cluster in the PR body",
    )

    @model_validator(mode="after")
    def _cluster_needs_push(self) -> Target:
        if self.cluster is not None and self.deploy != "push":
            raise ValueError("cluster is only used with deploy: push")
        return self

    @model_validator(mode="after")
    def _pr_render_needs_a_pr(self) -> Target:
        if self.pr_render and self.mode == "commit":
            raise ValueError("pr_render shows a render in the PR: it needs mode pr or pr-automerge")
        return self

    def push_cluster(self) -> Cluster:
        """The cluster section of a push target, defaults filled in (paths from the globs)."""
        cluster = self.cluster or Cluster()
        if cluster.paths:
            return cluster
        return cluster.model_copy(update={"paths": render_paths(self.paths)})


class Image(Strict):
    """One rule: an image (or a Helm chart), its policy, an optional gate, targets, and PR
    decoration.

    A chart rule gives ``chart`` (``oci://host/path/name``, or a chart name with
    ``chart_repository``, a classic Helm repository URL) instead of ``image``; ``image`` then
    holds the chart's key (``bumper.core.charts.key``: for an OCI chart its registry
    repository, which registry events and polling name), so the rest of the flow is shared.
    """

    name: str = Field(pattern=NAME_PATTERN)
    image: str = Field(description="registry/repository, normalised (nginx → docker.io/...)")
    chart: str | None = Field(
        None,
        description="a Helm chart instead of an image: oci://host/path/name, or a chart name "
        "with chart_repository",
    )
    chart_repository: str | None = Field(
        None, description="the classic Helm repository (https://..., serving index.yaml)"
    )
    policy: Policy
    gate: Gate | None = None
    targets: list[Target] = Field(min_length=1)
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    commit_message: str | None = None
    pr_title: str | None = None
    pr_body: str | None = None
    commit_style: Literal["plain", "conventional"] = Field(
        "plain",
        description="commit subject and PR title when no template is given: plain "
        "('Bump api to 1.7.0') or conventional ('chore(deps): bump api to 1.7.0')",
    )
    poll: PollInterval = Field(
        None, description="poll the image's registry this often (needs a registries entry)"
    )
    verify: Verify | None = Field(
        None,
        description="signatures a candidate needs before it is bumped (needs a registries "
        "entry); replaces the registry's verify",
    )

    @model_validator(mode="before")
    @classmethod
    def _chart_key(cls, data: Any) -> Any:
        """A chart rule's ``image`` is its chart's key (given ``image`` is an error)."""
        if not isinstance(data, Mapping):
            return data
        if data.get("chart") is None:
            if data.get("image") is None:
                raise ValueError("give image (a container image) or chart (a Helm chart)")
            return data
        if "image" in data:
            raise ValueError("give either image or chart, not both")
        chart, repository = data.get("chart"), data.get("chart_repository")
        if not isinstance(chart, str) or not isinstance(repository, str | None):
            return data  # the field checks report the type
        name, repo = _chart_identity(chart, repository)
        return {**data, "image": charts.key(repo, name)}

    @property
    def artifact(self) -> str:
        """``"chart"`` for a chart rule, else ``"image"``."""
        return "image" if self.chart is None else "chart"

    def chart_identity(self) -> tuple[str, str]:
        """A chart rule's chart name and normalised repository."""
        assert self.chart is not None
        return _chart_identity(self.chart, self.chart_repository)

    @field_validator("image")
    @classmethod
    def _normalise(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("name") is not None and "://" in value:
            return value  # a classic chart's key, made by _chart_key (https://host/path/name)
        try:
            ref = refs.parse(value)
        except InvalidReference as error:
            raise ValueError(str(error)) from None
        if ref.tag is not None or ref.digest is not None:
            raise ValueError("give the image without a tag or digest; the policy picks tags")
        return ref.name

    @model_validator(mode="after")
    def _image_is_a_name(self) -> Image:
        if self.chart is None and "://" in self.image:
            raise ValueError(f"{self.image[:80]!r} is not an image name (a chart? use chart:)")
        if "://" in self.image and self.verify is not None:
            raise ValueError(
                "verify reads signatures from an OCI registry: not for a chart of a "
                "classic Helm repository"
            )
        return self

    @field_validator("commit_message", "pr_title", "pr_body")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return _check_template(value, TEMPLATE_FIELDS)


def _chart_identity(chart: str, repository: str | None) -> tuple[str, str]:
    """(chart name, normalised repository) of a chart rule; ``ValueError`` when incomplete."""
    try:
        if chart.startswith(charts.OCI):
            if repository is not None:
                raise ValueError("an oci:// chart names its repository; drop chart_repository")
            base, name = charts.split_oci(chart)
            return charts.validate_name(name), base
        if repository is None:
            raise ValueError("give chart: oci://host/path/name, or chart_repository with a name")
        if not re.match(r"^(https?|oci)://[^/\s]+", repository):
            raise ValueError(f"chart_repository {repository[:80]!r} is not an http(s) or oci URL")
        urls.refuse_inline_credentials(repository, instead="a registries entry")
        return charts.validate_name(chart), charts.normalize_repository(repository)
    except InvalidReference as error:
        raise ValueError(str(error)) from None


class CiTrigger(Strict):
    """A successful build of a CI project bumps an image to a tag made from the event."""

    name: str = Field(pattern=NAME_PATTERN)
    source: str = Field(min_length=1, description="CI sender of build.finished, e.g. github")
    repository: str = Field(
        min_length=1,
        validation_alias=AliasChoices("repository", "project"),
        description="CI project as the event names it (owner/name)",
    )
    workflow: str | None = Field(None, description="workflow / pipeline name; any when omitted")
    branches: list[str] = Field(default_factory=list, description=BRANCHES_HELP)
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP)
    image: str = Field(description="name of an entry in images")
    tag: str = Field("{short_sha}", description="tag template over the event's fields")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("tag")
    @classmethod
    def _tag_template(cls, value: str) -> str:
        if not template_fields(value):
            raise ValueError("the tag template uses no event field, so every build gives it")
        _check_template(value, CI_TAG_FIELDS)
        return value

    def matches(self, build: events.BuildFinished) -> bool:
        """Whether ``build`` is one this trigger is for (whatever its status)."""
        if build.source != self.source or build.repository != self.repository:
            return False
        if self.workflow is not None and build.pipeline != self.workflow:
            return False
        return ref_matches(self._ref(build), self.branches, self.tags)

    def _ref(self, build: events.BuildFinished) -> str | None:
        name = build.extra.get("ref_name")
        return rule_ref(
            build.ref, name if isinstance(name, str) else None, self.branches, self.tags
        )

    def render_tag(self, build: events.BuildFinished) -> str:
        """The tag this build produced; :class:`PermanentError` if the event lacks a field."""
        fields = ci_fields(dataclasses.replace(build, ref=self._ref(build)))
        missing = sorted(f for f in template_fields(self.tag) if not fields[f])
        if missing:
            raise PermanentError(
                f"ci trigger {self.name!r}: the build event has no {', '.join(missing)}",
                reason="ci_tag",
            )
        tag = self.tag.format(**fields)
        try:
            return refs.validate_tag(tag)
        except InvalidReference as error:
            raise PermanentError(f"ci trigger {self.name!r}: {error}", reason="ci_tag") from None


def branch_of(ref: str | None) -> str | None:
    """``refs/heads/feature/x`` → ``feature/x``; a bare name is a branch; tags are not."""
    if not ref or ref.startswith("refs/tags/"):
        return None
    return ref.removeprefix("refs/heads/")


def tag_of(ref: str | None) -> str | None:
    """``refs/tags/v1.4.0`` → ``v1.4.0``; anything else is not a tag."""
    if not ref or not ref.startswith("refs/tags/"):
        return None
    return ref.removeprefix("refs/tags/") or None


def ci_fields(build: events.BuildFinished) -> dict[str, str]:
    """The values a ci trigger's tag template may use (see :data:`CI_TAG_FIELDS`)."""
    sha = build.commit or ""
    branch = branch_of(build.ref) or ""
    return {
        "sha": sha,
        "short_sha": sha[:7],
        "branch": re.sub(r"[^A-Za-z0-9_.-]", "-", branch),
        "git_tag": re.sub(r"[^A-Za-z0-9_.-]", "-", tag_of(build.ref) or ""),
        "ref": build.ref or "",
        "repository": build.repository or "",
        "pipeline": build.pipeline or "",
        "source": build.source,
    }


class BumperConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["bumper/v1"] = Field(alias="apiVersion")
    receivers: list[Receiver] = Field(default_factory=list)
    repos: list[Repo] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    ci: list[CiTrigger] = Field(default_factory=list)
    agents: list[AgentClient] = Field(default_factory=list)
    registries: list[RegistryEntry] = Field(default_factory=list)
    # Each environment of a pipeline is also an image rule (``<pipeline>.<environment>``),
    # appended to ``images`` once validated: the bump path, CI gate and logs are the rules'.
    pipelines: list[Pipeline] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_fields(self) -> BumperConfig:
        issues = cross_check(self.model_dump(by_alias=True))
        if issues:
            raise PydanticCustomError(
                "cross_field", "{issues}", {"issues": "; ".join(map(str, issues))}
            )
        derived = [rule for pipeline in self.pipelines for rule in pipeline.rules()]
        if derived:
            # frozen model: set once, here, before anyone reads it
            self.__dict__["images"] = [*self.images, *derived]
        return self

    def stage(self, rule: str) -> Stage | None:
        """The pipeline and environment an image rule was made for, or None."""
        for pipeline in self.pipelines:
            for index in range(len(pipeline.environments)):
                if pipeline.rule_name(index) == rule:
                    return Stage(pipeline, index)
        return None

    def pipeline(self, name: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.name == name), None)

    def receiver(self, name: str) -> Receiver | None:
        return next((r for r in self.receivers if r.name == name), None)

    def repo(self, name: str) -> Repo | None:
        return next((r for r in self.repos if r.name == name), None)

    def image(self, name: str) -> Image | None:
        return next((i for i in self.images if i.name == name), None)

    def images_for(self, image: str) -> list[Image]:
        """Rules for a normalised image name (an event's ``image``), in file order."""
        return [rule for rule in self.images if rule.image == image]

    def triggers_for(self, source: str, repository: str | None) -> list[CiTrigger]:
        """CI triggers for a build of ``repository`` reported by ``source``."""
        return [t for t in self.ci if t.source == source and t.repository == repository]

    def registry(self, host: str) -> RegistryEntry | None:
        """The ``registries`` entry for a registry host, or None: then Bumper never calls it."""
        return next((r for r in self.registries if r.host == host), None)

    def verify_for(self, rule: Image) -> Verify | None:
        """What a candidate of ``rule`` must be signed with: the rule's ``verify``, else its
        registry entry's, else None (no signature needed)."""
        if rule.verify is not None:
            return rule.verify
        entry = self.registry(_host_of(rule.image))
        return entry.verify if entry is not None else None

    def registry_hosts(self) -> dict[str, str]:
        """Each registries entry's name (its host when unnamed) → host, for receivers' scope."""
        return {entry.label: entry.host for entry in self.registries}


def _host_of(image: str) -> str:
    """The registry host of a normalised image name (``ghcr.io/acme/api`` → ``ghcr.io``)."""
    return image.partition("/")[0]


# -- cross-field checks -------------------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One problem in the file: where (``loc``, e.g. ``('images', 1, 'policy')``) and what."""

    loc: Loc
    message: str
    line: int | None = None  # 1-based, when the reader knows it
    # A warning does not make the file invalid (``bumper check-config`` prints it, exit 0).
    warning: bool = False

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def __str__(self) -> str:
        where = self.path or "(top level)"
        line = f" (line {self.line})" if self.line else ""
        return f"{where}{line}: {self.message}"


def format_loc(loc: Iterable[str | int]) -> str:
    """``('images', 1, 'policy', 'semver')`` → ``images[1].policy.semver``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _items(data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _unique_names(data: Mapping[str, Any], key: str) -> list[Issue]:
    seen: dict[str, int] = {}
    issues = []
    for index, item in _items(data, key):
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            message = f"duplicate name {name!r} (first at {key}[{seen[name]}])"
            issues.append(Issue((key, index, "name"), message))
        else:
            seen[name] = index
    return issues


def cross_check(data: Mapping[str, Any]) -> list[Issue]:
    """Rules across entries, on the raw document; tolerant of entries that are malformed."""
    issues: list[Issue] = []
    for key in ("receivers", "repos", "images", "ci", "agents", "registries"):
        issues += _unique_names(data, key)
    issues += _pipeline_issues(data)
    repos = {item.get("name") for _, item in _items(data, "repos")}
    images = {item.get("name") for _, item in _items(data, "images")}
    for index, rule in _items(data, "images"):
        targets = rule.get("targets")
        for t_index, target in enumerate(targets if isinstance(targets, list) else []):
            repo = target.get("repo") if isinstance(target, Mapping) else None
            if isinstance(repo, str) and repo not in repos:
                known = ", ".join(sorted(r for r in repos if isinstance(r, str))) or "none"
                message = f"unknown repo {repo!r} (repos: {known})"
                issues.append(Issue(("images", index, "targets", t_index, "repo"), message))
    issues += _registry_issues(data)
    for index, trigger in _items(data, "ci"):
        wanted = trigger.get("image")
        if isinstance(wanted, str) and wanted not in images:
            message = f"unknown image rule {wanted!r}: name an entry of images"
            issues.append(Issue(("ci", index, "image"), message))
    return issues


def _registry_issues(data: Mapping[str, Any]) -> list[Issue]:
    """One entry per host and per name; scope names and polled rules need an entry."""
    issues: list[Issue] = []
    hosts: dict[str, int] = {}
    names: set[str] = set()
    for index, entry in _items(data, "registries"):
        host = entry.get("host")
        if isinstance(host, str):
            try:
                host = scope.check_host(host)
            except ValueError:
                continue  # reported by the field check
            if host in hosts:
                message = f"duplicate host {host!r} (first at registries[{hosts[host]}])"
                issues.append(Issue(("registries", index, "host"), message))
            hosts.setdefault(host, index)
            names.add(host)
        if isinstance(entry.get("name"), str):
            names.add(entry["name"])
    for index, receiver in _items(data, "receivers"):
        wanted = (
            receiver.get("scope", {}).get("images")
            if isinstance(receiver.get("scope"), Mapping)
            else None
        )
        for i_index, item in enumerate(wanted if isinstance(wanted, list) else []):
            if isinstance(item, str) and not re.search(r"[./:]", item) and item != "localhost":
                if item not in names:
                    known = ", ".join(sorted(names)) or "none"
                    message = f"{item!r} names no registries entry (registries: {known})"
                    issues.append(Issue(("receivers", index, "scope", "images", i_index), message))
    for index, rule in _items(data, "images"):
        for key, doing in (("poll", "polling"), ("verify", "verifying signatures on")):
            host = _host_needing_entry(rule, key)
            if host is not None and host not in hosts:
                message = f"{doing} {host} needs an entry in registries (host: {host})"
                issues.append(Issue(("images", index, key), message))
    return issues


def _host_needing_entry(rule: Mapping[str, Any], key: str) -> str | None:
    """The registry host of an image rule that sets ``key`` (poll, verify), else None."""
    image = rule.get("image")
    if rule.get(key) in (None, "off", False) or not isinstance(image, str):
        return None
    try:
        return refs.parse(image).registry
    except InvalidReference:
        return None


def mode_issues(data: Mapping[str, Any]) -> list[Issue]:
    """Targets whose written-out ``mode`` their repo's forge cannot do. On the raw document:
    the model fills in the default mode, which is not refused (see ``_mode_needs_forge``)."""
    forges = {item.get("name"): item.get("forge") for _, item in _items(data, "repos")}
    issues: list[Issue] = []
    for index, rule in _items(data, "images"):
        targets = rule.get("targets")
        for t_index, target in enumerate(targets if isinstance(targets, list) else []):
            repo = target.get("repo") if isinstance(target, Mapping) else None
            if isinstance(repo, str) and forges.get(repo) == "git":
                issues += _mode_needs_forge(target, repo, ("images", index, "targets", t_index))
    return issues


def _mode_needs_forge(target: Mapping[str, Any], repo: str, loc: Loc) -> list[Issue]:
    """A plain git repo has no pull requests: only ``mode: commit`` can land there. Only a
    mode written out is refused here; the default (``pr``) on such a repo is a warning of
    ``bumper check-config`` (``bumper.configcheck``), as files relying on it still load."""
    mode = target.get("mode")
    if mode in (None, "commit") or not isinstance(mode, str):
        return []
    message = (
        f"mode {mode} needs pull requests, but repo {repo!r} is forge: git (a plain remote): "
        "set mode: commit, or use forge: github or gitlab"
    )
    return [Issue((*loc, "mode"), message)]


def validate(data: Any) -> tuple[BumperConfig | None, list[Issue]]:
    """Validate a parsed document: the config, or every issue found (field and cross-field)."""
    if not isinstance(data, Mapping):
        return None, [Issue((), "the document must be a mapping with apiVersion: bumper/v1")]
    try:
        config = BumperConfig.model_validate(data)
    except ValidationError as error:
        issues = [
            Issue(tuple(e["loc"]), _message(e))
            for e in error.errors()
            if e["type"] != "cross_field"
        ]
        return None, issues + cross_check(data) + mode_issues(data)
    issues = mode_issues(data)
    return (None, issues) if issues else (config, [])


def _message(error: Any) -> str:
    message = str(error["msg"])
    # pydantic prefixes messages from our validators with "Value error, ".
    return message.removeprefix("Value error, ")


# -- promotion pipelines --------------------------------------------------------------------


class PromotionGate(Strict):
    """What a digest needs before it enters an environment of a pipeline: health in the
    previous environment (``healthy_for``), a CI result in the rules' gate syntax (``ci:``
    names the sender, ``workflow:`` the pipeline; ``Gate``), and ``approval: pr`` (a human
    merges the promotion PR)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    healthy_for: PollInterval = Field(
        None, description="ran ready this long in the previous environment, that exact digest"
    )
    ci: str | None = Field(None, min_length=1, description="CI sender, e.g. github, gitlab")
    repository: str | None = Field(
        None, validation_alias=AliasChoices("repository", "project"), description="CI project"
    )
    workflow: str | None = Field(None, description="workflow / pipeline name; any when omitted")
    branches: list[str] = Field(default_factory=list, description=BRANCHES_HELP)
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP)
    hold_seconds: int = Field(3600, gt=0, description="first environment: how long CI is awaited")
    approval: Literal["pr"] | None = Field(None, description="pr: a human merges the PR")

    @model_validator(mode="after")
    def _ci_keys_need_ci(self) -> PromotionGate:
        if self.ci is None and (self.repository or self.workflow or self.branches or self.tags):
            raise ValueError("repository, workflow, branches and tags need ci: (the CI sender)")
        return self

    def ci_gate(self) -> Gate | None:
        """The CI part as a rule's ``Gate`` (one gate mechanism, one store of CI results)."""
        if self.ci is None:
            return None
        return Gate(
            ci=self.ci,
            repository=self.repository,
            workflow=self.workflow,
            branches=self.branches,
            tags=self.tags,
            hold_seconds=self.hold_seconds,
        )


class Environment(Strict):
    """One environment of a pipeline: its targets, who reports its health, its gate."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")
    agent: str | None = Field(
        None,
        description="the agents entry (or push target cluster name) reporting its health",
    )
    gate: PromotionGate | None = None
    targets: list[Target] = Field(min_length=1)


class Pipeline(Strict):
    """An image promoted through environments in order: the first follows ``policy``; each
    later one receives exactly the ``tag@digest`` that ran healthy in the one before it.
    Each environment becomes an image rule named ``<pipeline>.<environment>``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")
    image: str = Field(description="registry/repository, normalised like an image rule's")
    policy: Policy
    environments: list[Environment] = Field(min_length=2, max_length=20)
    max_report_age: PollInterval = Field(
        300, description="health evidence older than this does not count (agent report interval)"
    )
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    commit_message: str | None = None
    pr_title: str | None = None
    pr_body: str | None = None
    poll: PollInterval = None
    verify: Verify | None = None

    @field_validator("image")
    @classmethod
    def _normalise(cls, value: str) -> str:
        try:
            ref = refs.parse(value)
        except InvalidReference as error:
            raise ValueError(str(error)) from None
        if ref.tag is not None or ref.digest is not None:
            raise ValueError("give the image without a tag or digest; the policy picks tags")
        return ref.name

    @model_validator(mode="after")
    def _gates_fit(self) -> Pipeline:
        names = [env.name for env in self.environments]
        if len(set(names)) != len(names):
            raise ValueError(f"environment names repeat: {', '.join(names)}")
        first = self.environments[0].gate
        if first is not None and first.healthy_for is not None:
            raise ValueError("the first environment follows the tag policy: no healthy_for")
        for before, env in zip(self.environments, self.environments[1:], strict=False):
            if before.agent is None:  # a later environment gets only what ran healthy before it
                raise ValueError(
                    f"{before.name}: needs agent: (who reports its health): {env.name} "
                    f"receives only what ran healthy in {before.name}"
                )
        for env in self.environments:
            if env.gate is not None and env.gate.approval == "pr":
                if any(t.mode != "pr" for t in env.targets):
                    raise ValueError(f"{env.name}: approval: pr needs mode: pr on its targets")
        return self

    def rule_name(self, index: int) -> str:
        return f"{self.name}.{self.environments[index].name}"

    def rules(self) -> list[Image]:
        """One image rule per environment; later ones pin the digest (``tag@digest``)."""
        made = []
        for index, env in enumerate(self.environments):
            later = {"pin_digest": True}
            pinned = self.policy if index == 0 else self.policy.model_copy(update=later)
            gate = env.gate.ci_gate() if env.gate is not None and index == 0 else None
            made.append(
                Image(
                    name=self.rule_name(index),
                    image=self.image,
                    policy=pinned,
                    gate=gate,
                    targets=env.targets,
                    labels=self.labels,
                    reviewers=self.reviewers,
                    commit_message=self.commit_message,
                    pr_title=self.pr_title,
                    pr_body=self.pr_body,
                    poll=self.poll if index == 0 else None,
                    verify=self.verify,
                )
            )
        return made


@dataclass(frozen=True)
class Stage:
    """Where an image rule sits in a pipeline (``BumperConfig.stage``)."""

    pipeline: Pipeline
    index: int

    @property
    def environment(self) -> Environment:
        return self.pipeline.environments[self.index]


def _pipeline_issues(data: Mapping[str, Any]) -> list[Issue]:
    """Pipelines' names, targets' repos and agents; their rules' names against ``images``."""
    issues = _unique_names(data, "pipelines")
    repos = {item.get("name") for _, item in _items(data, "repos")}
    images = {item.get("name") for _, item in _items(data, "images")}
    reporters = {item.get("name") for _, item in _items(data, "agents")} | _push_clusters(data)
    for index, pipeline in _items(data, "pipelines"):
        envs = pipeline.get("environments")
        for e_index, env in enumerate(envs if isinstance(envs, list) else []):
            if not isinstance(env, Mapping):
                continue
            loc: Loc = ("pipelines", index, "environments", e_index)
            rule = f"{pipeline.get('name')}.{env.get('name')}"
            if rule in images:
                issues.append(Issue((*loc, "name"), f"{rule!r} is also an images entry's name"))
            agent = env.get("agent")
            if isinstance(agent, str) and agent not in reporters:
                known = ", ".join(sorted(r for r in reporters if isinstance(r, str))) or "none"
                message = f"unknown agent {agent!r} (agents and push clusters: {known})"
                issues.append(Issue((*loc, "agent"), message))
            targets = env.get("targets")
            for t_index, target in enumerate(targets if isinstance(targets, list) else []):
                repo = target.get("repo") if isinstance(target, Mapping) else None
                if isinstance(repo, str) and repo not in repos:
                    message = f"unknown repo {repo!r}"
                    issues.append(Issue((*loc, "targets", t_index, "repo"), message))
    return issues


def _push_clusters(data: Mapping[str, Any]) -> set[str]:
    """The names of push targets' clusters (push mode reports health under them)."""
    holders = [rule for _, rule in _items(data, "images")]
    for _, pipeline in _items(data, "pipelines"):
        envs = pipeline.get("environments")
        holders += (
            [env for env in envs if isinstance(env, Mapping)] if isinstance(envs, list) else []
        )
    names: set[str] = set()
    for holder in holders:
        targets = holder.get("targets")
        for target in targets if isinstance(targets, list) else []:
            cluster = target.get("cluster") if isinstance(target, Mapping) else None
            if isinstance(cluster, Mapping) and isinstance(cluster.get("name"), str):
                names.add(cluster["name"])
    return names


BumperConfig.model_rebuild()
