"""`gitml sweep --launcher slurm|ray` with the real engines: a Slurm job array through
submitit's local executor (its tasks are processes of this machine), and a Ray head
started on 127.0.0.1 for this module. Trials are runs of the repository, each once."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.test_sweep import TRAIN, only_sweep, start_driver, sweep_runs
from tests.utils import assert_fsck_clean, git, gitml, user_state, write


@pytest.fixture
def project(repo_with_commit) -> Path:
    write(repo_with_commit / "train.py", TRAIN)
    git(repo_with_commit, "add", "train.py")
    git(repo_with_commit, "commit", "-q", "-m", "add train.py")
    write(repo_with_commit / "notes.txt", "uncommitted\n")  # the user's: never touched
    return repo_with_commit


def assert_one_run_per_trial(repo: Path, trials: int) -> list[dict]:
    record = only_sweep(repo)
    assert record["status"] == "finished", record
    runs = sweep_runs(repo, record["id"])
    numbers = [int(run["tags"]["trial"]) for run in runs]
    assert len(numbers) == len(set(numbers))  # each trial recorded once
    assert all(run["tags"]["sweep"] == record["id"] for run in runs)
    assert sum(run["status"] == "finished" for run in runs) == trials  # none lost, none extra
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not any((repo / ".git" / "gitml" / "runs").iterdir())
    assert_fsck_clean(repo)
    return runs


SWEEP = ("--metric", "loss", "--minimize", "-P", "lr=uniform(0, 0.1)")
RUNS = (*SWEEP, "--", "python", "train.py")


@pytest.mark.slow
def test_a_slurm_array_of_workers_records_every_trial_once(project):
    before = user_state(project)
    result = gitml(
        project,
        *("sweep", "--launcher", "slurm", "--slurm-executor", "local", "--jobs", "2"),
        *("--trials", "4", *SWEEP, "--", "python", "train.py"),
    )
    assert "2 array tasks submitted" in result.stderr
    runs = assert_one_run_per_trial(project, 4)
    assert len(runs) == 4
    assert user_state(project) == before


def driver_mid_trial(project: Path, *launcher: str) -> tuple[subprocess.Popen, Path]:
    """A sweep of 4 trials on 2 jobs started with `launcher`, once a trial is in its
    pause after step 0; the driver and the folder of the runs being recorded."""
    driver = start_driver(
        project,
        *launcher,
        *("--jobs", "2", "--trials", "4", "--pruner", "none", *SWEEP),
        *("-P", "x=uniform(6, 7)", "-P", "steps=2", "-P", "pause=1"),
        *("--", "python", "train.py"),
    )
    staged = project / ".git" / "gitml" / "runs"
    while not list(staged.glob("*/metrics/loss.tsv")):
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    return driver, staged


@pytest.mark.slow
def test_kill_9_of_an_array_task_mid_trial_then_resume(project):
    driver, staged = driver_mid_trial(
        project, "--name", "array", "--launcher", "slurm", "--slurm-executor", "local"
    )
    [metrics, *_] = staged.glob("*/metrics/loss.tsv")
    meta = json.loads((metrics.parent.parent / "meta.json").read_text())
    os.kill(meta["owner_pid"], signal.SIGKILL)  # the array task running that trial
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "array tasks ended early" in err and "gitml sweep resume array" in err

    result = gitml(project, "sweep", "resume", "array", "--jobs", "2")
    assert "queued again" in result.stderr
    runs = assert_one_run_per_trial(project, 4)
    cut_short = [run for run in runs if run["status"] == "killed"]
    assert len(runs) == 4 + len(cut_short) and len(cut_short) == 1


def test_slurm_options_without_the_slurm_launcher_or_a_cluster_are_refused(project):
    result = gitml(project, "sweep", "--slurm-partition", "gpu", *RUNS, check=False)
    assert result.returncode != 0
    assert result.stderr.startswith("gitml: error: --slurm-partition needs --launcher slurm")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"}
    result = gitml(project, "sweep", "--launcher", "slurm", *RUNS, check=False, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "gitml: error: no Slurm here (sbatch is not found): run gitml sweep where jobs are "
        "submitted, or --slurm-executor local to try the array on this machine"
    ]
    assert json.loads(gitml(project, "sweep", "ls", "--json").stdout or "[]") == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on this machine for the module; its processes ended with it.

    Its folder is a short one under /tmp: Ray's sockets live inside it, and a socket
    path longer than 107 bytes (as pytest's nested temporary folders give) makes
    `ray start` exit at once."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = folder / "head.log"
    with log.open("wb") as output:
        head = subprocess.Popen(
            [
                *(os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head"),
                *("--block", "--node-ip-address", "127.0.0.1", "--port", str(port)),
                *("--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats"),
                *("--temp-dir", str(folder)),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: ended as a whole below
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not (folder / "session_latest").exists() or not _answers(address):
            started = head.poll() is None and time.monotonic() < deadline
            assert started, "ray start failed:\n" + log.read_text(errors="replace")[-3000:]
            time.sleep(1)
        yield address
    finally:
        # `ray start --block` waits on its monitor for well over 15 s after a SIGTERM:
        # a short grace, then the group is killed (its folder goes with it below)
        for sig, wait in ((signal.SIGTERM, 2), (signal.SIGKILL, 15)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + wait
            # poll() reaps the head: a zombie leader would keep its group alive to the end
            while time.monotonic() < end and (head.poll() is None or _group_alive(head.pid)):
                time.sleep(0.2)
        head.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _answers(address: str) -> bool:
    """Whether a Ray client connects to the head (a connection that hangs counts as no)."""
    probe = f"import ray; ray.init(address={address!r}); ray.shutdown()"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_trials_as_ray_tasks_are_runs_of_the_repository(project, ray_head):
    before = user_state(project)
    result = gitml(
        project,
        *("sweep", "--launcher", "ray", "--jobs", "2", "--trials", "4", *SWEEP),
        *("--", "python", "train.py"),
        env={**os.environ, "RAY_ADDRESS": ray_head},
    )
    assert "best trial" in result.stderr
    runs = assert_one_run_per_trial(project, 4)
    assert len(runs) == 4
    assert user_state(project) == before


def test_an_unreachable_ray_cluster_is_one_line_and_writes_nothing(project):
    address = f"127.0.0.1:{free_port()}"  # nobody listens there
    result = gitml(
        project, "sweep", "--launcher", "ray", "--ray-address", address, *RUNS, check=False
    )
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith(f"gitml: error: cannot reach the Ray cluster at {address}: ")
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    result = gitml(project, "sweep", "--launcher", "ray", *RUNS, check=False, env=env)
    assert "needs the cluster's address" in result.stderr
    assert git(project, "for-each-ref", "refs/gitml") == ""


def test_without_the_extras_one_line_names_them_and_gitml_imports_neither(project, tmp_path):
    for name in ("ray", "submitit"):  # a package that cannot be imported, first on the path
        write(tmp_path / name / "__init__.py", "raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for launcher, extra in (("ray", "ray"), ("slurm", "slurm")):
        args = ("--launcher", launcher, "--slurm-executor", "local", *RUNS)
        result = gitml(project, "sweep", *args, check=False, env=env)
        assert result.stderr.splitlines() == [
            f"gitml: error: --launcher {launcher} needs {extra if extra == 'ray' else 'submitit'}"
            f", which is not installed: pip install 'gitml[{extra}]'"
        ]
    code = (
        "import gitml, gitml.cli.main, gitml.sweeps.driver, sys;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'submitit')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.slow
def test_kill_9_of_a_ray_driver_mid_trial_then_resume(project, ray_head):
    driver, _ = driver_mid_trial(
        project, "--name", "rayed", "--launcher", "ray", "--ray-address", ray_head
    )
    driver.send_signal(signal.SIGKILL)
    driver.wait()

    env = {**os.environ, "RAY_ADDRESS": ray_head}
    gitml(project, "sweep", "resume", "rayed", "--jobs", "2", env=env)
    runs = assert_one_run_per_trial(project, 4)
    cut_short = [run for run in runs if run["status"] == "killed"]
    assert len(runs) == 4 + len(cut_short)
