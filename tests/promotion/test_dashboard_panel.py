"""The dashboard's promotion panel through the Flask app (ops listener), on the state the real
flow left in Redis: per pipeline, each digest's status in each environment; server-rendered
(the full page without JavaScript, and the ``/panels/promotions`` fragment the page's script
fetches)."""

from __future__ import annotations

import json
import re

import pytest
import redis
from flask.testing import FlaskClient

from bumper import configfile, settings
from bumper.web import create_app, listeners
from tests.promotion.harness import D1, D2, IMAGE, drain, push, report
from tests.support.forgesim import ForgeSim
from worker import jobs


@pytest.fixture
def gates() -> dict[str, str]:
    return {"staging_gate": "{healthy_for: 10m}"}


@pytest.fixture
def dashboard(sim: ForgeSim) -> FlaskClient:
    current = settings.load()
    app = create_app(current, configfile.load(current.config_file))
    return listeners.ops_app(app).test_client()


def cells(html: str, digest: str) -> list[str]:
    row = html.split(f'data-digest="{digest}"', 1)[1].split("</tr>", 1)[0]
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1:]
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def test_the_panel_shows_each_digest_per_environment(
    sim: ForgeSim,
    web: FlaskClient,
    dashboard: FlaskClient,
    redis_client: redis.Redis,
) -> None:
    empty = dashboard.get("/panels/promotions").get_data(as_text=True)
    assert "No digest seen yet: none reported running in dev." in empty
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)  # D1 first seen before D2
    report(web, "dev", "1.2.0", D2, ready=False, bad="<b>not healthy</b> after 60s")
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    page = dashboard.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="promotions"' in html
    assert f"api: <code>{IMAGE}</code>" in html
    assert [h in html for h in ("<th>dev</th>", "<th>staging</th>", "<th>prod</th>")] == [True] * 3
    dev, staging, prod = cells(html, D1)
    assert dev.startswith("promoted running (tag policy)")
    assert staging.startswith("waiting healthy_for 10m in dev since ") and " left" in staging
    assert prod == "pending not in staging yet"
    blocked = cells(html, D2)
    assert (
        blocked[0] == "blocked failed in dev: &lt;b&gt;not healthy&lt;/b&gt; after 60s"
    )  # escaped
    assert html.index(f'data-digest="{D2}"') < html.index(f'data-digest="{D1}"')  # newest first
    fragment = dashboard.get("/panels/promotions")
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and cells(text, D1)[2] == prod


def test_without_pipelines_the_panel_says_so(dashboard: FlaskClient, tmp_path: object) -> None:
    current = settings.load()
    bare = configfile.load(current.config_file).model_copy(update={"pipelines": []})
    app = listeners.ops_app(create_app(current, bare)).test_client()
    html = app.get("/panels/promotions").get_data(as_text=True)
    assert "No promotion pipelines in bumper.yaml" in html


def test_a_garbled_record_still_renders(
    sim: ForgeSim, dashboard: FlaskClient, redis_client: redis.Redis
) -> None:
    garbled = {"tag": "<i>1</i>", "first_seen": "x", "statuses": [1, {"environment": 3}]}
    redis_client.hset("bumper:promotion:api", D1, json.dumps(garbled))
    reply = dashboard.get("/panels/promotions")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "&lt;i&gt;1&lt;/i&gt;" in html
    assert cells(html, D1)[0] == "pending not evaluated"
