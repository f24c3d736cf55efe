"""Jenkins Notification plugin (JSON format) → ``build.finished``.

The plugin signs nothing; with user-info in the endpoint URL it sends Basic credentials.
Secret: a header credential (see ``bumper.sources._auth``): ``user:password`` for Basic, a
bare token for ``Authorization: Bearer <token>``, or ``{"header": "X-Name", "value": "..."}``.

Mapping: phases COMPLETED and FINALIZED → ``build.finished`` (both may arrive for one build;
a repeated result is harmless), STARTED and QUEUED are ignored. Status SUCCESS → success,
FAILURE and UNSTABLE → failure, ABORTED → cancelled, NOT_BUILT → skipped. Commit, branch and
repository come from ``build.scm``; a branch ``origin/x`` is the remote-tracking name of ``x``.
Pipeline = the job ``name``, url = ``build.full_url``. Jenkins sends no delivery id.
"""

from __future__ import annotations

from bumper.core.events import BuildStatus, Event
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    drop,
    load_object,
    map_status,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "jenkins"
FINAL_PHASES = frozenset({"COMPLETED", "FINALIZED"})
STATUSES: dict[str, BuildStatus] = {
    "success": "success",
    "failure": "failure",
    "unstable": "failure",
    "aborted": "cancelled",
    "not_built": "skipped",
}


AUTH = _auth.HEADER_CREDENTIAL


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    build = obj(data, "build")
    phase = (text(build, "phase") or "").upper()
    if phase not in FINAL_PHASES:
        return drop(NAME, f"phase {phase!r} is not COMPLETED or FINALIZED")
    raw = text(build, "status")
    status = map_status(STATUSES, raw)
    if status is None:
        return drop(NAME, f"status {raw!r} is not a final build result")
    scm = obj(build, "scm")
    branch = text(scm, "branch")
    if branch and branch.startswith("origin/"):
        branch = branch.removeprefix("origin/")
    return build_event(
        NAME,
        status,
        commit=text(scm, "commit"),
        ref=branch_ref(branch),
        repository=repo_path(text(scm, "url")),
        pipeline=text(data, "name"),
        url=text(build, "full_url"),
    )
