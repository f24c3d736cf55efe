"""bumper.gitrepo against real git repositories in tmp_path."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bumper import gitrepo
from bumper.errors import PathEscape, PermanentError, PushRefused, PushRejected, TransientError


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com")
    env.update(GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.com")
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> str:
    """A bare repo with one commit on main holding apps/api/deploy.yaml."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "apps" / "api").mkdir(parents=True)
    (seed / "apps" / "api" / "deploy.yaml").write_text("image: ghcr.io/acme/api:1.0.0\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return str(bare)


def push_from_elsewhere(tmp_path: Path, url: str, name: str, text: str) -> None:
    """A concurrent writer: clones, commits a file and pushes to main."""
    other = tmp_path / f"other-{name}"
    git(tmp_path, "clone", "-q", url, str(other))
    (other / name).write_text(text)
    git(other, "add", "-A")
    git(other, "commit", "-qm", f"add {name}")
    git(other, "push", "-q", "origin", "main")


def set_tag(tag: str) -> Callable[[gitrepo.Checkout], str | None]:
    def edit(checkout: gitrepo.Checkout) -> str | None:
        target = checkout.path("apps/api/deploy.yaml")
        new = f"image: ghcr.io/acme/api:{tag}\n"
        if target.read_text() == new:
            return None
        target.write_text(new)
        return f"Bump api to {tag}"

    return edit


def test_checkout_is_clean_and_its_work_tree_is_fetched_not_recloned(
    tmp_path: Path, remote: str
) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        assert checkout.path("apps/api/deploy.yaml").read_text().endswith("1.0.0\n")
        checkout.path("apps/api/deploy.yaml").write_text("edited, not committed\n")
        (checkout.root / "stray.txt").write_text("left behind?")
        work = checkout.root
    marker = work / ".git" / "bumper-marker"
    marker.write_text("kept")
    push_from_elsewhere(tmp_path, remote, "new.txt", "hello\n")
    with cache.checkout(remote, "main") as checkout:
        assert checkout.root == work  # the same work tree, lent again
        assert checkout.path("new.txt").read_text() == "hello\n"
        assert not (checkout.root / "stray.txt").exists()
        assert checkout.path("apps/api/deploy.yaml").read_text().endswith("1.0.0\n")
    assert marker.read_text() == "kept"  # fetched, not re-cloned
    mirror = cache.mirror(remote)
    assert git(mirror, "rev-parse", "main") == git(Path(remote), "rev-parse", "main")


def test_a_work_tree_in_use_is_not_lent_twice(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as first, cache.checkout(remote, "main") as second:
        assert first.root != second.root
        first.path("apps/api/deploy.yaml").write_text("first's edit\n")
        assert second.path("apps/api/deploy.yaml").read_text().endswith("1.0.0\n")


def test_a_work_tree_whose_user_died_in_it_is_cloned_again(tmp_path: Path, remote: str) -> None:
    """kill -9 mid-job leaves the in-use mark (and maybe git's index.lock): never reused."""
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        work = checkout.root
    (work / ".git" / "index.lock").write_text("")  # as a git killed mid-way leaves it
    work.parent.joinpath(f"{work.name}.in-use").touch()  # as a dead job leaves it
    with cache.checkout(remote, "main") as checkout:
        assert checkout.root == work
        assert not (work / ".git" / "index.lock").exists()
        assert checkout.publish(base="main", edit=set_tag("1.1.0")) is not None


def test_a_work_tree_where_git_was_cut_off_is_cloned_again(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    # git blocks opening a FIFO nobody writes to, so it is always cut off by the timeout (a fast
    # command under a tiny timeout could finish first when the test process was descheduled).
    never_written = tmp_path / "never-written"
    os.mkfifo(never_written)
    with pytest.raises(TransientError), cache.checkout(remote, "main") as checkout:
        work = checkout.root
        checkout.git.timeout = 0.2
        checkout.run("hash-object", str(never_written))
    (work / ".git" / "index.lock").write_text("")
    with cache.checkout(remote, "main") as checkout:
        assert not (work / ".git" / "index.lock").exists()
        assert checkout.publish(base="main", edit=set_tag("1.1.0")) is not None


def test_publish_commits_as_the_bot_and_skips_no_change(tmp_path: Path, remote: str) -> None:
    identity = gitrepo.Identity(name="Bump Bot", email="bot@acme.test")
    cache = gitrepo.RepoCache(tmp_path / "cache", identity=identity)
    with cache.checkout(remote, "main") as checkout:
        published = checkout.publish(base="main", edit=set_tag("1.1.0"))
        assert published is not None and published.attempts == 1
        assert checkout.publish(base="main", edit=set_tag("1.1.0")) is None
    log = git(Path(remote), "log", "-1", "--format=%an <%ae>|%cn|%s|%H", "main")
    assert log == f"Bump Bot <bot@acme.test>|Bump Bot|Bump api to 1.1.0|{published.sha}"
    assert git(Path(remote), "rev-list", "--count", "main") == "2"


def test_push_race_refetches_and_reapplies(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    calls: list[int] = []
    inner = set_tag("2.0.0")

    def racing_edit(checkout: gitrepo.Checkout) -> str | None:
        calls.append(1)
        if len(calls) == 1:  # someone else pushes between our fetch and our push
            push_from_elsewhere(tmp_path, remote, "theirs.txt", "theirs\n")
        return inner(checkout)

    with cache.checkout(remote, "main") as checkout:
        published = checkout.publish(base="main", edit=racing_edit)
    assert published is not None and published.attempts == 2
    files = git(Path(remote), "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "theirs.txt" in files  # their update is not lost
    shown = git(Path(remote), "show", "main:apps/api/deploy.yaml")
    assert shown == "image: ghcr.io/acme/api:2.0.0"
    assert git(Path(remote), "rev-parse", "main^") != git(Path(remote), "rev-parse", "main^^")


def test_push_race_that_never_ends_is_transient(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    count = iter(range(100))

    def always_racing(checkout: gitrepo.Checkout) -> str | None:
        push_from_elsewhere(tmp_path, remote, f"f{next(count)}.txt", "x\n")
        return set_tag("3.0.0")(checkout)

    with pytest.raises(TransientError) as caught, cache.checkout(remote, "main") as checkout:
        checkout.publish(base="main", edit=always_racing, attempts=2)
    assert caught.value.reason == "push-race"


def test_side_branch_is_rebuilt_from_base_and_force_pushed(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        first = checkout.publish(base="main", branch="bumper/api", edit=set_tag("1.1.0"))
        second = checkout.publish(base="main", branch="bumper/api", edit=set_tag("1.2.0"))
    assert first and second and first.sha != second.sha
    assert git(Path(remote), "rev-parse", "bumper/api") == second.sha
    assert git(Path(remote), "rev-parse", "bumper/api^") == git(Path(remote), "rev-parse", "main")
    with cache.checkout(remote, "main") as checkout:
        assert checkout.delete_branch("bumper/api") is True
        assert checkout.delete_branch("bumper/api") is False
        assert checkout.remote_sha("bumper/api") is None


def test_paths_are_confined_to_the_checkout(tmp_path: Path, remote: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        (checkout.root / "escape").symlink_to(outside)
        (checkout.root / "inner").symlink_to(checkout.root / "apps")
        for bad in ("../x", "/etc/passwd", "apps/../../x", ".git/config", "escape/f", ""):
            with pytest.raises(PathEscape):
                checkout.path(bad)
        assert checkout.path("inner/api/deploy.yaml").read_text().startswith("image:")
        assert (
            checkout.path("apps/api/deploy.yaml")
            == checkout.root.resolve() / "apps/api/deploy.yaml"
        )


def test_ssh_signed_commits_verify(tmp_path: Path, remote: str) -> None:
    if not Path("/usr/bin/ssh-keygen").exists() and not os.path.exists("/bin/ssh-keygen"):
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    identity = gitrepo.Identity(name="Bump Bot", email="bot@acme.test")
    signing = gitrepo.CommitSigner(format="ssh", key=str(key))
    cache = gitrepo.RepoCache(tmp_path / "cache", identity=identity, signing=signing)
    with cache.checkout(remote, "main") as checkout:
        checkout.publish(base="main", edit=set_tag("9.9.9"))
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"bot@acme.test {key.with_suffix('.pub').read_text()}")
    verified = subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "main"],
        cwd=remote,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert "Good" in verified.stderr


def test_missing_remote_is_permanent_and_scrubbed(tmp_path: Path) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    url = "https://user:s3cret@127.0.0.1:1/nothing.git"
    with pytest.raises((PermanentError, TransientError)) as caught:
        with cache.checkout(url, "main"):
            pass
    assert "s3cret" not in str(caught.value)
    with pytest.raises(PermanentError), cache.checkout(str(tmp_path / "absent.git"), "main"):
        pass


def test_classify_and_scrub() -> None:
    rejected = gitrepo.classify(["push"], " ! [rejected] main -> main (fetch first)")
    assert isinstance(rejected, PushRejected)
    auth = gitrepo.classify(["fetch"], "fatal: Authentication failed for 'https://x:y@h/r'")
    assert auth.reason == "git-permanent" and "x:y" not in str(auth)
    assert gitrepo.classify(["fetch"], "error: RPC failed; HTTP 502").reason == "git-transient"
    assert gitrepo.scrub("https://tok:abc@github.com/a/b") == "https://***@github.com/a/b"


def test_credentials_header_is_not_in_argv() -> None:
    creds = gitrepo.Credentials("x-access-token", "ghp_secret")
    assert "ghp_secret" not in repr(creds)
    header = creds.git_config()["http.extraHeader"]
    assert header.startswith("Authorization: Basic ") and "ghp_secret" not in header


def test_side_branch_with_the_same_change_is_not_pushed_again(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        first = checkout.publish(base="main", branch="bumper/api", edit=set_tag("1.1.0"))
        again = checkout.publish(base="main", branch="bumper/api", edit=set_tag("1.1.0"))
    assert first is not None and again is not None
    assert (again.pushed, again.sha) == (False, first.sha)
    push_from_elsewhere(tmp_path, remote, "base-moved.txt", "x\n")
    with cache.checkout(remote, "main") as checkout:
        rebased = checkout.publish(base="main", branch="bumper/api", edit=set_tag("1.1.0"))
    assert rebased is not None and rebased.pushed and rebased.sha != first.sha
    assert git(Path(remote), "rev-parse", "bumper/api^") == git(Path(remote), "rev-parse", "main")


def install_hook(remote: str, name: str, script: str) -> None:
    hook = Path(remote) / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)


def counting(edit: Callable[[gitrepo.Checkout], str | None], calls: list[int]) -> Any:
    def counted(checkout: gitrepo.Checkout) -> str | None:
        calls.append(1)
        return edit(checkout)

    return counted


def test_a_push_a_pre_receive_hook_refuses_fails_for_good_after_one_try(
    tmp_path: Path, remote: str
) -> None:
    install_hook(
        remote,
        "pre-receive",
        'printf "\\033[31mGL-HOOK-ERR: commits must be signed\\033[0m\\n"\n'
        'echo "see https://wiki.example/signing" >&2\nexit 1\n',
    )
    before = git(Path(remote), "rev-parse", "main")
    calls: list[int] = []
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with pytest.raises(PermanentError) as caught, cache.checkout(remote, "main") as checkout:
        checkout.publish(base="main", edit=counting(set_tag("2.0.0"), calls))
    assert caught.value.reason == "push-refused"
    assert calls == [1]  # not re-applied: no retry can pass the hook
    message = str(caught.value)
    assert "(pre-receive hook declined)" in message
    assert "GL-HOOK-ERR: commits must be signed | see https://wiki.example/signing" in message
    assert "\n" not in message and "\x1b" not in message
    assert git(Path(remote), "rev-parse", "main") == before


def test_a_protected_branch_refuses_the_push_but_a_side_branch_goes_through(
    tmp_path: Path, remote: str
) -> None:
    install_hook(
        remote,
        "update",
        'case "$1" in refs/heads/main) '
        'echo "GH006: Protected branch update failed for $1."; exit 1;; esac\nexit 0\n',
    )
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with pytest.raises(PermanentError) as caught, cache.checkout(remote, "main") as checkout:
        checkout.publish(base="main", edit=set_tag("2.0.0"))
    assert caught.value.reason == "push-refused"
    assert "(hook declined)" in str(caught.value)
    assert "GH006: Protected branch update failed for refs/heads/main." in str(caught.value)
    with cache.checkout(remote, "main") as checkout:
        published = checkout.publish(base="main", branch="bumper/api", edit=set_tag("2.0.0"))
    assert published is not None and published.attempts == 1


def test_only_races_are_pushed_again_and_each_is_reported(tmp_path: Path, remote: str) -> None:
    seen: list[str] = []
    cache = gitrepo.RepoCache(tmp_path / "cache", on_race=seen.append)
    calls: list[int] = []

    def racing_edit(checkout: gitrepo.Checkout) -> str | None:
        calls.append(1)
        if len(calls) == 1:
            push_from_elsewhere(tmp_path, remote, "theirs.txt", "theirs\n")
        return set_tag("2.0.0")(checkout)

    with cache.checkout(remote, "main") as checkout:
        published = checkout.publish(base="main", edit=racing_edit)
    assert published is not None and published.attempts == 2
    assert seen == ["fetch-first"]


@pytest.mark.parametrize(
    ("output", "kind", "cause"),
    [
        ("!\tHEAD:refs/heads/main\t[rejected] (fetch first)", PushRejected, "fetch-first"),
        (
            "!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)",
            PushRejected,
            "non-fast-forward",
        ),
        ("!\tHEAD:refs/heads/b\t[rejected] (stale info)", PushRejected, "stale-info"),
        (" ! [remote rejected] HEAD -> main (failed to update ref)", PushRejected, "remote-lock"),
        (
            " ! [remote rejected] main -> main (protected branch hook declined)",
            PushRefused,
            None,
        ),
        (
            "!\tHEAD:refs/heads/main\t[remote rejected] (deny updating a hidden ref)",
            PushRefused,
            None,
        ),
        ("!\tHEAD:refs/heads/main\t[rejected] (already exists)", PushRefused, None),
        (
            "remote: Permission to acme/config.git denied to bot.\n"
            "fatal: unable to access 'https://github.com/acme/config.git/': "
            "The requested URL returned error: 403",
            PushRefused,
            None,
        ),
    ],
)
def test_push_output_tells_races_from_refusals(
    output: str, kind: type[Exception], cause: str | None
) -> None:
    error = gitrepo.classify(["push"], output)
    assert type(error) is kind
    if cause is not None:
        assert isinstance(error, PushRejected) and error.cause == cause


def test_refusals_never_show_our_credentials(tmp_path: Path) -> None:
    creds = gitrepo.Credentials("x-access-token", "ghp_s3cretvalue")
    git_runner = gitrepo.Git(creds.git_config())
    header = creds.git_config()["http.extraHeader"].rsplit(" ", 1)[-1]
    said = f"remote: got Authorization: Basic {header} and https://tok:pw@h/r"
    assert header not in git_runner.redact(said)
    error = gitrepo.classify(
        ["push"], git_runner.redact(said + "\n ! [remote rejected] a -> a (x)")
    )
    assert header not in str(error) and "pw@" not in str(error)


def test_a_fresh_checkout_is_published_without_resetting_it_again(
    tmp_path: Path, remote: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "git.trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        assert checkout.publish(base="main", edit=set_tag("1.1.0")) is not None
    commands = [line for line in trace.read_text().splitlines() if "trace: built-in:" in line]
    assert len([c for c in commands if " checkout --quiet --force " in c]) == 1
    assert not [c for c in commands if " maintenance run " in c]
    assert git(Path(remote), "show", "main:apps/api/deploy.yaml") == "image: ghcr.io/acme/api:1.1.0"


def test_a_file_touched_before_publish_is_reset_away(tmp_path: Path, remote: str) -> None:
    cache = gitrepo.RepoCache(tmp_path / "cache")
    with cache.checkout(remote, "main") as checkout:
        checkout.path("stray.txt").write_text("not part of the bump\n")
        assert checkout.publish(base="main", edit=set_tag("1.1.0")) is not None
    assert git(Path(remote), "ls-tree", "--name-only", "main") == "apps"
