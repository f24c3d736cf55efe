"""``bumper.core.chartindex``: one chart's versions from a classic Helm repository's
index.yaml, read from the parse events, bounded."""

from __future__ import annotations

import re

import pytest

from bumper.core import chartindex
from bumper.core.yaml import limits
from bumper.errors import ParseLimitExceeded, PermanentError

# the shape `helm repo index` writes (trimmed), with a second chart and nested version keys
INDEX = b"""\
apiVersion: v1
entries:
  podinfo:
  - apiVersion: v2
    appVersion: 6.5.1
    created: "2024-01-02T00:00:00Z"
    digest: 0f7b8a
    maintainers:
    - {name: stefanprodan, version: 9.9.9}
    name: podinfo
    urls: [https://charts.example.com/podinfo-6.5.1.tgz]
    version: 6.5.1
  - {name: podinfo, version: 6.5.0, ? [complex, key] : x, urls: [a]}
  - {name: podinfo, version: 6.5.0}
  - {name: podinfo, version: "not a version!"}
  - {name: podinfo, version: *undefined}
  redis:
  - {name: redis, version: 18.0.0}
  ? {version: 7.0.0}
  : ignored
generated: "2024-01-02T00:00:00Z"
"""


def test_only_the_charts_own_versions_in_index_order() -> None:
    assert chartindex.versions(INDEX, "podinfo") == ["6.5.1", "6.5.0"]
    assert chartindex.versions(INDEX, "redis") == ["18.0.0"]
    assert chartindex.versions(INDEX, "absent") == []
    assert chartindex.versions(b"apiVersion: v1\nentries: {}\n", "podinfo") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"entries: [podinfo]\n", "index.yaml: entries is not a mapping"),
        (b"entries: {podinfo: [\n", "index.yaml is not YAML (line 2)"),
    ],
)
def test_a_text_that_is_no_index_is_one_line(data: bytes, message: str) -> None:
    with pytest.raises(PermanentError, match="^" + re.escape(message)) as raised:
        chartindex.versions(data, "podinfo")
    assert "\n" not in str(raised.value)


def test_nesting_and_versions_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParseLimitExceeded, match="nested deeper than 8 levels"):
        chartindex.versions(b"entries: {p: " + b"[" * 20, "p", limits.Limits(max_depth=8))
    monkeypatch.setattr(chartindex, "MAX_VERSIONS", 3)
    many = b"entries:\n  p:\n" + b"".join(b"  - {version: 1.0.%d}\n" % i for i in range(10))
    assert chartindex.versions(many, "p") == ["1.0.0", "1.0.1", "1.0.2"]
