"""Registry tags through a real bare remote, with two real clones promoting at once."""

from pathlib import Path

import pytest

from gitml import registry
from gitml.errors import RegistryConflictError, RemoteError
from gitml.registry.transfer import fetch_registry_tags, push_registry_tags
from tests.test_registry import make_run
from tests.utils import assert_fsck_clean, git


@pytest.fixture
def remote(tmp_path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


@pytest.fixture
def first(repo_with_commit, remote) -> Path:
    """A clone that has runs alpha and beta registered as linear v0.0.1 and v0.0.2, pushed."""
    git(repo_with_commit, "remote", "add", "origin", str(remote))
    git(repo_with_commit, "push", "-q", "origin", "main")
    make_run(repo_with_commit, "alpha", {"model.txt": "w=1\n"})
    make_run(repo_with_commit, "beta", {"model.txt": "w=2\n"})
    registry.register(repo_with_commit, "linear", "alpha")
    registry.register(repo_with_commit, "linear", "beta")
    assert push_registry_tags(repo_with_commit, "origin").names == [
        "linear@v0.0.1",
        "linear@v0.0.2",
    ]
    return repo_with_commit


@pytest.fixture
def second(first, remote, tmp_path) -> Path:
    """Another machine: a clone of the remote, registry tags included."""
    path = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(remote), str(path))
    return path


