"""Why the new image may be trusted, as a PR body section: the CI run that passed for its
revision, its digest, its signature status and, for a promotion, how long the digest has been
healthy in the previous environment.

Each line is always there: a piece that is not known says "unknown" and why, so a reviewer
never mistakes a missing line for a passed check. Data in (``Evidence``, filled by
``worker.prsections``), markdown out; every field from an event is one bounded line. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from bumper.core.changes import inline, safe_url
from bumper.core.prbody import EVIDENCE, Section

NOT_A_PROMOTION = "not a promotion"


@dataclass(frozen=True)
class CiRun:
    status: str  # success | failure | cancelled
    revision: str
    source: str = ""
    repository: str = ""
    pipeline: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Evidence:
    """``ci``: the recorded CI result of the new revision (None: ``ci_unknown`` says why);
    ``signature``: the verification verdict (None: the rule does not verify signatures);
    ``promotion``: the soak text of a promotion (None: not a promotion)."""

    digest: str | None = None
    ci: CiRun | None = None
    ci_unknown: str = "no CI result is recorded for the image's revision"
    signature: str | None = None
    promotion: str | None = None


def section(evidence: Evidence) -> Section:
    lines = [
        f"- **CI:** {_ci(evidence)}",
        f"- **Image digest:** {_digest(evidence.digest)}",
        f"- **Signature:** {_code_free(evidence.signature) if evidence.signature else _unsigned()}",
        f"- **Promotion:** {_code_free(evidence.promotion or NOT_A_PROMOTION)}",
    ]
    return Section("\n".join(lines), "Evidence", EVIDENCE)


def _ci(evidence: Evidence) -> str:
    run = evidence.ci
    if run is None:
        return f"unknown ({_code_free(evidence.ci_unknown)})"
    verdict = "passed" if run.status == "success" else _code_free(run.status)
    what = " ".join(
        part
        for part in (
            f"`{_code(run.pipeline)}`" if run.pipeline else "",
            f"in `{_code(run.repository)}`" if run.repository else "",
            f"({_code_free(run.source)})" if run.source else "",
        )
        if part
    )
    url = safe_url(run.url)
    link = f" ([run]({url}))" if url else ""
    subject = f" {what}" if what else ""
    return f"{verdict}{subject} for revision `{_code(run.revision[:12])}`{link}"


def _digest(digest: str | None) -> str:
    return f"`{_code(digest)}`" if digest else "unknown (the registry did not say)"


def _unsigned() -> str:
    return "not checked (the rule has no `verify:`)"


def _code(text: str) -> str:
    return inline(text, 200).replace("`", "'")


def _code_free(text: str) -> str:
    return inline(text, 500).replace("<", "&lt;")
