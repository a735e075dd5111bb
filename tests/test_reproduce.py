"""`gitml checkout`, `gitml branch`, `gitml rerun`: the user's uncommitted work survives."""

import json

import pytest

from tests.utils import assert_fsck_clean, git, gitml, user_state, write

TRAIN = """\
import gitml, importlib.util
spec = importlib.util.spec_from_file_location("model", "src/model.py")
model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model)
lr = float(gitml.get_params()["lr"])
gitml.log_metric("score", model.WEIGHT * lr)
gitml.log_metric("extra", float(open("extra.txt").read()))
"""


def record_orig(repo):
    """Run `orig` on uncommitted code (WEIGHT = 2, new untracked extra.txt), then a
    clean work tree at HEAD again."""
    write(repo / "train.py", TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "train")
    write(repo / "src" / "model.py", "WEIGHT = 2\n")
    write(repo / "extra.txt", "7\n")
    gitml(repo, "run", "--name", "orig", "-P", "lr=0.5", "--", "python", "train.py")
    git(repo, "checkout", "-q", "--", "src/model.py")
    (repo / "extra.txt").unlink()


@pytest.fixture
def recorded(templates, tmp_path):
    return templates.copy(record_orig, tmp_path / "repo")


def run_sha(repo, name) -> str:
    return json.loads(gitml(repo, "show", name, "--json").stdout)["commit"]


def test_checkout_restores_the_code_without_moving_head(recorded):
    head = git(recorded, "rev-parse", "HEAD")
    branch = git(recorded, "symbolic-ref", "HEAD")
    result = gitml(recorded, "checkout", "orig")
    assert result.stdout == (
        "restored the code of orig: 2 files written or removed\n  extra.txt\n  src/model.py\n"
    )
    assert (recorded / "src" / "model.py").read_text() == "WEIGHT = 2\n"
    assert (recorded / "extra.txt").read_text() == "7\n"
    assert not (recorded / ".gitml").exists()
    assert git(recorded, "rev-parse", "HEAD") == head
    assert git(recorded, "symbolic-ref", "HEAD") == branch
    assert git(recorded, "diff", "--cached", "--name-only") == ""  # index untouched
    again = gitml(recorded, "checkout", "orig")
    assert again.stdout == "the work tree already holds the code of orig\n"


def test_checkout_refuses_to_overwrite_uncommitted_work(recorded):
    write(recorded / "src" / "model.py", "WEIGHT = 99\n")
    write(recorded / "notes.txt", "# my notes\n")  # untracked and not in the run: left alone
    before = user_state(recorded)
    result = gitml(recorded, "checkout", "orig", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: restoring the run would overwrite or remove files no commit holds: "
        "src/model.py; commit them or move them away, or use --force (gitml saves them first, "
        "in a backup that never leaves this repository, and tells you how to get them back)\n"
    )
    assert user_state(recorded) == before
    assert git(recorded, "for-each-ref", "refs/gitml-backups") == ""


def test_checkout_force_saves_the_overwritten_work_first(recorded):
    write(recorded / "src" / "model.py", "WEIGHT = 99\n")
    write(recorded / "notes.txt", "keep me\n")
    result = gitml(recorded, "checkout", "--force", "orig")
    backups = git(recorded, "for-each-ref", "--format=%(refname)", "refs/gitml-backups").split()
    assert len(backups) == 1
    ref = backups[0]
    assert result.stderr == (
        f"gitml: the work tree, with what the checkout replaced (src/model.py), was saved as "
        f"{ref} (kept in this repository only); get them back with: "
        f"git restore --source={ref} --worktree -- :/\n"
    )
    assert (recorded / "src" / "model.py").read_text() == "WEIGHT = 2\n"
    assert (recorded / "notes.txt").read_text() == "keep me\n"  # untracked, not in the run
    assert git(recorded, "show", f"{ref}:src/model.py") == "WEIGHT = 99\n"
    assert git(recorded, "rev-parse", f"{ref}^") == git(recorded, "rev-parse", "HEAD")
    git(recorded, "restore", f"--source={ref}", "--worktree", "--", ".")
    assert (recorded / "src" / "model.py").read_text() == "WEIGHT = 99\n"
    assert_fsck_clean(recorded)


def test_branch_holds_exactly_the_run_code(recorded):
    before = user_state(recorded)
    result = gitml(recorded, "branch", "orig", "from-orig")
    assert result.stdout.startswith("created branch from-orig at ")
    sha = run_sha(recorded, "orig")
    tip = "refs/heads/from-orig"
    assert git(recorded, "rev-parse", f"{tip}^") == git(recorded, "rev-parse", f"{sha}^")
    differing = set(git(recorded, "diff", "--name-only", tip, sha).split())
    assert differing == set(git(recorded, "ls-tree", "-r", "--name-only", sha, ".gitml").split())
    assert git(recorded, "ls-tree", "-r", "--name-only", tip, ".gitml") == ""
    assert git(recorded, "show", f"{tip}:src/model.py") == "WEIGHT = 2\n"
    message = git(recorded, "log", "-1", "--format=%B", tip)
    assert "Code of gitml run orig" in message and "Gitml-Source-Run: " in message
    after = user_state(recorded)
    assert after.pop("branches") != before.pop("branches")
    assert after == before
    taken = gitml(recorded, "branch", "orig", "from-orig", check=False)
    assert taken.returncode == 1
    assert taken.stderr == "gitml: error: branch 'from-orig' already exists; choose another name\n"
    bad = gitml(recorded, "branch", "orig", "bad..name", check=False)
    assert bad.returncode == 1
    assert bad.stderr == "gitml: error: 'bad..name' is not a valid branch name\n"
    assert_fsck_clean(recorded)


