"""`gitml sweep` on real repositories, real Optuna studies and real trial processes: each
trial a run on the one snapshot taken at the start, in its job's worktree (reset between
trials); the sweep's record, pruning, Ctrl-C and kill -9 then resume, with exact counts."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitml.cli.main import cli as main_cli
from tests.utils import assert_fsck_clean, git, gitml, user_state, write

# A trial: loss is (lr - 0.01)^2 + x, logged over `steps` steps; VERSION shows which
# code ran. With a `gate` file named, it waits for that file first.
TRAIN = """\
import os, sys, time, gitml
VERSION = 1
p = gitml.get_params()
gate = p.get("gate")
while gate and not os.path.exists(gate):
    time.sleep(0.05)
gitml.log_param("version", VERSION)
lr, x = float(p.get("lr", 0.01)), float(p.get("x", 0))
for step in range(int(p.get("steps", 1))):
    gitml.log_metric("loss", (lr - 0.01) ** 2 + x, step=step)
    time.sleep(float(p.get("pause", 0)) * (x > 5))
sys.exit(int(p.get("fail", 0)))
"""


@pytest.fixture
def project(repo_with_commit) -> Path:
    write(repo_with_commit / "train.py", TRAIN)
    git(repo_with_commit, "add", "train.py")
    git(repo_with_commit, "commit", "-q", "-m", "add train.py")
    return repo_with_commit


def sweep_runs(repo: Path, sweep_id: str) -> list[dict]:
    out = gitml(repo, "ls", "--all", "--json", "--filter", f"tags.sweep = '{sweep_id}'").stdout
    return json.loads(out)


def shown(repo: Path, sweep: str) -> dict:
    return json.loads(gitml(repo, "sweep", "show", sweep, "--json").stdout)


def only_sweep(repo: Path) -> dict:
    listed = json.loads(gitml(repo, "sweep", "ls", "--json").stdout)
    assert len(listed) == 1, listed
    return listed[0]


def test_trials_are_runs_of_one_snapshot_and_leave_the_user_state_alone(project, tmp_path):
    gate = tmp_path / "gate"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "gitml", "sweep", "--name", "tune", "--jobs", "2"]
        + ["--trials", "4", "--metric", "loss", "--minimize", "--seed", "1"]
        + ["-P", "lr=loguniform(1e-4,1e-1)", "-P", "x=choice(0, 1)", "-P", f"gate={gate}"]
        + ["--", "python", "train.py", "--lr", "{lr}"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs_dir = project / ".git" / "gitml" / "runs"
    while not (runs_dir.is_dir() and len(list(runs_dir.iterdir())) == 2):  # both jobs wait
        assert sweep.poll() is None, sweep.communicate()
        time.sleep(0.05)
    # the user edits and stages while trials run: no trial sees it, nothing of theirs moves
    write(project / "train.py", TRAIN.replace("VERSION = 1", "VERSION = 2"))
    write(project / "notes.txt", "mine\n")
    git(project, "add", "notes.txt")
    before = user_state(project)
    assert before.pop("worktrees").count("worktree ") == 3  # the trials' own, for now
    gate.write_text("go")
    out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, err
    after = user_state(project)
    assert after.pop("worktrees").count("worktree ") == 1  # the trials' are gone
    assert after == before
    assert_fsck_clean(project)

    record = only_sweep(project)
    assert (record["name"], record["status"], record["trials"]) == ("tune", "finished", 4)
    runs = sweep_runs(project, record["id"])
    assert len(runs) == 4
    assert sorted(int(run["tags"]["trial"]) for run in runs) == [0, 1, 2, 3]
    assert {run["params"]["version"] for run in runs} == {"1"}  # the snapshot's code
    assert {run["status"] for run in runs} == {"finished"}
    assert {run["experiment"] for run in runs} == {"main"}
    head = git(project, "rev-parse", "HEAD").strip()
    for run in runs:  # parent: the commit the user was on; tree: the snapshot's code
        sha = git(project, "rev-parse", f"refs/gitml/runs/{run['id']}").strip()
        assert git(project, "rev-parse", f"{sha}^").strip() == head
        assert git(project, "diff", "--stat", record["snapshot"], sha, "--", ".", ":!.gitml") == ""
        assert "VERSION = 1" in git(project, "show", f"{sha}:train.py")
    assert git(project, "rev-parse", f"{record['snapshot']}^").strip() == head

    table = shown(project, "tune")["trials_recorded"]
    values = [row["value"] for row in table]
    assert values == sorted(values) and len(table) == 4
    assert record["best"]["value"] == values[0] and record["best"]["run"] == table[0]["run"]
    assert f"trial {table[0]['trial']} complete" in err
    assert "best trial" in err


def test_a_sweep_of_a_project_entry_point_takes_its_space_from_gitml_yaml(project):
    write(
        project / "gitml.yaml",
        "entry_points:\n"
        "  main:\n"
        "    parameters: {lr: float, x: {type: int, default: 0}}\n"
        "    command: python train.py --lr {lr}\n"
        "metrics: {loss: min}\n"
        "sweeps:\n"
        "  main:\n"
        "    params: {lr: 'loguniform(1e-4, 1e-1)', x: 'range(0, 3)'}\n"
        "    trials: 3\n"
        "    sampler: grid\n"
        "    metric: loss\n",
    )
    result = gitml(project, "sweep", "-P", "lr=0.5", "--jobs", "2")
    record = only_sweep(project)
    assert record["entry_point"] == "main" and record["sampler"] == "grid"
    assert record["params"] == {"lr": "0.5", "x": "range(0, 3)"}  # -P replaces the file's
    runs = sweep_runs(project, record["id"])
    assert sorted(run["params"]["x"] for run in runs) == ["0", "1", "2"]  # the whole grid
    assert {run["params"]["lr"] for run in runs} == {"0.5"}
    assert record["best"]["value"] == pytest.approx((0.5 - 0.01) ** 2)
    assert "best trial" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["-P", "lr=loguniform(0,1)"], "-P lr: loguniform needs 0 < LOW (got 0.0)"),
        (["-P", "lr=normal(0,1)"], "-P lr: unknown form normal(...)"),
        (["-P", "lr=0.1"], "nothing to search"),
        (["-P", "lr=uniform(0,1)", "--metric", "loss"], "--minimize or --maximize loss"),
        (["-P", "lr=uniform(0,1)", "--minimize"], "--metric KEY"),
        (["-P", "lr=uniform(0,1)", "--metric", "m", "--minimize", "--sampler", "grid"], "finite"),
        (["-P", "lr=uniform(0,1)", "--metric", "m", "--minimize", "--jobs", "0"], "--jobs 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(project, args, message):
    before = user_state(project)
    result = CliRunner().invoke(
        main_cli, ["-C", str(project), "sweep", *args, "--", "python", "train.py", "--lr", "{lr}"]
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gitml: error: ")
    assert message in result.stderr
    assert user_state(project) == before
    assert git(project, "for-each-ref", "refs/gitml") == ""
    assert not (project / ".git" / "gitml" / "sweeps").exists()


def test_a_command_field_naming_no_param_or_a_missing_program_is_refused(project):
    common = ["-C", str(project), "sweep", "-P", "lr=uniform(0,1)", "--metric", "m", "--minimize"]
    result = CliRunner().invoke(main_cli, [*common, "--", "python", "train.py", "{lrr}"])
    assert "uses {lrr}, which is no param of the sweep" in result.stderr
    result = CliRunner().invoke(main_cli, [*common, "--", "no-such-program-here", "{lr}"])
    assert "command not found: no-such-program-here" in result.stderr
    assert git(project, "for-each-ref", "refs/gitml") == ""


def test_pruned_and_failed_trials_are_recorded_with_why(project):
    # grid order: x = 1..5 complete (fast), then x = 9 would take 60 s: the median pruner
    # stops it after its first steps; fail=1 on a second sweep fails every trial.
    result = gitml(
        project,
        "sweep",
        "--name",
        "prune",
        "--sampler",
        "grid",
        "-P",
        "x=choice(1, 2, 3, 4, 5, 9)",
        "-P",
        "steps=60",
        "-P",
        "pause=1",
        "--metric",
        "loss",
        "--minimize",
        "--",
        "python",
        "train.py",
    )
    table = {row["trial"]: row for row in shown(project, "prune")["trials_recorded"]}
    assert [table[n]["state"] for n in range(5)] == ["complete"] * 5
    assert table[5]["state"] == "pruned" and table[5]["status"] == "killed"
    assert "pruned by the median pruner at step" in table[5]["pruned"]
    assert "trial 5 pruned: pruned by the median pruner" in result.stderr

    failing = gitml(
        project,
        "sweep",
        "--name",
        "fails",
        "--trials",
        "2",
        "-P",
        "x=uniform(0, 1)",
        "-P",
        "fail=3",
        "--metric",
        "loss",
        "--minimize",
        "--",
        "python",
        "train.py",
    )
    rows = shown(project, "fails")["trials_recorded"]
    assert [row["state"] for row in rows] == ["failed", "failed"]
    assert "trial 0 failed: the run failed (exit 3)" in failing.stderr
    assert "no trial completed" in failing.stderr


def test_a_job_resets_its_worktree_between_trials_and_one_bad_trial_fails_alone(project):
    # One job runs the grid's trials one after the other in one worktree. Each checks it
    # starts from the snapshot, then edits a tracked file, leaves an untracked and an
    # ignored file, stages a file and commits (moving HEAD). x is an int of the entry
    # point: the dry plan (x=1) passes, trial 1 (x=deep) is refused when it is planned:
    # it fails, in one line, and the others run.
    write(
        project / "gitml.yaml",
        "entry_points:\n  main:\n    parameters: {x: int}\n    command: sh messy.sh\n",
    )
    write(project / ".gitignore", "*.log\n")
    write(project / "data.txt", "v1\n")
    write(
        project / "messy.sh",
        "set -e\n"
        "test ! -e left.txt && test ! -e out.log && test ! -e made/deep\n"
        "grep -q v1 data.txt\n"
        'test -z "$(git status --porcelain)"\n'
        "echo edited > data.txt; echo x > left.txt; echo x > out.log\n"
        "mkdir -p made && echo x > made/deep && git add made\n"
        "git -c user.name=t -c user.email=t@t commit -qm trial\n"
        "python train.py\n",
    )
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "messy trials")
    result = gitml(
        project,
        *("sweep", "--name", "messy", "--sampler", "grid", "-P", "x=choice(1, deep, 2)"),
        *("--metric", "loss", "--minimize"),
    )
    said = [line for line in result.stderr.splitlines() if "trial 1" in line]
    assert len(said) == 1 and said[0].startswith("gitml: trial 1 failed: "), result.stderr
    assert "deep" in said[0]
    assert result.stderr.count(" complete: ") == 2, result.stderr  # none found a mess
    record = only_sweep(project)
    assert record["status"] == "finished" and record["best"]["trial"] == 0
    runs = sweep_runs(project, record["id"])
    assert sorted(run["tags"]["trial"] for run in runs) == ["0", "2"]
    head = git(project, "rev-parse", "HEAD").strip()
    for run in runs:  # each run's parent is the commit the user was on, not a trial's
        assert git(project, "rev-parse", f"refs/gitml/runs/{run['id']}^").strip() == head
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


def start_driver(repo: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gitml", "sweep", *args],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def in_first_step(staged: Path) -> bool:
    """Whether a trial of this staging folder has logged its first step only: it is in
    the middle of its command, far from its end."""
    return any(path.read_text().count("\n") == 1 for path in staged.glob("*/metrics/loss.tsv"))


def committed_runs(repo: Path) -> int:
    return len(git(repo, "for-each-ref", "refs/gitml/runs").splitlines())


@pytest.mark.slow
def test_kill_9_of_the_driver_then_resume_records_every_trial_once(project, tmp_path):
    driver = start_driver(
        project,
        *("--name", "crash", "--trials", "6", "--jobs", "2", "--metric", "loss", "--minimize"),
        *("--pruner", "none"),
        *("-P", "x=uniform(6, 7)", "-P", "steps=2", "-P", "pause=0.5"),
        *("--", "python", "train.py"),
    )
    while committed_runs(project) < 2:
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.05)
    staged = project / ".git" / "gitml" / "runs"
    while not in_first_step(staged):
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.01)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # a trial worktree of a live process (another worker of the sweep here) is its own
    sweep_id = only_sweep(project)["id"]
    live = tmp_path / f"gitml-sweep-{sweep_id}-{os.getpid()}-x"
    live.mkdir()
    (live / "owner.json").write_text(json.dumps({"pid": os.getpid()}))
    git(project, "worktree", "add", "-q", "--detach", str(live / live.name), "HEAD")

    result = gitml(project, "sweep", "resume", "crash", "--jobs", "2")
    listed = git(project, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 2 and str(live / live.name) in listed
    git(project, "worktree", "remove", str(live / live.name))
    record = only_sweep(project)
    assert record["status"] == "finished"
    runs = sweep_runs(project, record["id"])
    trials = [int(run["tags"]["trial"]) for run in runs]
    assert len(trials) == len(set(trials))  # no trial recorded twice
    finished = [run for run in runs if run["status"] == "finished"]
    assert len(finished) == 6  # none lost, none extra
    cut_short = [run for run in runs if run["status"] == "killed"]
    assert len(runs) == 6 + len(cut_short) and len(cut_short) >= 1
    assert "queued again" in result.stderr
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not any((project / ".git" / "gitml" / "runs").iterdir())
    assert_fsck_clean(project)
    ref = f"refs/gitml/sweeps/{record['id']}"
    before = git(project, "rev-parse", ref)
    again = gitml(project, "sweep", "resume", "crash")  # nothing left to do: no new run
    assert "best trial" in again.stderr
    assert len(sweep_runs(project, record["id"])) == len(runs)
    assert git(project, "rev-parse", ref) == before  # nor a new record


def test_ctrl_c_stops_the_running_trial_and_the_sweep(project):
    driver = start_driver(
        project,
        *("--name", "stop", "--trials", "3", "--metric", "loss", "--minimize"),
        *("-P", "x=uniform(6, 7)", "-P", "steps=100", "-P", "pause=1"),
        *("--", "python", "train.py"),
    )
    staged = project / ".git" / "gitml" / "runs"
    while not (staged.is_dir() and any(staged.iterdir())):
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "gitml sweep resume stop" in err
    assert only_sweep(project)["status"] == "stopped"
    [killed] = sweep_runs(project, only_sweep(project)["id"])
    assert killed["status"] == "killed"


def test_sweep_ls_without_sweeps_and_show_of_an_unknown_one(project):
    result = CliRunner().invoke(main_cli, ["-C", str(project), "sweep", "ls"])
    assert result.exit_code == 0 and "no sweeps" in result.stderr
    result = CliRunner().invoke(main_cli, ["-C", str(project), "sweep", "show", "nope"])
    assert result.exit_code == 1
    assert result.stderr == "gitml: error: no sweep named 'nope' (`gitml sweep ls` lists them)\n"


def test_trial_runs_run_with_automatic_gc_off(project):
    script = (
        "import os, gitml\n"
        "gitml.log_metric('loss', 1)\n"
        "print(os.environ['GIT_CONFIG_KEY_0'], os.environ['GIT_CONFIG_VALUE_0'])\n"
    )
    write(project / "env.py", script)
    gitml(
        project,
        *("sweep", "--name", "gc", "--trials", "1", "--metric", "loss", "--minimize"),
        *("-P", "x=uniform(0,1)", "--", "python", "env.py"),
        env={**os.environ, "GIT_CONFIG_COUNT": "0"},
    )
    [run] = sweep_runs(project, only_sweep(project)["id"])
    output = git(project, "show", f"refs/gitml/runs/{run['id']}:.gitml/logs/output.txt")
    assert output == "gc.auto 0\n"
    config = git(project, "config", "--list")  # nothing written to the repository's config
    assert "gc.auto" not in config


def test_a_sweep_travels_with_push_and_fetch(project, tmp_path):
    from tests.sharing_helpers import bare_remote, clone

    remote = bare_remote(tmp_path)
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "main")
    gitml(
        project,
        *("sweep", "--name", "away", "--trials", "2", "--metric", "loss", "--minimize"),
        *("-P", "x=choice(1, 2)", "--sampler", "grid", "--", "python", "train.py"),
    )
    gitml(project, "push", "origin")
    other = clone(remote, tmp_path / "other")
    gitml(other, "fetch", "origin")
    here, there = shown(project, "away"), shown(other, "away")
    assert there == here and len(there["trials_recorded"]) == 2
    assert git(other, "cat-file", "-t", there["snapshot"]).strip() == "commit"


MISSING = object()  # a field a forged record leaves out


def forge_sweep(
    repo: Path, record: dict | str, sweep_id: str = "01m98cfd4t2t8a2pgv0f3c9cqz"
) -> str:
    """A sweep ref whose record says `record` (as a fetched one may), made with plain git."""
    text = record if isinstance(record, str) else json.dumps(record)
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo,
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "mktree"],
        cwd=repo,
        input=f"100644 blob {blob}\tsweep.json\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "sweep forged").strip()
    git(repo, "update-ref", f"refs/gitml/sweeps/{sweep_id}", commit)
    return sweep_id


def record_a_good_sweep(repo: Path) -> None:
    """train.py committed, then a sweep `good` of one trial (once per session)."""
    write(repo / "train.py", TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "add train.py")
    gitml(
        repo,
        *("sweep", "--name", "good", "--trials", "1", "--metric", "loss", "--minimize"),
        *("-P", "x=choice(1)", "--", "python", "train.py"),
    )


@pytest.fixture
def swept(templates, tmp_path) -> Path:
    """A copy of a repository with the finished sweep `good`."""
    return templates.copy(record_a_good_sweep, tmp_path / "repo")


@pytest.mark.parametrize(
    "change, damage",
    [
        ({"snapshot": "--upload-pack=touch /tmp/x"}, "snapshot is not a commit id"),
        ({"folder": "../../outside"}, "its folder"),
        ({"folder": "/etc"}, "its folder is absolute"),
        ({"trials": "many"}, "'trials' is missing or of the wrong type"),
        ({"params": {"lr": 3}}, "params must map names to text"),
        ({"format": 99}, "record format 99 unknown"),
        ({"direction": MISSING}, "direction or status is not one gitml knows"),
        ({"status": MISSING}, "direction or status is not one gitml knows"),
    ],
)
def test_a_hostile_sweep_record_is_listed_damaged_and_never_used(swept, change, damage):
    project = swept
    record = {**shown(project, "good"), "id": "01m98cfd4t2t8a2pgv0f3c9cqz", "name": "bad"}
    del record["trials_recorded"], record["sha"]
    forge_sweep(project, {k: v for k, v in {**record, **change}.items() if v is not MISSING})
    listed = {s["id"]: s for s in json.loads(gitml(project, "sweep", "ls", "--json").stdout)}
    assert damage in listed["01m98cfd4t2t8a2pgv0f3c9cqz"]["damage"]
    assert listed[shown(project, "good")["id"]]["status"] == "finished"  # the others stay
    for command in (["show"], ["resume"]):
        result = gitml(project, "sweep", *command, "01m98cfd4t2t", check=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1
        assert "is damaged" in result.stderr
    assert gitml(project, "sweep", "ls").stdout.count("damaged") == 1


def test_a_record_that_is_no_json_or_too_big_is_damaged_too(project):
    forge_sweep(project, "{not json", "01m98cfd4t2t8a2pgv0f3c9cq1")
    forge_sweep(project, "x" * (2 << 20), "01m98cfd4t2t8a2pgv0f3c9cq2")
    listed = json.loads(gitml(project, "sweep", "ls", "--json").stdout)
    assert {
        s["id"][-1]: "not valid JSON" in s["damage"] or "bytes" in s["damage"] for s in listed
    } == {
        "1": True,
        "2": True,
    }
