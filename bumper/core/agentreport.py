"""What a pull agent reports to the web process (``POST /agent/v1/reports``): one schema for
both ends, the agent's ``reporter`` that builds it and the web's ``agents`` view that checks it.

A report carries the agent's health summary and the images that failed health in its cluster
(the records of ``bumper.agent.badimages``). Everything is bounded: the body, the number of
records, every string; unknown keys are refused, so a report cannot smuggle other data in.
The agent's identity is never taken from the report: the web stamps each record with the name
its token belongs to.

Pure: validation only, no I/O.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PATH = "/agent/v1/reports"
MAX_BODY_BYTES = 256 * 1024
MAX_RECORDS = 100
MAX_RUNNING = 500

# One line, no control characters: these end up on the dashboard and in decision logs.
_Line = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BadImage(_Strict):
    """One image that failed health (``bumper.agent.badimages.record_for``)."""

    ref: _Line = Field(min_length=1, max_length=512)
    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$")
    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    digest: str | None = Field(None, pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
    commit: str = Field("", pattern=r"^[0-9a-f]{0,64}$")
    reason: _Line = Field("", max_length=500)
    at: str = Field("", pattern=r"^[0-9T:.+Z-]{0,40}$")
    # Whatever the agent calls itself; the web replaces it with the token's agent name.
    agent: _Line | None = Field(None, max_length=63)


class Health(_Strict):
    """The agent's last pass, as its status ConfigMap shows it."""

    health: str = Field(pattern=r"^[A-Za-z]{1,32}$")
    commit: str = Field("", pattern=r"^[0-9a-f]{0,64}$")
    message: _Line = Field("", max_length=500)
    last_error: _Line = Field("", max_length=500)
    last_sync_time: str = Field("", pattern=r"^[0-9T:.+Z-]{0,40}$")


_Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")]


class Running(_Strict):
    """One container of a workload the agent applied, with the digest its pods really run.

    ``digest`` is observed (the pods' ``status.containerStatuses[].imageID``), not the one the
    manifest asks for: promotion trusts only what ran. ``ready`` is true only when every pod
    of the workload that runs this container is ready on that digest."""

    namespace: _Name
    kind: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,62}$")
    name: _Name
    container: _Name
    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$")
    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    digest: str = Field(pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
    ready: bool
    commit: str = Field("", pattern=r"^[0-9a-f]{0,64}$")


class Report(_Strict):
    status: Health | None = None
    bad_images: list[BadImage] = Field(default_factory=list, max_length=MAX_RECORDS)
    # What runs, per container, with observed digests (the health evidence of promotion).
    running: list[Running] = Field(default_factory=list, max_length=MAX_RUNNING)
