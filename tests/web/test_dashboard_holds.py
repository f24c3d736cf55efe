"""The images panel shows a reviewer's hold and pin of each target (``/bumper`` commands):
what, who, via which PR (a link only when the PR URL is http(s)), and since when; escaped."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from bumper.settings import Settings
from bumper.web import listeners
from tests.web.test_dashboard_pages import _app_with_images
from worker import store


def test_images_show_who_held_and_pinned_each_target_via_which_pr_since_when(
    settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app = _app_with_images(settings, tmp_path)
    shop = store.Store(redis_client)
    url = "https://github.example/acme/config/pull/12"
    shop.set_hold("api/0", {"by": "alice", "pr": 12, "url": url, "at": time.time() - 180})
    pin = {"by": "<b>bob</b>", "pr": 13, "url": "javascript:alert(1)", "at": time.time() - 7200}
    shop.set_pin("api/0", {**pin, "tag": "1.1.5", "digest": None})
    html = listeners.ops_app(app).test_client().get("/panels/images").get_data(as_text=True)
    prod = html.split('data-target="api/0"')[1].split("</tr>")[0]
    cell = prod.split('class="commands"')[1].split("</td>")[0]
    assert "held</span> by @alice via" in cell and f'<a href="{url}">PR #12</a>' in cell
    assert "since 3m ago" in cell
    assert "pinned to 1.1.5</span> by @&lt;b&gt;bob&lt;/b&gt; via PR #13" in cell
    assert "javascript:" not in cell and "since 2h ago" in cell
    stage = html.split('data-target="api/1"')[1].split("</tr>")[0]
    assert '<td class="commands"><span class="muted">none</span></td>' in stage
    shop.lift("api/0")
    html = listeners.ops_app(app).test_client().get("/panels/images").get_data(as_text=True)
    assert "held</span>" not in html and "pinned to" not in html
