"""The ``bumper.yaml`` model (``apiVersion: bumper/v1``), validated with pydantic.

Pure: it validates data already read from the file; reading and reporting live in the CLI.
Sections:

- ``receivers``: named webhook endpoints (``POST /hooks/<name>``), each with a sender type,
  a secret reference and the event kinds it may produce;
- ``repos``: config repositories and their forge;
- ``images``: rules that map an image to a tag policy and to targets in the repos.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EventKind = Literal["image.pushed", "image.deleted", "build.finished"]
ALL_EVENT_KINDS: tuple[EventKind, ...] = ("image.pushed", "image.deleted", "build.finished")


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
    insecure: bool = Field(False, description="accept without authentication (tests only)")

    @model_validator(mode="after")
    def _secret_unless_insecure(self) -> Receiver:
        if self.secret is None and not self.insecure:
            raise ValueError("a receiver needs 'secret' (or 'insecure: true' for local tests)")
        return self


class BumperConfig(BaseModel):
    """The whole file. ``repos`` and ``images`` are refined by the bump pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["bumper/v1"] = Field(alias="apiVersion")
    receivers: list[Receiver] = Field(default_factory=list)

    def receiver(self, name: str) -> Receiver | None:
        return next((r for r in self.receivers if r.name == name), None)
