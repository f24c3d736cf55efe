"""PR comments quote event and cluster text (CI names, URLs, health messages) on one line, with
links only to plain http(s) URLs: a sender cannot add Markdown blocks or lines to them."""

from __future__ import annotations

from bumper.core import events
from worker import pullrequests, pushdeploy, records


def test_comments_quote_ci_and_cluster_text_on_one_line() -> None:
    build = events.BuildFinished(
        type="build.finished",
        source="github",
        status="failure",
        commit="abc1234\n\nSigned-off-by: x",
        pipeline="ci`\n# owned",
        url="https://ci.example/run/1)(javascript:alert(1)",
    )
    text = pullrequests.ci_failed_comment(build)
    assert "\n" not in text and "](" not in text and "`ci'" in text
    done = records.Deployment("api/0", "a" * 40, "failed", "apply: refused\n\n## boom")
    assert "\n" not in pushdeploy.comment_text(done)
