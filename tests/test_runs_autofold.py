"""Past gitml.liveRuns, recording a run folds older runs in a detached process, as git's
`gc --auto` packs in the background: the recording returns first, with its own exit code
and output; the fold waits for the one lease of folding, finishes on its own, loses no
run; what it could not do is reported once, by the next command. The same for the
runs a script ends (gitml.start_run) and those of the `gitml:` MLflow store
(tests/test_mlflow_store_api.py)."""

import json
import sys
import warnings

import pytest

import gitml
from gitml.store.refs import ARCHIVE_BUCKETS, archive_ref
from gitml.store.repository import open_repository
from gitml.tracking.fold import fold_lease
from tests.utils import assert_fsck_clean, git, wait_until, write_runs_fast
from tests.utils import gitml as gitml_cli

FAILED = "gitml: warning: folding older runs into archive commits failed"


def live_runs(repo) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs/").split()


def listed(repo) -> dict[str, str]:
    """id → name of every run `gitml ls --all` lists, which says nothing on stderr."""
    done = gitml_cli(repo, "ls", "--all", "--json")
    assert done.stderr == ""
    return {run["id"]: run["name"] for run in json.loads(done.stdout)}


def fold_ended(repo) -> None:
    """Wait for the background fold: the refs down to half the budget, then the lease
    it holds until its end let go."""
    wait_until(lambda: len(live_runs(repo)) == 4, "the background fold")
    with fold_lease(open_repository(repo), timeout=60):
        pass


def test_gitml_run_returns_before_its_background_fold_which_loses_no_run(repo_with_commit):
    repo = repo_with_commit
    older = write_runs_fast(repo, 8, lambda i: {"name": f"old-{i}"})
    git(repo, "config", "gitml.liveRuns", "8")
    with fold_lease(open_repository(repo), timeout=0):  # no fold can go before this ends
        done = gitml_cli(repo, "run", "--name", "ninth", "--", sys.executable, "-c", "pass")
        assert len(live_runs(repo)) == 9  # gitml run has ended; the fold has not begun
    assert done.returncode == 0 and done.stdout == ""
    said = done.stderr.splitlines()
    assert len(said) == 2 and said[1].startswith("gitml: run ninth finished (exit 0)")
    fold_ended(repo)
    runs = listed(repo)  # and no report: nothing went wrong
    assert len(runs) == 9 and set(older) < set(runs)
    assert gitml.get_run("old-0", repo=repo)["id"] == older[0]
    assert not (repo / ".git" / "gitml" / "fold.log").exists()
    assert_fsck_clean(repo)


def test_a_failed_background_fold_is_reported_once_by_the_next_command(repo_with_commit):
    repo = repo_with_commit
    write_runs_fast(repo, 8, lambda i: {})
    git(repo, "config", "gitml.liveRuns", "8")
    for bucket in range(ARCHIVE_BUCKETS):  # a ref below each archive ref's name: git
        git(repo, "update-ref", f"{archive_ref(bucket)}/x", "HEAD")  # cannot write it
    done = gitml_cli(repo, "run", "--", sys.executable, "-c", "pass")
    assert "warning" not in done.stderr
    log = repo / ".git" / "gitml" / "fold.log"
    wait_until(log.exists, "the failed fold's log")
    first = gitml_cli(repo, "ls", "--all", "--json")
    (reported,) = [line for line in first.stderr.splitlines() if line.startswith(FAILED)]
    assert "cannot lock ref 'refs/gitml/archive/" in reported
    assert reported.endswith("(in the background, after an earlier run)")
    assert len(json.loads(first.stdout)) == 9, first.stdout
    again = gitml_cli(repo, "ls", "--all", "--json")
    assert again.stderr == "" and not log.exists()
    assert len(live_runs(repo)) == 9
    assert_fsck_clean(repo)


def test_a_run_a_script_ends_folds_in_the_background_too(repo_with_commit):
    repo = repo_with_commit
    write_runs_fast(repo, 8, lambda i: {})
    git(repo, "config", "gitml.liveRuns", "8")
    with fold_lease(open_repository(repo), timeout=0):
        with gitml.start_run(name="scripted", repo=repo):
            gitml.log_metric("loss", 0.5)
        assert len(live_runs(repo)) == 9  # ended, committed, not folded yet
    fold_ended(repo)
    assert "scripted" in listed(repo).values()
    assert_fsck_clean(repo)


def test_a_script_ending_its_run_reports_what_a_background_fold_logged_once(repo_with_commit):
    repo = repo_with_commit
    log = repo / ".git" / "gitml" / "fold.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("folding older runs into archive commits failed: a reason\n")
    with pytest.warns(UserWarning) as caught, gitml.start_run(repo=repo):
        pass
    assert [str(warning.message) for warning in caught] == [
        "folding older runs into archive commits failed: a reason "
        "(in the background, after an earlier run)"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported already: nothing to say
        with gitml.start_run(repo=repo):
            pass