def registry_tags(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/tags")
    return dict(line.split(" ") for line in out.splitlines())


def test_concurrent_promotions_are_renumbered_and_none_is_lost(first, second, remote):
    registry.promote(first, "linear", "v0.0.1", "production", registry.PromoteOptions(message="A"))
    registry.promote(second, "linear", "v0.0.2", "production", registry.PromoteOptions(message="B"))
    registry.promote(second, "linear", "v0.0.2", "staging")
    theirs = git(second, "cat-file", "tag", "linear#production#3")

    assert push_registry_tags(first, "origin").names == ["linear#production#3"]
    pushed = push_registry_tags(second, "origin")

    # the loser fetched, renumbered its events above the remote's, and retried
    assert pushed.names == ["linear#production#4", "linear#staging#5"]
    assert pushed.renumbered == {
        "linear#production#3": "linear#production#4",
        "linear#staging#4": "linear#staging#5",
    }
    # same target, tagger, time and message; only the name changed
    renamed = git(second, "cat-file", "tag", "linear#production#4")
    assert renamed == theirs.replace("tag linear#production#3\n", "tag linear#production#4\n")
    fetched = fetch_registry_tags(first, "origin")
    assert fetched.names == ["linear#production#4", "linear#staging#5"]
    assert fetched.renumbered == {}

    # both machines and the remote now agree, and every event is there once
    assert registry_tags(first) == registry_tags(second) == registry_tags(remote)
    for repo in (first, second):
        events = registry.history(repo, "linear")
        assert [(e.tag, e.message.split("\n\n")[-1]) for e in events if e.kind == "assign"] == [
            ("linear#production#3", "A"),
            ("linear#production#4", "B"),
            ("linear#staging#5", "Promoted linear v0.0.2 to staging."),
        ]
        assert registry.which(repo, "linear@production").version == "v0.0.2"
        assert_fsck_clean(repo)
    # the bare remote reads the same, with GTO's NAME#STAGE form too
    assert registry.which(remote, "linear#production").run_name == "beta"


def test_a_version_registered_on_both_machines_moves_the_unpublished_one(first, second, remote):
    make_run(first, "gamma", {"model.txt": "w=3\n"})
    registry.register(first, "linear", "gamma")
    push_registry_tags(first, "origin")
    make_run(second, "delta", {"model.txt": "w=4\n"})
    registry.register(second, "linear", "delta")  # v0.0.3 too, another run
    registry.promote(second, "linear", "v0.0.3", "staging")

    pushed = push_registry_tags(second, "origin")

    assert pushed.names == ["linear#staging#5", "linear@v0.0.4"]  # counters 4 and 5
    assert pushed.renumbered == {
        "linear@v0.0.3": "linear@v0.0.4",
        "linear#staging#4": "linear#staging#5",
    }
    assert [(c.old_version, c.version, c.old_counter, c.counter) for c in pushed.changes] == [
        ("v0.0.3", "v0.0.4", 3, 4),
        ("v0.0.3", "v0.0.4", 4, 5),
    ]
    assert registry_tags(second) == registry_tags(remote)
    for repo in (second, remote):
        assert registry.which(repo, "linear@v0.0.3").run_name == "gamma"
        assert registry.which(repo, "linear@staging").run_name == "delta"
        assert registry.which(repo, "linear@staging").version == "v0.0.4"
    assert_fsck_clean(second)


def test_a_clashing_event_pushed_to_another_remote_is_a_conflict(first, second, tmp_path):
    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", str(backup))
    git(second, "remote", "add", "backup", str(backup))
    make_run(first, "gamma", {"model.txt": "w=3\n"})
    registry.register(first, "linear", "gamma")
    push_registry_tags(first, "origin")
    make_run(second, "delta", {"model.txt": "w=4\n"})
    registry.register(second, "linear", "delta")  # v0.0.3 too, another run...
    push_registry_tags(second, "backup")  # ...and published there: it keeps its name
    before = registry_tags(second)

    with pytest.raises(RegistryConflictError, match="linear@v0.0.3 differs on remote 'origin'"):
        push_registry_tags(second, "origin")
    assert registry_tags(second) == before


def test_dry_run_sends_nothing(first, remote):
    registry.promote(first, "linear", "v0.0.2", "dev")
    assert push_registry_tags(first, "origin", dry_run=True).names == ["linear#dev#3"]
    assert "linear#dev#3" not in registry_tags(remote)
    assert push_registry_tags(first, "origin").names == ["linear#dev#3"]
    assert push_registry_tags(first, "origin").names == []


def test_fetch_brings_new_events_and_skips_foreign_tags(first, second):
    registry.deprecate(first, "linear", "old")
    git(first, "tag", "-a", "release-1", "-m", "not the registry")
    git(first, "push", "-q", "origin", "release-1")
    push_registry_tags(first, "origin")
    assert fetch_registry_tags(second, "origin").names == ["linear@deprecated#3"]
    assert "release-1" not in registry_tags(second)
    assert registry.list_models(second) == []


def test_fetch_brings_many_events_as_the_same_tag_objects(first, second):
    for version in ("v0.0.1", "v0.0.2"):
        for stage in ("dev", "staging", "production"):
            registry.promote(first, "linear", version, stage)
    push_registry_tags(first, "origin")
    git(second, "tag", "-d", "linear@v0.0.1")  # arrived with the clone: fetch brings it back

    fetched = fetch_registry_tags(second, "origin")

    assert len(fetched.names) == 7
    assert registry_tags(second) == registry_tags(first)
    assert registry.which(second, "linear@production").version == "v0.0.2"
    assert_fsck_clean(second)


def test_runs_that_arrived_before_a_version_conflict_are_reported(first, second, tmp_path):
    from tests.utils import gitml

    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", str(backup))
    git(second, "remote", "add", "backup", str(backup))
    make_run(second, "gamma", {"model.txt": "w=3\n"})
    registry.register(second, "linear", "gamma")  # v0.0.3 here, published on backup...
    push_registry_tags(second, "backup")
    make_run(first, "delta", {"model.txt": "w=4\n"})
    registry.register(first, "linear", "delta")  # ...and another v0.0.3 on origin
    gitml(first, "push")

    result = gitml(second, "pull", check=False)

    assert result.returncode == 1
    assert result.stdout.startswith("3 runs arrived from origin:\n")
    assert "delta" in result.stdout
    assert result.stderr.startswith("gitml: error: linear@v0.0.3 differs on remote 'origin'")
    assert result.stderr.count("\n") == 1
    assert_fsck_clean(second)


def test_a_push_never_reuses_a_counter_the_remote_gave_another_stage(first, second, remote):
    registry.promote(first, "linear", "v0.0.1", "staging")
    push_registry_tags(first, "origin")
    registry.promote(second, "linear", "v0.0.2", "production")  # #3 too, for another stage

    pushed = push_registry_tags(second, "origin")

    assert pushed.names == ["linear#production#4"]
    assert pushed.renumbered == {"linear#production#3": "linear#production#4"}
    counters = [event.counter for event in registry.history(remote, "linear")]
    assert counters == sorted(set(counters))


def test_an_event_pushed_to_a_second_remote_is_never_renumbered_into_a_copy(
    first, second, tmp_path
):
    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", str(backup))
    git(first, "remote", "add", "backup", str(backup))
    registry.promote(second, "linear", "v0.0.1", "staging")
    push_registry_tags(second, "origin")  # linear#staging#3 on origin
    registry.promote(first, "linear", "v0.0.1", "production")
    push_registry_tags(first, "backup")  # linear#production#3 on backup

    assert fetch_registry_tags(first, "origin").renumbered == {}
    push_registry_tags(first, "backup")
    push_registry_tags(first, "origin")

    for repo in (first, backup):
        names = sorted(name for name in registry_tags(repo) if "#" in name)
        assert names == ["linear#production#3", "linear#staging#3"]


def test_an_unreachable_remote_is_one_clear_error(first, tmp_path):
    with pytest.raises(RemoteError, match="remote"):
        push_registry_tags(first, str(tmp_path / "missing.git"))


def test_gitml_push_says_which_events_it_renumbered(first, second):
    from tests.utils import gitml

    registry.promote(first, "linear", "v0.0.1", "production")
    registry.promote(second, "linear", "v0.0.2", "production")
    gitml(first, "push")

    result = gitml(second, "push")

    assert (
        "gitml: origin already had events numbered like ours: "
        "renumbered linear#production#3 as linear#production#4"
    ) in result.stderr
    assert "registry tag" in result.stdout
    assert registry.which(first, "linear@production").version == "v0.0.1"
    gitml(first, "fetch")
    assert registry.which(first, "linear@production").version == "v0.0.2"


def test_a_tag_a_remote_hook_refuses_is_reported_with_its_reason(first, remote):
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'the registry is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    registry.promote(first, "linear", "v0.0.1", "production")

    with pytest.raises(RemoteError) as refused:
        push_registry_tags(first, "origin")

    assert (
        "[remote rejected] (pre-receive hook declined) (the remote said: the registry is frozen)"
        in str(refused.value)
    )
