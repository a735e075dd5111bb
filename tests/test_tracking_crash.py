"""Crash safety and concurrency, with real processes and signals."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.utils import assert_fsck_clean, git, gitml, user_state, write


def ls_all(repo) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--all", "--json").stdout)


def staging_folders(repo) -> list[Path]:
    folder = repo / ".git" / "gitml" / "runs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def record(repo, run: dict) -> dict:
    return json.loads(git(repo, "show", f"{run['commit']}:.gitml/run.json"))


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


def wait_gone(pid: int, timeout: float = 20) -> None:
    """Wait until `pid` has exited (it is not our child: poll /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not exit")


# the script dies


@pytest.mark.parametrize(
    ("ending", "status", "exit_code"),
    [
        ("sys.exit(3)", "failed", 3),
        ("raise RuntimeError('diverged')", "failed", 1),
        ("os.kill(os.getpid(), 9)", "killed", 137),
    ],
)
def test_a_dying_script_is_recorded_with_what_it_logged(
    repo_with_commit, ending, status, exit_code
):
    write(
        repo_with_commit / "train.py",
        "import os, sys, gitml\n"
        "gitml.log_param('lr', 0.1)\n"
        "for step in range(5):\n"
        "    gitml.log_metric('loss', 1 / (step + 1))\n"
        "gitml.log_text('partial', 'notes.txt')\n"
        "print('about to die', flush=True)\n" + ending + "\n",
    )
    result = gitml(repo_with_commit, "run", "--", "python", "train.py", check=False)
    assert result.returncode == exit_code
    (run,) = ls_all(repo_with_commit)
    assert (run["status"], run["exit_code"]) == (status, exit_code)
    assert run["params"] == {"lr": "0.1"}
    assert run["metrics"] == {"loss": 0.2}
    data = record(repo_with_commit, run)
    assert data["metrics"]["loss"]["count"] == 5
    assert [a["path"] for a in data["artifacts"]] == ["notes.txt"]
    output = git(repo_with_commit, "show", f"{run['commit']}:.gitml/logs/output.txt")
    assert "about to die" in output
    if "RuntimeError" in ending:
        assert "RuntimeError: diverged" in output
    assert staging_folders(repo_with_commit) == []
    assert_fsck_clean(repo_with_commit)


# gitml itself is killed


SURVIVOR = """
import os, pathlib, time, gitml
gitml.log_metric("loss", 0.5)
gitml.log_metric("loss", 0.25)
pathlib.Path("../ready.tmp").write_text(str(os.getpid()))
os.replace("../ready.tmp", "../ready")  # whole, or not there yet
while not pathlib.Path("../stop").exists():
    time.sleep(0.02)
gitml.log_metric("loss", 0.125)   # logged after gitml died: still recorded
gitml.log_param("finished_alone", "yes")
"""


def start_survivor(repo: Path, *options: str, new_session: bool = False) -> tuple:
    """`gitml run OPTIONS -- python train.py` running SURVIVOR, once the script is ready:
    (gitml's process, the script's pid)."""
    write(repo / "train.py", SURVIVOR)
    process = subprocess.Popen(
        [sys.executable, "-m", "gitml", "run", *options, "--", "python", "train.py"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=new_session,
    )
    ready = repo.parent / "ready"
    wait_for(ready, process)
    return process, int(ready.read_text())


def kill_gitml_leaving_the_script(repo: Path, name: str) -> int:
    """Start SURVIVOR as run `name`, then `kill -9` gitml alone; the script's pid."""
    process, child_pid = start_survivor(repo, "--name", name)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return child_pid


def test_kill_9_of_gitml_while_the_script_runs_on(repo_with_commit):
    repo = repo_with_commit
    stop = repo.parent / "stop"
    write(repo / "train.py", SURVIVOR)  # in the user state: written before it is taken
    write(repo / "src" / "model.py", "WEIGHT = 2\n")
    before = user_state(repo)
    child_pid = kill_gitml_leaving_the_script(repo, "orphan")
    try:
        # The script still runs: the run is in progress, not recovered yet.
        (running,) = ls_all(repo)
        assert (running["name"], running["status"]) == ("orphan", "running")
        assert len(staging_folders(repo)) == 1
        assert git(repo, "for-each-ref", "refs/gitml/runs") == ""
    finally:
        stop.write_text("")
    wait_gone(child_pid)

    (run,) = ls_all(repo)  # the next gitml command recovers it
    assert (run["name"], run["status"]) == ("orphan", "killed")
    assert run["metrics"] == {"loss": 0.125}
    assert run["params"] == {"finished_alone": "yes"}
    assert record(repo, run)["metrics"]["loss"]["count"] == 3
    assert staging_folders(repo) == []
    assert user_state(repo) == before
    assert_fsck_clean(repo)


def test_kill_9_of_gitml_and_its_script_then_gitml_recover(repo_with_commit):
    repo = repo_with_commit
    process, child_pid = start_survivor(repo, "-P", "lr=1", new_session=True)
    os.killpg(process.pid, signal.SIGKILL)  # gitml and the script die together
    process.wait(timeout=10)
    wait_gone(child_pid)
    (folder,) = staging_folders(repo)

    result = gitml(repo, "recover")
    assert "recovered run" in result.stderr and "killed" in result.stderr
    assert not folder.exists()
    (run,) = json.loads(gitml(repo, "ls", "--json").stdout)
    assert run["status"] == "killed" and run["exit_code"] is None
    assert run["params"] == {"lr": "1"} and run["metrics"] == {"loss": 0.25}
    assert run["id"] in result.stderr
    again = gitml(repo, "recover")
    assert "recovered" not in again.stderr
    assert len(ls_all(repo)) == 1
    assert_fsck_clean(repo)


def test_a_script_using_the_api_killed_by_kill_9_is_recovered(repo_with_commit):
    write(
        repo_with_commit / "script.py",
        "import os, gitml\n"
        "gitml.start_run(name='sudden', params={'a': 1})\n"
        "gitml.log_metric('m', 42)\n"
        "os.kill(os.getpid(), 9)\n",
    )
    result = subprocess.run([sys.executable, "script.py"], cwd=repo_with_commit)
    assert result.returncode == -9
    assert len(staging_folders(repo_with_commit)) == 1
    (run,) = ls_all(repo_with_commit)
    assert (run["name"], run["status"], run["metrics"]) == ("sudden", "killed", {"m": 42})
    assert staging_folders(repo_with_commit) == []
    assert_fsck_clean(repo_with_commit)


def test_a_recovery_cut_short_is_finished_by_the_next_command(repo_with_commit):
    write(
        repo_with_commit / "script.py",
        "import os, gitml\n"
        "gitml.start_run(name='twice-dead')\n"
        "gitml.log_metric('m', 5)\n"
        "os.kill(os.getpid(), 9)\n",
    )
    subprocess.run([sys.executable, "script.py"], cwd=repo_with_commit)
    (folder,) = staging_folders(repo_with_commit)
    # What a recovering process leaves when it dies after claiming the folder:
    dead = subprocess.Popen(["true"])
    dead.wait()
    claimed = repo_with_commit / ".git" / "gitml" / "recovering" / f"{folder.name}.{dead.pid}"
    claimed.parent.mkdir(parents=True)
    folder.rename(claimed)
    result = gitml(repo_with_commit, "recover")
    assert "recovered run twice-dead" in result.stderr
    (run,) = ls_all(repo_with_commit)
    assert (run["name"], run["status"], run["metrics"]) == ("twice-dead", "killed", {"m": 5})
    assert list(claimed.parent.iterdir()) == []
    assert_fsck_clean(repo_with_commit)


def test_recovery_by_several_processes_at_once_commits_each_run_once(repo_with_commit):
    code = (
        "import os, gitml\n"
        "for i in range(3):\n"
        "    gitml.start_run(params={'i': i}) if i == 0 else None\n"
        "gitml.log_metric('m', 1)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    write(repo_with_commit / "script.py", code)
    for _ in range(3):
        subprocess.run([sys.executable, "script.py"], cwd=repo_with_commit)
    assert len(staging_folders(repo_with_commit)) == 3
    recoverers = [
        subprocess.Popen(
            [sys.executable, "-m", "gitml", "recover"],
            cwd=repo_with_commit,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in recoverers]
    assert all(p.returncode == 0 for p in recoverers), outputs
    assert sum(err.count("recovered run") for _, err in outputs) == 3
    listed = ls_all(repo_with_commit)
    assert len(listed) == 3 and {run["status"] for run in listed} == {"killed"}
    assert staging_folders(repo_with_commit) == []
    assert_fsck_clean(repo_with_commit)


# concurrency


WORKER = """
import sys, gitml
worker = sys.argv[1]
for i in range({runs}):
    with gitml.start_run(params={{"worker": worker, "i": i}}):
        gitml.log_metric("value", i)
"""


@pytest.mark.slow
def test_4_processes_times_10_runs_lose_nothing(repo_with_commit):
    # 4 processes starting runs at once on 2 cores race as 8 did; more runs add no new case
    write(repo_with_commit / "worker.py", WORKER.format(runs=10))
    workers = [
        subprocess.Popen(
            [sys.executable, "worker.py", str(w)],
            cwd=repo_with_commit,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    listed = ls_all(repo_with_commit)
    assert len(listed) == 40
    assert len({run["id"] for run in listed}) == 40
    names = Counter(run["name"] for run in listed)
    assert [name for name, count in names.items() if count > 1] == []
    pairs = Counter((run["params"]["worker"], run["params"]["i"]) for run in listed)
    assert set(pairs) == {(str(w), str(i)) for w in range(4) for i in range(10)}
    assert {run["status"] for run in listed} == {"finished"}
    assert all(run["metrics"] == {"value": float(run["params"]["i"])} for run in listed)
    assert staging_folders(repo_with_commit) == []
    assert_fsck_clean(repo_with_commit)


@pytest.mark.slow
def test_parallel_gitml_run_processes_lose_nothing(repo_with_commit):
    processes = [
        subprocess.Popen(
            ["gitml", "run", "-P", f"n={n}", "--", "python", "-c", "pass"],
            cwd=repo_with_commit,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    listed = ls_all(repo_with_commit)
    assert sorted(int(run["params"]["n"]) for run in listed) == list(range(8))
    assert len({run["name"] for run in listed}) == 8
    assert_fsck_clean(repo_with_commit)


def test_concurrent_runs_asking_for_the_same_name_get_it_once(repo_with_commit):
    processes = [
        subprocess.Popen(
            ["gitml", "run", "--name", "contested", "--", "python", "-c", "pass"],
            cwd=repo_with_commit,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 1, 1, 1, 1, 1], outputs
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        if process.returncode:
            assert stderr.startswith("gitml: error: run name 'contested' is already used")
            assert stderr.count("\n") == 1
    assert [run["name"] for run in ls_all(repo_with_commit)] == ["contested"]
    assert staging_folders(repo_with_commit) == []


# gitml's own traces after a crash, and git working beside a run


def test_git_gc_prune_now_during_a_run_keeps_its_snapshot(repo_with_commit):
    import gitml

    repo = repo_with_commit
    write(repo / "new.txt", "untracked while the run went on\n")
    run = gitml.start_run(name="pruned", repo=repo)
    gitml.log_metric("m", 1)
    git(repo, "gc", "-q", "--prune=now")
    summary = gitml.end_run()

    assert summary.status == "finished"
    assert git(repo, "show", f"{summary.sha}:new.txt") == "untracked while the run went on\n"
    assert git(repo, "for-each-ref", "refs/gitml-snapshots/") == ""  # released at commit
    assert "snapshot_lost" not in record(repo, {"commit": summary.sha})
    assert run.id == summary.id
    assert_fsck_clean(repo)


def test_a_snapshot_pruned_anyway_still_gives_a_run_and_says_so(repo_with_commit):
    import gitml

    repo = repo_with_commit
    write(repo / "new.txt", "lost\n")
    run = gitml.start_run(name="lost", repo=repo)
    git(repo, "update-ref", "-d", f"refs/gitml-snapshots/{run.id}")  # as an older gitml had it
    git(repo, "gc", "-q", "--prune=now")
    summary = gitml.end_run()

    assert record(repo, {"commit": summary.sha})["snapshot_lost"] is True
    stored = set(git(repo, "ls-tree", "--name-only", summary.sha).split())
    assert stored == {*git(repo, "ls-tree", "--name-only", "HEAD").split(), ".gitml"}
    assert [r["name"] for r in ls_all(repo)] == ["lost"]
    assert_fsck_clean(repo)


def test_a_run_refs_lock_left_by_a_killed_commit_is_taken_over(repo_with_commit):
    import gitml

    repo = repo_with_commit
    run = gitml.start_run(name="locked", repo=repo)
    lock = repo / ".git" / "refs" / "gitml" / "runs" / f"{run.id}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")  # what a commit killed between taking the lock and renaming leaves

    summary = gitml.end_run()

    assert not lock.exists()
    assert git(repo, "rev-parse", f"refs/gitml/runs/{run.id}").strip() == summary.sha
    assert [r["status"] for r in ls_all(repo)] == ["finished"]
    assert_fsck_clean(repo)


def test_a_script_gitml_never_noted_keeps_its_run_in_progress(repo_with_commit):
    """gitml killed after starting the script but before writing child.json: the run's
    folder is found in the script's environment, so it is not recovered under it."""
    repo = repo_with_commit
    stop = repo.parent / "stop"
    child_pid = kill_gitml_leaving_the_script(repo, "unnoted")
    (folder,) = staging_folders(repo)
    (folder / "child.json").unlink()
    try:
        assert [r["status"] for r in ls_all(repo)] == ["running"]
    finally:
        stop.write_text("")
    wait_gone(child_pid)
    (run,) = ls_all(repo)
    assert (run["name"], run["status"], run["metrics"]) == ("unnoted", "killed", {"loss": 0.125})
    assert_fsck_clean(repo)


def test_a_temporary_index_left_by_a_killed_snapshot_is_removed_later(repo_with_commit):
    """Age comes from the run id: the index is a copy of the user's, with its old mtime."""
    from gitml.store.ids import new_run_id

    folder = repo_with_commit / ".git" / "gitml" / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    two_hours_ago_ms = int((time.time() - 7200) * 1000)
    old = folder / f"index-{new_run_id(two_hours_ago_ms)}"
    fresh = folder / f"index-{new_run_id()}"
    for path in (old, fresh):
        path.write_bytes(b"DIRC")
        os.utime(path, (time.time() - 86400, time.time() - 86400))  # copied with an old mtime

    gitml(repo_with_commit, "ls")

    assert not old.exists()
    assert fresh.exists()  # a snapshot in progress right now


def test_a_run_recovery_cannot_commit_is_reported_and_kept(repo_with_commit):
    import gitml.api as api

    run = api.start_run(name="damaged", repo=repo_with_commit)
    api.log_metric("m", 1)
    folder = run.staging.path
    meta = json.loads((folder / "meta.json").read_text())
    del meta["base"]  # a damaged record: recovery cannot commit it
    meta["owner_pid"] = 2**22 + 1  # no such process: the run is abandoned
    (folder / "meta.json").write_text(json.dumps(meta))
    api._runs.clear()  # this process no longer holds it

    result = gitml(repo_with_commit, "recover", check=False)

    assert result.returncode == 1
    assert f"gitml: warning: cannot recover run {run.id}: KeyError" in result.stderr
    assert "could not be recovered" in result.stderr
    claimed = list((repo_with_commit / ".git" / "gitml" / "recovering").iterdir())
    assert [path.name.partition(".")[0] for path in claimed] == [run.id]
    listed = gitml(repo_with_commit, "ls", "--all", "--json")
    assert f"cannot recover run {run.id}" in listed.stderr  # said again by every command
