"""The CLI's error boundary with the operating system: a reader of gitml's output that
goes away (`gitml metrics RUN | head -1`), and a `.git/gitml` this user may not write."""

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gitml.cli.main import cli
from tests.utils import git, gitml, write

# closed pipe


@pytest.fixture
def long_run(repo_with_commit):
    """A run whose metric history, as a table and as CSV, is longer than a pipe's buffer
    (64 KiB): six metrics of 1,000 steps (past that, the table sums each metric up)."""
    write(
        repo_with_commit / "steps.py",
        "import gitml\nfor step in range(1000):\n"
        "    for key in ('loss', 'val_loss', 'acc', 'val_acc', 'lr', 'grad_norm'):\n"
        "        gitml.log_metric(key, step / 3, step=step)\n",
    )
    gitml(repo_with_commit, "run", "--name", "long", "--", "python", "steps.py")
    return repo_with_commit


def read_one_line_and_close(repo, *args: str) -> tuple[bytes, int, str]:
    """Run gitml with its stdout a real pipe, read one line and close the pipe, as
    `gitml ARGS | head -1` does: (the line, the exit status, stderr)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "gitml", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = child.stdout.readline()
    child.stdout.close()
    stderr = child.stderr.read().decode()
    return line, child.wait(timeout=60), stderr


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (["metrics", "long"], b"acc "),
        (["metrics", "--csv", "long"], b"key,step,value,timestamp"),
        (["--traceback", "metrics", "--csv", "long"], b"key,step,value,timestamp"),
    ],
)
def test_a_closed_pipe_ends_gitml_quietly(long_run, args, first):
    line, status, stderr = read_one_line_and_close(long_run, *args)
    assert line.startswith(first)
    assert stderr == ""  # no "unexpected error", no traceback, no "Exception ignored"
    assert status == 141  # what a shell reports for `git log | head -1`


def test_output_still_buffered_at_exit_is_dropped_quietly(repo_with_commit):
    """Output written without a flush (print) meets the closed pipe only at exit."""
    code = (
        "import sys\nfrom gitml.cli.main import main\n"
        "print('buffered')\nsys.argv = ['gitml', 'ls']\nmain()\n"
    )
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=repo_with_commit,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=buffered,
    )
    child.stdout.close()  # the reader is gone before anything is written
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert stderr == "no runs in experiment 'main'\n"  # no "Exception ignored ... BrokenPipe"


# a .git/gitml this user may not write

# Capabilities that let root write anything: without them, root obeys the mode bits.
PRIVILEGES = "-dac_override,-dac_read_search,-fowner"


def unprivileged(repo, *args: str, program: tuple[str, ...] = ("-m", "gitml")):
    """Run python ARGS in `repo` without the right to write what its mode bits refuse
    (as root, with root's overriding capabilities dropped)."""
    command = [sys.executable, *program, *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux) to drop root's capabilities")
        command = ["setpriv", f"--bounding-set={PRIVILEGES}", f"--inh-caps={PRIVILEGES}", *command]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)


def make_read_only(folder) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def read_only_state(repo_with_runs):
    """repo_with_runs with no caches, and a .git/gitml no one may write."""
    state = repo_with_runs / ".git" / "gitml"
    shutil.rmtree(state / "cache")
    make_read_only(state)
    yield repo_with_runs
    for path in [state, *state.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def snapshot(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ls", "--all"], "gamma"),
        (["show", "alpha"], "alpha"),
        (["diff", "alpha", "beta"], "lr"),
        (["compare", "alpha", "beta"], "0.2"),
        (["metrics", "beta"], "loss"),
    ],
)
def test_reading_needs_no_write_access(read_only_state, args, expected):
    state = read_only_state / ".git" / "gitml"
    before = snapshot(state)
    result = unprivileged(read_only_state, *args)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert result.stderr == ""
    assert snapshot(state) == before  # the caches could not be written, and were skipped


def test_a_run_index_another_user_left_is_read_without_writing(repo_with_runs):
    """The owner's run index, in a .git/gitml this user may not write (SQLite cannot
    make its -shm beside it): ls still lists every run, from the refs, and writes
    nothing."""
    git(repo_with_runs, "update-ref", "-d", f"refs/gitml/runs/{_run_id(repo_with_runs, 'beta')}")
    state = repo_with_runs / ".git" / "gitml"
    make_read_only(state)
    try:
        before = snapshot(state)
        result = unprivileged(repo_with_runs, "ls", "--all", "--json")
        assert result.returncode == 0, result.stderr
        assert sorted(run["name"] for run in json.loads(result.stdout)) == ["alpha", "gamma"]
        assert snapshot(state) == before
    finally:
        for path in [state, *state.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _run_id(repo, name: str) -> str:
    runs = json.loads(gitml(repo, "ls", "--all", "--json").stdout)  # builds the index
    return next(run["id"] for run in runs if run["name"] == name)


def test_gitml_run_says_which_folder_it_cannot_write(read_only_state):
    state = read_only_state / ".git" / "gitml"
    before, refs = snapshot(state), git(read_only_state, "for-each-ref", "refs/gitml")
    result = unprivileged(read_only_state, "run", "--", "python", "-c", "print('ran')")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"gitml: error: cannot write {state}{os.sep}")
    assert line.endswith(f": permission denied (check the permissions of {state})")
    assert "ran" not in result.stdout
    assert snapshot(state) == before
    assert git(read_only_state, "for-each-ref", "refs/gitml") == refs


def test_start_run_raises_a_gitml_error_naming_the_folder(read_only_state):
    state = read_only_state / ".git" / "gitml"
    code = "import gitml\ngitml.start_run(name='delta')\n"
    result = unprivileged(read_only_state, "-c", code, program=())
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"gitml.errors.PermissionDeniedError: cannot write {state / 'names' / 'delta'}: "
        f"permission denied (check the permissions of {state})"
    )
    assert "PermissionError" not in result.stderr  # translated, not chained
    assert not (state / "names" / "delta").exists()


def test_a_read_only_git_folder_is_named_when_gitml_has_none_yet(repo_with_commit):
    git_dir = repo_with_commit / ".git"
    make_read_only(git_dir)
    try:
        result = unprivileged(repo_with_commit, "run", "--", "true")
    finally:
        for path in [git_dir, *git_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert result.returncode == 1
    assert result.stderr == (
        f"gitml: error: cannot write {git_dir / 'gitml'}: permission denied "
        f"(check the permissions of {git_dir})\n"
    )
    assert not (git_dir / "gitml").exists()


# --traceback


def test_the_traceback_option_is_in_the_root_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--traceback" in result.output


def test_a_read_only_file_system_is_reported_like_a_refused_permission(tmp_path):
    import errno

    from gitml.errors import PermissionDeniedError

    state_dir = tmp_path / ".git" / "gitml"
    refused = OSError(errno.EROFS, "Read-only file system", str(state_dir / "names" / "x"))
    assert PermissionDeniedError.applies_to(refused)
    assert str(PermissionDeniedError.from_os_error(refused, state_dir)) == (
        f"cannot write {state_dir / 'names' / 'x'}: read-only file system "
        f"(check the permissions of {state_dir})"
    )
    assert not PermissionDeniedError.applies_to(OSError(errno.ENOSPC, "No space left", "f"))