def test_rerun_reproduces_in_a_worktree_and_leaves_the_user_alone(recorded):
    write(recorded / "src" / "model.py", "WEIGHT = 50\n")  # uncommitted work
    write(recorded / "scratch.txt", "mine\n")  # untracked work
    before = user_state(recorded)
    result = gitml(recorded, "rerun", "orig", "--check", "--json")
    data = json.loads(result.stdout)
    assert data["moved"] == [] and data["reproduces"] == run_sha_id(recorded, "orig")
    new = data["run"]
    assert new["metrics"] == {"score": 1.0, "extra": 7.0}
    assert new["params"] == {"lr": "0.5"} and new["status"] == "finished"
    record = json.loads(gitml(recorded, "show", new["id"], "--json").stdout)
    assert record["reproduces"] == data["reproduces"]
    assert record["base"] == json.loads(gitml(recorded, "show", "orig", "--json").stdout)["base"]
    assert "code: no differences" in gitml(recorded, "diff", "orig", new["id"]).stdout
    assert user_state(recorded) == before
    assert len(git(recorded, "worktree", "list").splitlines()) == 1
    assert_fsck_clean(recorded)


def run_sha_id(repo, name) -> str:
    return json.loads(gitml(repo, "show", name, "--json").stdout)["id"]


def test_rerun_check_reports_metrics_that_moved(recorded):
    moved = gitml(recorded, "rerun", "orig", "-P", "lr=0.6", "--check", check=False)
    assert moved.returncode == 1
    assert "  metric score moved: 1 → 1.2\n" in moved.stdout
    assert "extra" not in moved.stdout
    near = gitml(recorded, "rerun", "orig", "-P", "lr=0.50001", "--check", check=False)
    assert near.returncode == 1
    loose = gitml(recorded, "rerun", "orig", "-P", "lr=0.50001", "--check", "--rtol", "1e-3")
    assert loose.returncode == 0 and "metrics match (rtol 0.001, atol 1e-08)" in loose.stdout
    without_check = gitml(recorded, "rerun", "orig", "-P", "lr=0.6")
    assert without_check.returncode == 0 and "moved" in without_check.stdout


def test_rerun_of_an_unknown_run_is_one_line(recorded):
    result = gitml(recorded, "rerun", "nosuch", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: no run matches 'nosuch'")
    assert result.stderr.count("\n") == 1


SUBFOLDER_TRAIN = """\
import os, gitml
gitml.log_metric("size", len(open("input.txt").read()))
gitml.log_param("folder", os.path.basename(os.getcwd()))
"""


@pytest.mark.parametrize("folder", ["sub", "data"])  # data/ is ignored: not in the snapshot
def test_rerun_starts_the_command_in_the_folder_it_ran_in(repo_with_commit, folder):
    repo = repo_with_commit
    write(repo / "train.py", SUBFOLDER_TRAIN)
    write(repo / "sub" / "input.txt", "12345\n")
    git(repo, "add", "train.py", "sub/input.txt")
    git(repo, "commit", "-q", "-m", "train from a subfolder")
    (repo / "data").mkdir()
    if folder == "data":
        write(repo / "data" / "input.txt", "ignored, so the rerun cannot read it\n")
    gitml(repo / folder, "run", "--name", "insub", "--", "python", "../train.py", check=False)
    original = json.loads(gitml(repo, "show", "insub", "--json").stdout)
    assert original["cwd"] == folder
    assert f"folder     {folder}\n" in gitml(repo, "show", "insub").stdout
    result = gitml(repo, "rerun", "insub", "--json", check=False)
    new = json.loads(result.stdout)["run"]
    rerun = json.loads(gitml(repo, "show", new["id"], "--json").stdout)
    assert rerun["cwd"] == folder and rerun["params"]["folder"] == folder
    if folder == "sub":
        assert result.returncode == 0, result.stderr
        assert new["status"] == "finished" and new["metrics"] == {"size": 6.0}
    else:  # it ran in data/, which holds nothing the run recorded
        assert "No such file or directory: 'input.txt'" in result.stderr
        assert "can't open file" not in result.stderr  # ../train.py was found
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_run_started_at_the_root_records_it_and_old_runs_rerun_from_the_root(recorded):
    from gitml.errors import InvalidValueError
    from gitml.projects.rerun import plan_rerun

    record = json.loads(gitml(recorded, "show", "orig", "--json").stdout)
    assert record["cwd"] == "."
    assert "folder " not in gitml(recorded, "show", "orig").stdout
    old = {key: value for key, value in record.items() if key != "cwd"}  # before gitml kept it
    assert plan_rerun(old, {}).cwd == "."
    assert plan_rerun({**record, "cwd": "a/b"}, {}).cwd == "a/b"
    for damaged in ("../elsewhere", "/etc", "a/../../b", 3):
        with pytest.raises(InvalidValueError, match="not inside the repository"):
            plan_rerun({**record, "cwd": damaged}, {})


def test_rerun_goes_through_the_launch_of_gitml_run(recorded):
    """Its artifacts are checked as `gitml run` checks them, before anything runs, and
    it says what it started."""
    refs = git(recorded, "for-each-ref", "refs/gitml/runs")
    refused = gitml(recorded, "rerun", "orig", "--artifact", ".env", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    announced, error = refused.stderr.splitlines()
    assert announced.startswith("gitml: rerunning orig")
    assert error.startswith("gitml: error: artifact '.env' looks like a secret")
    assert "`git config gitml.allowSecrets '.env'`" in error
    assert git(recorded, "for-each-ref", "refs/gitml/runs") == refs
    result = gitml(recorded, "rerun", "orig", "--name", "again")
    new_id = run_sha_id(recorded, "again")
    assert f"gitml: run again ({new_id}) started: python train.py\n" in result.stderr
