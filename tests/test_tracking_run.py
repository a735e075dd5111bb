"""`gitml run` through real processes: the snapshot, the wrapped command, the record,
and the user's state, which it never touches."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gitml.store.refs import RefExistsError, create_ref, remove_ref, resolve_ref
from gitml.store.repository import open_repository
from tests.utils import assert_fsck_clean, cli, git, gitml, user_state, write

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def runs(repo, *args: str) -> list[dict]:
    return json.loads(cli(repo, "ls", "--all", "--json", *args).stdout)


def only_run(repo) -> dict:
    (run,) = runs(repo)
    return run


def run_file(repo, run: dict, path: str) -> str:
    return git(repo, "show", f"{run['commit']}:{path}")


def record(repo, run: dict) -> dict:
    return json.loads(run_file(repo, run, ".gitml/run.json"))


def tree_files(repo, run: dict) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "-z", run["commit"]).split("\0")) - {""}


# skeleton


def test_console_script_prints_its_version(tmp_path):
    result = subprocess.run(["gitml", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import gitml

    assert result.stdout.strip() == f"gitml {gitml.__version__}"


def test_python_dash_m_gitml_lists_the_commands(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gitml", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    for command in ("run", "ls", "show", "recover"):
        assert f"  {command} " in result.stdout


# store: snapshot, create-only refs, listing


def test_snapshot_holds_edits_and_untracked_files_and_honours_gitignore(repo_with_commit):
    repo = repo_with_commit
    write(repo / "src" / "model.py", "WEIGHT = 2  # uncommitted\n")
    write(repo / "notes.txt", "untracked\n")
    write(repo / "src" / "new" / "layer.py", "untracked in a new folder\n")
    write(repo / "data" / "big.csv", "ignored by data/\n")
    write(repo / "train.log", "ignored by *.log\n")
    write(repo / "src" / ".gitignore", "*.tmp\ncache/\n")
    write(repo / "src" / "scratch.tmp", "ignored by the nested .gitignore\n")
    write(repo / "src" / "cache" / "x.bin", "ignored by the nested .gitignore\n")
    write(repo / "top.tmp", "not ignored: the nested rule is for src/ only\n")
    (repo / "README.md").unlink()

    gitml(repo, "run", "--", "python", "-c", "pass")

    run = only_run(repo)
    files = tree_files(repo, run)
    assert {"src/model.py", "notes.txt", "src/new/layer.py", "src/.gitignore", "top.tmp"} <= files
    assert "README.md" not in files  # deleted in the work tree, so absent from the snapshot
    for ignored in ("data/big.csv", "train.log", "src/scratch.tmp", "src/cache/x.bin"):
        assert ignored not in files
    assert run_file(repo, run, "src/model.py") == "WEIGHT = 2  # uncommitted\n"
    assert git(repo, "rev-parse", f"{run['commit']}^") == git(repo, "rev-parse", "HEAD")
    assert record(repo, run)["dirty"] is True
    assert_fsck_clean(repo)


def test_dash_c_runs_the_command_in_that_folder_as_git_does(repo_with_commit, tmp_path):
    sub = repo_with_commit / "sub"
    sub.mkdir()
    where = "import os; print(os.getcwd())"
    result = gitml(
        tmp_path, "-C", str(sub), "run", "--name", "there", "--", sys.executable, "-c", where
    )
    assert result.stdout == f"{sub}\n"
    shown = json.loads(gitml(repo_with_commit, "show", "there", "--json").stdout)
    assert shown["cwd"] == "sub"


def test_run_refs_are_created_only_once(repo_with_commit):
    repo = open_repository(repo_with_commit)
    head = git(repo_with_commit, "rev-parse", "HEAD").strip()
    ref = "refs/gitml/runs/" + "0" * 26
    create_ref(repo, ref, head)
    git(repo_with_commit, "commit", "-q", "--allow-empty", "-m", "second")
    second = git(repo_with_commit, "rev-parse", "HEAD").strip()
    try:
        create_ref(repo, ref, second)
    except RefExistsError as error:
        assert ref in str(error)
    else:
        raise AssertionError("an existing run ref was overwritten")
    assert resolve_ref(repo, ref) == head


def test_a_ref_removed_while_git_packs_refs_is_not_left_in_packed_refs(repo_with_commit):
    # `git pack-refs` (a sweep runs it) holds packed-refs.lock, reads the loose refs,
    # writes them to the lock, renames it to packed-refs, then drops the loose files: a
    # ref removed in between would come back from packed-refs
    repo = open_repository(repo_with_commit)
    head = git(repo_with_commit, "rev-parse", "HEAD").strip()
    ref = "refs/gitml/snapshots/" + "0" * 26
    create_ref(repo, ref, head)
    lock = repo_with_commit / ".git" / "packed-refs.lock"
    lock.write_text(f"# pack-refs with: peeled fully-peeled sorted \n{head} {ref}\n")
    remover = threading.Thread(target=remove_ref, args=(repo, ref))
    remover.start()
    time.sleep(0.2)  # the loose file goes meanwhile
    lock.rename(repo_with_commit / ".git" / "packed-refs")
    remover.join()
    assert git(repo_with_commit, "for-each-ref", ref) == ""


def test_ls_json_lists_every_committed_run_from_refs(repo_with_commit):
    for name in ("one", "two", "three"):
        gitml(repo_with_commit, "run", "--name", name, "--", "python", "-c", "pass")
    listed = runs(repo_with_commit)
    refs = git(repo_with_commit, "for-each-ref", "--format=%(refname) %(objectname)")
    by_ref = dict(line.split() for line in refs.splitlines() if "refs/gitml/runs/" in line)
    assert [run["name"] for run in listed] == ["three", "two", "one"]
    assert {f"refs/gitml/runs/{run['id']}": run["commit"] for run in listed} == by_ref


# gitml run: the wrapped command


def test_output_is_streamed_live_and_captured(repo_with_commit):
    repo = repo_with_commit
    go = repo / "go"  # created once the first line arrives
    script = (
        "import os, sys, time\n"
        "print('first line', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.02)\n"
        "print('after go')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gitml", "run", "--", "python", "-c", script],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The script waits for `go`: its first line can only arrive if it is streamed.
    # (A timer lets it go after 20 s so that a broken stream fails instead of hanging.)
    timer = threading.Timer(20, go.write_text, args=("",))
    timer.start()
    try:
        first = process.stdout.readline()
        arrived_while_waiting = not go.exists()
    finally:
        timer.cancel()
        go.write_text("")
    assert first == "first line\n"
    assert arrived_while_waiting
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout == "after go\n"
    assert "to stderr" in stderr
    run = only_run(repo)
    output = run_file(repo, run, ".gitml/logs/output.txt")
    # stdout and stderr are two pipes: their chunks interleave, each in its own order
    assert "to stderr" in output
    assert output.index("first line") < output.index("after go")


def test_exit_code_is_the_scripts_and_non_zero_is_failed(repo_with_commit):
    result = gitml(
        repo_with_commit, "run", "--", "python", "-c", "import sys; sys.exit(7)", check=False
    )
    assert result.returncode == 7
    run = only_run(repo_with_commit)
    assert (run["status"], run["exit_code"]) == ("failed", 7)
    assert "failed (exit 7)" in result.stderr
    ok = gitml(repo_with_commit, "run", "--", "python", "-c", "pass")
    assert ok.returncode == 0
    assert runs(repo_with_commit)[0]["status"] == "finished"


def test_captured_output_is_bounded_and_keeps_the_tail(repo_with_commit):
    script = "for i in range(30000): print(f'line {i:05d} ' + 'x' * 100)"
    result = gitml(repo_with_commit, "run", "--", "python", "-c", script)
    assert result.stdout.count("\n") == 30000  # all of it reached the terminal
    output = run_file(repo_with_commit, only_run(repo_with_commit), ".gitml/logs/output.txt")
    assert 900_000 < len(output) <= 1 << 20
    assert output.endswith("line 29999 " + "x" * 100 + "\n")
    assert "line 00000 " not in output


def wait_for_running(repo, timeout: float = 30) -> dict:
    """The run in progress, once the script has logged its first metric."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [run for run in runs(repo) if run["status"] == "running" and run["metrics"]]
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError("the run never showed as running")


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_is_forwarded_and_the_run_recorded_as_killed(repo_with_commit, signum, exit_code):
    repo = repo_with_commit
    script = "import gitml, time\ngitml.log_metric('before', 1.5)\ntime.sleep(30)\n"
    before = user_state(repo)
    process = subprocess.Popen(
        ["gitml", "run", "--name", "sleeper", "--", "python", "-c", script],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        running = wait_for_running(repo)
        assert running["name"] == "sleeper"
        started = time.monotonic()
        process.send_signal(signum)
        process.wait(timeout=20)
        assert time.monotonic() - started < 10  # the child got the signal, it did not sleep on
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_code
    run = only_run(repo)
    assert (run["name"], run["status"], run["exit_code"]) == ("sleeper", "killed", exit_code)
    assert run["metrics"] == {"before": 1.5}
    assert not any((repo / ".git" / "gitml" / "runs").iterdir())
    assert user_state(repo) == before
    assert_fsck_clean(repo)


def test_every_option_is_recorded(repo_with_commit):
    repo = repo_with_commit
    git(repo, "checkout", "-q", "-b", "feature/lr")
    write(
        repo / "train.py",
        "import json, os, pathlib, gitml\n"
        "p = gitml.get_params()\n"
        "assert json.loads(os.environ['GITML_PARAMS']) == p, p\n"
        "gitml.log_metric('loss', float(p['lr']) * 10)\n"
        "out = pathlib.Path('out'); (out / 'sub').mkdir(parents=True)\n"
        "(out / 'a.txt').write_text('A'); (out / 'sub' / 'b.txt').write_text('BB')\n"
        "pathlib.Path('model.bin').write_bytes(b'\\x00weights')\n",
    )
    gitml(
        repo,
        "run",
        "-P",
        "lr=0.01",
        "--param",
        "epochs=5",
        "--name",
        "baseline",
        "--tag",
        "model=rf",
        "--tag",
        "team=vision",
        "--artifact",
        "model.bin",
        "--artifact",
        "out",
        "-m",
        "first try\nwith two lines",
        "--",
        "python",
        "train.py",
        "--lr",
        "0.01",
    )
    run = only_run(repo)
    assert run["name"] == "baseline"
    assert run["experiment"] == "feature/lr"
    assert run["params"] == {"lr": "0.01", "epochs": "5"}
    assert run["tags"] == {"model": "rf", "team": "vision"}
    assert run["metrics"] == {"loss": 0.1}
    data = record(repo, run)
    assert data["command"] == ["python", "train.py", "--lr", "0.01"]
    assert data["note"] == "first try\nwith two lines"
    assert "first try" in git(repo, "log", "-1", "--format=%B", run["commit"])
    assert data["params"] == {"lr": "0.01", "epochs": "5"}
    assert data["tags"] == {"model": "rf", "team": "vision"}
    assert data["metrics"]["loss"]["last"] == 0.1
    expected = {"model.bin": b"\x00weights", "out/a.txt": b"A", "out/sub/b.txt": b"BB"}
    assert {a["path"]: (a["size"], a["sha256"]) for a in data["artifacts"]} == {
        path: (len(content), hashlib.sha256(content).hexdigest())
        for path, content in expected.items()
    }
    for path, content in expected.items():
        stored = subprocess.run(
            ["git", "cat-file", "blob", f"{run['commit']}:.gitml/artifacts/{path}"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
        assert stored == content
    import yaml

    assert yaml.safe_load(run_file(repo, run, ".gitml/params.yaml")) == run["params"]
    # --experiment overrides the branch
    gitml(repo, "run", "--experiment", "sweep", "--", "python", "-c", "pass")
    assert runs(repo)[0]["experiment"] == "sweep"
    assert_fsck_clean(repo)


def test_record_holds_times_machine_and_environment(repo_with_commit):
    repo = repo_with_commit
    write(repo / "conda.yaml", "name: demo\ndependencies:\n  - python=3.11\n")
    before = int(time.time() * 1000)
    gitml(repo, "run", "--", "python", "-c", "import time; time.sleep(0.2)")
    after = int(time.time() * 1000)
    run = only_run(repo)
    data = record(repo, run)
    assert before <= data["start_ms"] < data["end_ms"] <= after
    assert data["duration_ms"] == data["end_ms"] - data["start_ms"] >= 200
    assert (data["status"], data["exit_code"]) == ("finished", 0)
    assert data["base"] == git(repo, "rev-parse", "HEAD").strip()
    assert data["dirty"] is True  # conda.yaml is untracked
    import getpass
    import platform
    import socket

    assert data["user"] == getpass.getuser()
    assert data["host"] == socket.gethostname()
    assert data["python"] == platform.python_version()
    assert data["platform"] == platform.platform()
    freeze = run_file(repo, run, ".gitml/env/pip-freeze.txt").splitlines()
    assert any(line.lower().startswith("click==") for line in freeze)
    assert any(line.lower().startswith("dulwich==") for line in freeze)
    assert run_file(repo, run, ".gitml/env/conda.yaml") == (repo / "conda.yaml").read_text()


def test_a_clean_tree_is_not_dirty_and_no_conda_spec_means_none_recorded(repo_with_commit):
    gitml(repo_with_commit, "run", "--", "python", "-c", "pass")
    run = only_run(repo_with_commit)
    assert record(repo_with_commit, run)["dirty"] is False
    assert git(repo_with_commit, "rev-parse", f"{run['commit']}^{{tree}}") != EMPTY_TREE
    diff = git(repo_with_commit, "diff", "--name-only", "HEAD", run["commit"]).split()
    assert diff and all(path.startswith(".gitml/") for path in diff)
    assert ".gitml/env/conda.yaml" not in tree_files(repo_with_commit, run)


# never touch the user's state


def test_run_leaves_index_head_branch_stash_and_files_untouched(repo_with_commit):
    repo = repo_with_commit
    write(repo / "src" / "model.py", "WEIGHT = 3\n")
    git(repo, "stash", "-q")  # a stash entry exists
    write(repo / "src" / "model.py", "WEIGHT = 4\n")
    git(repo, "add", "src/model.py")  # staged change ...
    write(repo / "src" / "model.py", "WEIGHT = 5\n")  # ... and a further unstaged one
    write(repo / "README.md", "# edited, not staged\n")
    write(repo / "staged_new.py", "x = 1\n")
    git(repo, "add", "staged_new.py")
    write(repo / "untracked dir" / "ünï.txt", "untracked\n")
    write(repo / "data" / "ignored.csv", "1,2\n")
    before = user_state(repo)
    mtime = os.stat(repo / ".git" / "index").st_mtime_ns

    gitml(repo, "run", "--", "python", "-c", "import gitml; gitml.log_metric('m', 1)")

    assert user_state(repo) == before
    assert os.stat(repo / ".git" / "index").st_mtime_ns == mtime
    run = only_run(repo)
    assert run_file(repo, run, "src/model.py") == "WEIGHT = 5\n"
    assert run_file(repo, run, "staged_new.py") == "x = 1\n"
    assert run_file(repo, run, "untracked dir/ünï.txt") == "untracked\n"
    assert_fsck_clean(repo)


def test_run_in_a_repo_without_commits_leaves_it_unborn(repo):
    write(repo / "train.py", "print('hi')\n")
    before = user_state(repo)
    gitml(repo, "run", "--", "python", "train.py")
    assert user_state(repo) == before
    assert git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    run = only_run(repo)
    assert git(repo, "rev-list", "--parents", "-n", "1", run["commit"]).split() == [run["commit"]]
    assert run["base"] is None
    assert record(repo, run)["dirty"] is True
    assert "train.py" in tree_files(repo, run)
    assert_fsck_clean(repo)


def test_captured_output_never_cuts_a_line_of_one_stream_with_the_other(repo_with_commit):
    write(
        repo_with_commit / "talk.py",
        "import sys, time\n"
        "sys.stdout.write('epoch 1: '); sys.stdout.flush(); time.sleep(0.2)\n"
        "sys.stderr.write('warning: slow disk\\n'); sys.stderr.flush(); time.sleep(0.2)\n"
        "sys.stdout.write('loss 0.5\\n'); sys.stdout.flush()\n",
    )
    gitml(repo_with_commit, "run", "--name", "talk", "--", sys.executable, "talk.py")
    commit = git(repo_with_commit, "rev-parse", "refs/gitml/runs/" + _run_id(repo_with_commit))
    output = git(repo_with_commit, "show", f"{commit.strip()}:.gitml/logs/output.txt")
    assert sorted(output.splitlines()) == ["epoch 1: loss 0.5", "warning: slow disk"]


def _run_id(repo) -> str:
    (run,) = json.loads(gitml(repo, "ls", "--all", "--json").stdout)
    return run["id"]


def test_the_note_option_has_one_name_and_two_spellings(repo_with_commit):
    for option in ("--note", "--message", "-m"):
        gitml(repo_with_commit, "run", "--name", option.strip("-"), option, "why", "--", "true")
    for name in ("note", "message", "m"):
        shown = json.loads(cli(repo_with_commit, "show", "--json", name).stdout)
        assert shown["note"] == "why", name
        message = git(
            repo_with_commit, "log", "-1", "--format=%B", f"refs/gitml/runs/{shown['id']}"
        )
        assert message.split("\n\n")[1] == "why"
