"""Jenkins Notification plugin (JSON format) → ``build.finished``.

The plugin signs nothing; with user-info in the endpoint URL it sends Basic credentials.
Secret: a header credential (see ``bumper.sources._auth``): ``user:password`` for Basic, a
bare token for ``Authorization: Bearer <token>``, or ``{"header": "X-Name", "value": "..."}``.

Mapping: phases COMPLETED and FINALIZED (FINISHED in the plugin's old releases) →
``build.finished``, STARTED and QUEUED are ignored. Both final phases arrive for one build,
with different bodies: the build's own URL (``build.url``,
``job/<folder>/job/<name>/<number>/``, else job ``name`` and ``build.number``) is
``extra.run_id``, so they count once, and two builds of one commit count as two. Status
SUCCESS → success, FAILURE and UNSTABLE → failure, ABORTED → cancelled, NOT_BUILT →
skipped. Commit, branch and repository come from ``build.scm`` (old releases send none); a
branch ``origin/x`` is the remote-tracking name of ``x``. Pipeline = the job ``name``, url =
``build.full_url``. Jenkins sends no delivery id.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    load_object,
    map_status,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "jenkins"
# FINISHED: the plugin's last phase before it was renamed FINALIZED (1.x releases).
FINAL_PHASES = frozenset({"COMPLETED", "FINALIZED", "FINISHED"})
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
        return drop(NAME, f"phase {phase!r} is not COMPLETED, FINALIZED or FINISHED")
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
        extra=_run(data, build),
    )


def _run(data: dict[str, Any], build: dict[str, Any]) -> dict[str, Any]:
    """``extra.run_id``: the build's path on its Jenkins, or job name and number."""
    number = build.get("number")
    run_id = text(build, "url")
    if not run_id and text(data, "name") and type(number) is int:
        run_id = f"{text(data, 'name')}#{number}"
    run_id = capped_id(run_id)
    return {"run_id": run_id} if run_id else {}
