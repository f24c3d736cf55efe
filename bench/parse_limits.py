"""The alias bomb through the agent's parse and hash, without and with the parse limits, and
what the limits cost on real files.

1. ``tests.support.hostile_yaml.alias_bomb()`` (about 600 bytes) is parsed and hashed the way
   the agent does (``manifests.mark``: ``content_hash``, a JSON dump of each object), in a
   child process capped like the agent's chart (``RLIMIT_AS`` at ``resources.limits.memory``):
   * unbounded (the baseline): PyYAML's safe loader, as the agent parsed before the limits;
   * bounded: ``render._parse``, which checks ``bumper.core.yaml.limits`` first.
   Prints the wall time, the child's peak RSS and how it ended.
2. Over ../shared/corpus/yaml (if present): seconds to check every file against the limits,
   against composing (the finder) and loading (the agent) the same files.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bumper.core.yaml import limits
from tests.support.hostile_yaml import alias_bomb

ROOT = Path(__file__).resolve().parents[1]
CHART_VALUES = ROOT / "charts" / "bumper-agent" / "values.yaml"
CORPUS = ROOT.parent / "shared" / "corpus" / "yaml"

CHILD = """
import resource, sys, time, yaml
from bumper.agent import manifests, render
text, bounded = sys.stdin.read(), sys.argv[1] == "bounded"
started = time.monotonic()
try:
    if bounded:
        docs = render._parse(text, "bomb.yaml")
    else:
        docs = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    for doc in docs:
        manifests.mark(doc, agent="bench", namespace="ns")
    outcome = "hashed"
except MemoryError:
    outcome = "MemoryError"
except Exception as error:
    outcome = f"{type(error).__name__}: {error}"
seconds = time.monotonic() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{seconds:.3f}\\t{rss:.0f}\\t{outcome}")
"""


def chart_limit() -> int:
    value = yaml.safe_load(CHART_VALUES.read_text())["resources"]["limits"]["memory"]
    return int(value[:-2]) * {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[value[-2:]]


def run_child(mode: str, cap: int) -> tuple[float, float, str]:
    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        input=alias_bomb(),
        capture_output=True,
        text=True,
        preexec_fn=capped,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        return 0.0, 0.0, f"child failed: {done.stderr.strip().splitlines()[-1:]}"
    seconds, rss, outcome = done.stdout.strip().split("\t", 2)
    return float(seconds), float(rss), outcome


def bomb() -> None:
    cap = chart_limit()
    print(f"alias bomb: {len(alias_bomb())} bytes; child capped at {cap // 2**20} MiB (chart)")
    print(f"{'parse + hash':<14}{'seconds':>9}{'peak RSS MiB':>14}  outcome")
    for mode in ("unbounded", "bounded"):
        seconds, rss, outcome = run_child(mode, cap)
        print(f"{mode:<14}{seconds:>9.4f}{rss:>14.0f}  {outcome[:110]}")


def corpus_cost() -> None:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        print(f"corpus: skipped, {CORPUS} is absent")
        return
    names = [r.split("\t")[0] for r in (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]]
    texts = [(CORPUS / n).read_text(encoding="utf-8").removeprefix("\ufeff") for n in names if n]
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    steps: dict[str, Callable[[str], object]] = {
        "check (limits)": limits.check,
        "compose (finder)": lambda t: list(yaml.compose_all(t, Loader=loader)),
        "load (agent)": lambda t: list(yaml.load_all(t, Loader=safe)),
    }
    size = sum(len(t) for t in texts) / 1e6
    print(f"corpus: {len(texts)} files, {size:.1f} MB")
    seconds = {}
    for name, step in steps.items():
        started = time.perf_counter()
        for text in texts:
            step(text)
        seconds[name] = time.perf_counter() - started
        print(f"{name:<18}{seconds[name]:>8.2f} s")
    check = seconds["check (limits)"]
    print(
        f"the check adds {check / seconds['compose (finder)']:.0%} to composing and "
        f"{check / seconds['load (agent)']:.0%} to loading"
    )


def main() -> int:
    bomb()
    corpus_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
