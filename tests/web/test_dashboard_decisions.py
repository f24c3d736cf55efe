"""The dashboard's policy-decision table, read from the decision log in the real Redis."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from bumper import decisions
from bumper.core import events, policy

API = "ghcr.io/acme/api"


def _record(client: redis.Redis) -> None:
    log = decisions.DecisionLog(client)
    push = events.ImageEvent("image.pushed", API, "1.5.0", source="ghcr", delivery_id="dl-7")
    accepted = policy.Decision("1.5.0", "semver ^1.4", "accepted", "newer than 1.4.0", "1.4.0")
    log.record(accepted, image=API, rule_name="api", target="api/0", event=push, at=0.0)
    evil = policy.Decision("<b>x</b>", "regex", "rejected", "<script>no</script>")
    log.record(evil, image="docker.io/library/nginx", rule_name="web", at=1.0)


def test_dashboard_lists_decisions_with_their_explanation(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    _record(redis_client)
    html = ops_client.get("/").get_data(as_text=True)
    table = html.split('id="decisions"', 1)[1]
    assert "1970-01-01 00:00:00" in table and "<code>1.5.0</code>" in table
    assert "newer than 1.4.0" in table and "semver ^1.4" in table and "dl-7" in table
    assert "(api)" in table and "api/0" in table
    assert "<script>no</script>" not in table and "&lt;script&gt;no&lt;/script&gt;" in table
    assert table.index("<b>x</b>".replace("<", "&lt;").replace(">", "&gt;")) < table.index("1.5.0")


def test_dashboard_filters_decisions_by_image_or_rule(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    _record(redis_client)
    for image in ("api", API):
        table = ops_client.get(f"/?image={image}").get_data(as_text=True).split('id="decisions"')[1]
        assert "1.5.0" in table and "nginx" not in table


def test_dashboard_without_decisions_says_so(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    assert "No decisions yet." in ops_client.get("/").get_data(as_text=True)
