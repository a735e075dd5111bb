"""gitml rm and gitml gc: local deletion only, all or nothing."""

import json

from tests.sharing_helpers import bare_remote, ls_json, run_refs
from tests.utils import assert_fsck_clean, git, gitml


def names(repo) -> list[str]:
    return sorted(run["name"] for run in ls_json(repo))


def test_rm_by_name_and_prefix(repo_with_runs):
    beta = next(run["id"] for run in ls_json(repo_with_runs) if run["name"] == "beta")
    result = gitml(repo_with_runs, "rm", "alpha", beta[:10])
    assert result.stdout.splitlines()[1] == f"deleted beta ({beta})"
    assert names(repo_with_runs) == ["gamma"]
    assert_fsck_clean(repo_with_runs)


def test_rm_of_unknown_run_deletes_nothing(repo_with_runs):
    before = run_refs(repo_with_runs)
    result = gitml(repo_with_runs, "rm", "alpha", "nosuchrun", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: no run matches 'nosuchrun' (see `gitml ls --all` for run ids and names)\n"
    )
    assert run_refs(repo_with_runs) == before


def test_rm_leaves_remote_alone(repo_with_runs, tmp_path):
    remote = bare_remote(tmp_path)
    git(repo_with_runs, "remote", "add", "origin", remote.as_uri())
    gitml(repo_with_runs, "push")
    gitml(repo_with_runs, "rm", "alpha")
    assert len(run_refs(remote)) == 3


def test_rm_refuses_a_registered_run_unless_forced(repo_with_runs):
    alpha = next(run for run in ls_json(repo_with_runs) if run["name"] == "alpha")
    git(repo_with_runs, "tag", "-a", "-m", "register", "model@v1.0.0", alpha["commit"])
    result = gitml(repo_with_runs, "rm", "alpha", check=False)
    assert result.returncode == 1
    assert "is tagged model@v1.0.0 in the model registry" in result.stderr
    assert "alpha" in names(repo_with_runs)
    gitml(repo_with_runs, "rm", "--force", "alpha")
    assert "alpha" not in names(repo_with_runs)
    assert_fsck_clean(repo_with_runs)


def test_gc_by_status_dry_run_then_for_real(repo_with_runs):
    result = gitml(repo_with_runs, "gc", "--status", "failed", "--dry-run")
    assert result.stdout.startswith("would delete gamma (")
    assert names(repo_with_runs) == ["alpha", "beta", "gamma"]
    gitml(repo_with_runs, "gc", "--status", "failed")
    assert names(repo_with_runs) == ["alpha", "beta"]
    assert gitml(repo_with_runs, "gc", "--status", "failed").stdout == "no runs to delete\n"


def test_gc_keep_and_older_than_and_filter(repo_with_runs):
    out = gitml(repo_with_runs, "gc", "--keep", "1", "--dry-run", "--json").stdout
    assert sorted(run["name"] for run in json.loads(out)) == ["alpha", "beta"]
    assert gitml(repo_with_runs, "gc", "--older-than", "30d").stdout == "no runs to delete\n"
    out = gitml(repo_with_runs, "gc", "--older-than", "2099-01-01", "-n", "--json").stdout
    assert len(json.loads(out)) == 3
    gitml(repo_with_runs, "gc", "--filter", "params.lr = '0.2'")
    assert names(repo_with_runs) == ["alpha", "gamma"]


def test_gc_keeps_registered_runs(repo_with_runs):
    gamma = next(run for run in ls_json(repo_with_runs) if run["name"] == "gamma")
    git(repo_with_runs, "tag", "-a", "-m", "register", "model@v1.0.0", gamma["commit"])
    assert gitml(repo_with_runs, "gc", "--status", "failed").stdout == "no runs to delete\n"


def test_gc_needs_a_selection(repo_with_runs):
    result = gitml(repo_with_runs, "gc", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: say which runs to delete: --status, --filter, --older-than and/or --keep N\n"
    )
    result = gitml(repo_with_runs, "gc", "--older-than", "soon", check=False)
    assert result.stderr.startswith("gitml: error: --older-than 'soon' is not a duration or a date")
    assert names(repo_with_runs) == ["alpha", "beta", "gamma"]


def test_docs_mention_every_sharing_command_and_option():
    """docs/sharing.md names each sharing command and each of its options."""
    from pathlib import Path

    import click

    from gitml.cli import cleanup, sharing

    text = (Path(__file__).parent.parent / "docs" / "sharing.md").read_text()
    commands = [sharing.push, sharing.fetch, sharing.pull, cleanup.rm, cleanup.gc]
    commands += [*sharing.remote_group.commands.values(), *sharing.hooks_group.commands.values()]
    for command in commands:
        assert command.name in text, command.name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.opts[0] in text, f"{command.name} {param.opts[0]}"
    assert "--remote" in text
