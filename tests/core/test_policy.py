"""Tag policies: each rule accepts and rejects with its explanation; selection properties.

Covered: semver ranges with v prefix and pre-release opt-in, regex + extract with numeric and
alphabetical order, allow/ignore globs, digest tracking, pin_digest, no-downgrade and its
opt-out, comparison with an unreadable current tag, and select() over bursts. Hypothesis
checks that select never downgrades and does not depend on candidate order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bumper.core import config, policy

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def make(**spec: Any) -> policy.CompiledPolicy:
    return policy.from_config(config.Policy(**spec))


def decide(
    pol: policy.CompiledPolicy, tag: str, current: str | None = None, **kw: Any
) -> policy.Decision:
    cur = policy.Current(current, kw.pop("current_digest", None)) if current is not None else None
    return policy.evaluate(pol, policy.Candidate(tag, **kw), cur)


SEMVER = make(semver=">=1.4.0 <2")


@pytest.mark.parametrize(
    ("tag", "current", "result", "rule", "why"),
    [
        ("1.5.0", None, "accepted", "semver >=1.4.0 <2", "no current tag"),
        ("v1.5.0", "1.4.0", "accepted", "semver >=1.4.0 <2", "newer than current 1.4.0"),
        ("1.3.9", None, "rejected", "semver >=1.4.0 <2", "outside >=1.4.0 <2"),
        ("2.0.0", "1.4.0", "rejected", "semver >=1.4.0 <2", "outside"),
        ("1.6.0-rc.1", "1.4.0", "rejected", "prerelease", "pre-release"),
        ("latest", "1.4.0", "rejected", "semver >=1.4.0 <2", "not a semantic version"),
        ("1.4.1", "1.5.0", "rejected", "no-downgrade", "older than current 1.5.0"),
        ("1.5.0", "1.5.0", "rejected", "no-op", "already at 1.5.0"),
        ("v1.5.0", "1.5.0", "rejected", "no-op", "same version"),
        ("1.4.2", "latest", "accepted", "semver >=1.4.0 <2", "not under this policy"),
    ],
)
def test_semver_decisions_explain_themselves(
    tag: str, current: str | None, result: str, rule: str, why: str
) -> None:
    d = decide(SEMVER, tag, current)
    assert (d.candidate, d.result, d.rule) == (tag, result, rule)
    assert why in d.why
    assert d.current == current
    assert d.pin == (tag if result == "accepted" else None)


def test_prerelease_opt_in() -> None:
    pol = make(semver="^1.4", prerelease=True)
    assert decide(pol, "1.6.0-rc.1", "1.5.0").accepted
    assert not decide(pol, "1.5.0-rc.1", "1.5.0").accepted  # rc of 1.5.0 is older than 1.5.0


def test_downgrade_only_when_allowed() -> None:
    pol = make(semver="^1", allow_downgrade=True)
    d = decide(pol, "1.1.0", "1.5.0")
    assert d.accepted and d.rule == "allow_downgrade"


def test_regex_numeric_extract_orders_by_number_not_text() -> None:
    pol = make(regex=r"^main-(?P<ts>\d+)-[0-9a-f]{7}$", extract="ts", order="numeric")
    assert decide(pol, "main-10-abcdef0", "main-9-1234567").accepted
    d = decide(pol, "main-9-abcdef0", "main-10-1234567")
    assert d.result == "rejected" and d.rule == "no-downgrade"
    d = decide(pol, "feature-11-abcdef0", "main-10-1234567")
    assert d.result == "rejected" and "does not match" in d.why
    assert policy.newest(pol, ["main-9-aaaaaaa", "main-100-bbbbbbb", "main-20-ccccccc"]) == (
        "main-100-bbbbbbb"
    )


def test_regex_alphabetical_and_whole_tag() -> None:
    pol = make(regex=r"^\d{4}-\d{2}-\d{2}$", order="alphabetical")
    assert policy.newest(pol, ["2024-01-31", "2025-01-01", "2024-12-31", "junk"]) == "2025-01-01"


def test_regex_numeric_rejects_non_numbers() -> None:
    pol = make(regex=r"^build-(?P<n>.+)$", extract="n", order="numeric")
    d = decide(pol, "build-x1")
    assert d.result == "rejected" and "not a number" in d.why
    assert decide(pol, "build-1.5", "build-1.25").accepted  # decimals compare as numbers


def test_regex_with_semver_extract() -> None:
    pol = make(semver="^2", regex=r"^api-(?P<v>v?\d+\.\d+\.\d+)$", extract="v")
    assert decide(pol, "api-v2.1.0", "api-2.0.0").accepted
    assert "outside" in decide(pol, "api-3.0.0").why


def test_ignore_before_allow_before_strategy() -> None:
    pol = make(semver="*", allow=["1.*", "2.0.*"], ignore=["1.13.*"])
    d = decide(pol, "1.13.0")
    assert (d.result, d.rule) == ("rejected", "ignore 1.13.*")
    d = decide(pol, "2.1.0")
    assert (d.result, d.rule) == ("rejected", "allow") and "no allow pattern" in d.why
    assert decide(pol, "2.0.5").accepted


def test_digest_tracking_pins_tag_at_digest() -> None:
    pol = make(digest="latest")
    d = decide(pol, "latest", "latest", digest=D2, current_digest=D1)
    assert d.accepted and d.pin == f"latest@{D2}" and D1 in d.why
    d = decide(pol, "latest", "latest", digest=D1, current_digest=D1)
    assert (d.result, d.rule) == ("rejected", "no-op")
    d = decide(pol, "latest")
    assert d.result == "rejected" and "no digest" in d.why
    d = decide(pol, "stable", digest=D1)
    assert d.result == "rejected" and "only tag 'latest'" in d.why


def test_pin_digest_accepts_a_repushed_tag() -> None:
    pol = make(semver="^1", pin_digest=True)
    d = decide(pol, "1.5.0", "1.5.0", digest=D2, current_digest=D1)
    assert d.accepted and d.rule == "pin_digest" and d.pin == f"1.5.0@{D2}"
    assert decide(pol, "1.6.0", "1.5.0", digest=D1).pin == f"1.6.0@{D1}"
    assert decide(SEMVER, "1.6.0", "1.5.0", digest=D1).pin == "1.6.0"  # no pin unless asked


def test_select_keeps_one_accepted_and_explains_the_rest() -> None:
    tags = ["1.4.1", "1.9.0", "2.0.0", "1.5.0", "1.3.0"]
    sel = policy.select(SEMVER, [policy.Candidate(t) for t in tags], policy.Current("1.4.5"))
    assert sel.best is not None and sel.best.candidate == "1.9.0"
    by_tag = {d.candidate: d for d in sel.decisions}
    assert [d.candidate for d in sel.decisions] == tags
    assert by_tag["1.5.0"].rule == "newest" and "superseded by 1.9.0" in by_tag["1.5.0"].why
    assert by_tag["1.4.1"].rule == "no-downgrade"
    assert sum(d.accepted for d in sel.decisions) == 1
    assert sel.winner == 1 and sel.decisions[sel.winner] is sel.best


def test_select_winner_points_at_the_offered_candidate_among_equal_texts() -> None:
    # Two pushes of one tag read the same as text; the index still tells them apart.
    pol = make(digest="latest")
    burst = [policy.Candidate("latest", D1, 1.0), policy.Candidate("latest", D1, 2.0)]
    assert policy.select(pol, burst).winner == 1
    assert policy.select(pol, burst[::-1]).winner == 0
    assert (
        policy.select(SEMVER, [policy.Candidate("0.1.0")], policy.Current("1.0.0")).winner is None
    )


def test_select_later_push_of_mutable_tag_wins() -> None:
    pol = make(digest="latest")
    burst = [policy.Candidate("latest", D2, 2.0), policy.Candidate("latest", D1, 1.0)]
    best = policy.select(pol, burst).best
    assert best is not None and best.pin == f"latest@{D2}"


def test_select_with_nothing_acceptable() -> None:
    sel = policy.select(SEMVER, [policy.Candidate("3.0.0")], policy.Current("1.5.0"))
    assert sel.best is None and sel.decisions[0].result == "rejected"


def test_hold_and_round_trip() -> None:
    d = policy.hold(decide(SEMVER, "1.5.0"), rule="gate ci", why="waiting for CI on abc123")
    assert d.result == "held" and d.candidate == "1.5.0"
    assert policy.Decision.from_dict(d.to_dict() | {"extra": 1}) == d


def test_describe_names_the_strategy() -> None:
    assert make(digest="latest").describe() == "digest latest"
    assert "extract ts" in make(regex=r"(?P<ts>\d+)", extract="ts", order="numeric").describe()


# -- properties --------------------------------------------------------------------------

semver_tags = st.builds(
    lambda v, ma, mi, pa, pre: f"{v}{ma}.{mi}.{pa}{pre}",
    st.sampled_from(["", "v"]),
    st.integers(0, 3),
    st.integers(0, 12),
    st.integers(0, 3),
    st.sampled_from(["", "", "", "-rc.1", "-alpha"]),
)
numeric_tags = st.one_of(st.integers(0, 500).map(lambda n: f"b-{n}"), st.just("junk"))
POLICIES = {
    "semver": (make(semver=">=1.0.0 <3", prerelease=True), semver_tags),
    "numeric": (make(regex=r"^b-(?P<n>\d+)$", extract="n", order="numeric"), numeric_tags),
}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_select_never_downgrades_and_is_order_independent(name: str) -> None:
    pol, tags = POLICIES[name]

    @given(
        st.lists(st.builds(policy.Candidate, tags), max_size=12),
        st.one_of(st.none(), tags),
        st.randoms(use_true_random=False),
    )
    def check(cands: list[policy.Candidate], current: str | None, rnd: Any) -> None:
        cur = policy.Current(current) if current is not None else None
        sel = policy.select(pol, cands, cur)
        shuffled = list(cands)
        rnd.shuffle(shuffled)
        assert policy.select(pol, shuffled, cur).best == sel.best
        if sel.best is None:
            return
        best_key = policy.sort_key(pol, sel.best.candidate)
        if cur is not None and current is not None:
            try:
                current_key = policy.sort_key(pol, current)
            except ValueError:
                current_key = None
            if current_key is not None:
                assert best_key > current_key
        for cand in cands:
            if policy.evaluate(pol, cand, cur).accepted:
                assert policy.sort_key(pol, cand.tag) <= best_key

    check()


def test_an_unset_pin_digest_keeps_a_pinned_reference_pinned() -> None:
    compiled = policy.from_config(config.Policy(semver="^1"))
    pinned = policy.Current("1.0.0", "sha256:" + "a" * 64)
    new = "sha256:" + "b" * 64
    kept = policy.evaluate(compiled, policy.Candidate("1.1.0", new), pinned)
    assert (kept.result, kept.pin) == ("accepted", f"1.1.0@{new}")
    bare = policy.evaluate(compiled, policy.Candidate("1.1.0", new), policy.Current("1.0.0"))
    assert (bare.result, bare.pin) == ("accepted", "1.1.0")
    unknown = policy.evaluate(compiled, policy.Candidate("1.1.0", None), pinned)
    assert (unknown.result, unknown.rule) == ("rejected", "pinned")
    assert "no digest is known for 1.1.0" in unknown.why
    moved = policy.evaluate(compiled, policy.Candidate("1.0.0", new), pinned)
    assert (moved.result, moved.pin) == ("accepted", f"1.0.0@{new}")


def test_pin_digest_false_writes_tags_only() -> None:
    compiled = policy.from_config(config.Policy(semver="^1", pin_digest=False))
    pinned = policy.Current("1.0.0", "sha256:" + "a" * 64)
    decision = policy.evaluate(compiled, policy.Candidate("1.1.0", None), pinned)
    assert (decision.result, decision.pin) == ("accepted", "1.1.0")


def test_keeping_the_form_pins_only_the_pinned_reference_and_never_unpins() -> None:
    from bumper.core.yaml import editor
    from bumper.errors import EditRefused

    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    text = f"a:\n  image: ghcr.io/acme/api:1.0.0@{old}\nb:\n  image: ghcr.io/acme/api:1.0.0\n"
    scanned = editor.scan_image(text, "ghcr.io/acme/api")
    edited = editor.edit_file(scanned, tag="1.1.0", digest=new, keep_form=True)
    assert edited.after == (
        f"a:\n  image: ghcr.io/acme/api:1.1.0@{new}\nb:\n  image: ghcr.io/acme/api:1.1.0\n"
    )
    with pytest.raises(EditRefused, match="would unpin it"):
        editor.edit_file(scanned, tag="1.1.0", keep_form=True)
