"""The Python logging API, in-process and in real scripts."""

import json
import subprocess
import sys

import pytest

import gitml
from gitml.errors import ArtifactError, InvalidValueError, RunStateError
from tests.utils import assert_fsck_clean, cli, git, user_state, write
from tests.utils import gitml as gitml_cli


@pytest.fixture(autouse=True)
def no_active_run_left():
    """A test that fails mid-run must not leave its run active for the next test."""
    yield
    if gitml.active_run() is not None:
        gitml.end_run("killed")


def run_refs(repo) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()


def show(repo, run: str) -> dict:
    return json.loads(cli(repo, "show", "--json", run).stdout)


def blob(repo, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout


def script(repo, code: str, *args: str) -> subprocess.CompletedProcess:
    """Run `code` as a plain Python script in `repo` (not under `gitml run`)."""
    write(repo / "script.py", code)
    return subprocess.run(
        [sys.executable, "script.py", *args], cwd=repo, capture_output=True, text=True
    )


# in-process: with start_run(), end_run, get_params, get_run, search_runs


def test_with_start_run_commits_a_finished_run(repo_with_commit):
    with gitml.start_run(
        name="ctx", params={"lr": 0.01}, tags={"model": "rf"}, repo=repo_with_commit
    ) as run:
        assert gitml.active_run() is run
        assert run.name == "ctx" and run.experiment == "main"
        gitml.log_param("epochs", 5)
        gitml.log_params({"batch": 32, "opt": "adam"})
        for step in range(3):
            gitml.log_metric("loss", 1 / (step + 1))
        gitml.log_metrics({"acc": 0.5, "f1": 0.25}, step=10)
        gitml.set_tags({"team": "vision"})
        assert gitml.get_params() == {"lr": "0.01", "epochs": "5", "batch": "32", "opt": "adam"}
    assert gitml.active_run() is None
    assert len(run_refs(repo_with_commit)) == 1
    record = gitml.get_run("ctx", repo=repo_with_commit)
    assert record["status"] == "finished"
    assert record["params"] == {"lr": "0.01", "epochs": "5", "batch": "32", "opt": "adam"}
    assert record["tags"] == {"model": "rf", "team": "vision"}
    assert record["metrics"]["loss"] == {
        "last": 1 / 3,
        "min": 1 / 3,
        "max": 1.0,
        "count": 3,
        "last_step": 2,
    }
    assert record["metrics"]["acc"]["last_step"] == 10
    commit = git(repo_with_commit, "rev-parse", run_refs(repo_with_commit)[0]).strip()
    lines = blob(repo_with_commit, commit, ".gitml/metrics/loss.tsv").decode().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["0", "1.0"],
        ["1", "0.5"],
        ["2", repr(1 / 3)],
    ]
    assert_fsck_clean(repo_with_commit)


def test_an_exception_in_the_with_block_fails_the_run_and_propagates(repo_with_commit):
    with pytest.raises(ZeroDivisionError), gitml.start_run(name="boom", repo=repo_with_commit):
        gitml.log_metric("before", 1)
        1 / 0  # noqa: B018
    record = gitml.get_run("boom", repo=repo_with_commit)
    assert record["status"] == "failed"
    assert record["metrics"]["before"]["last"] == 1


def test_start_run_without_with_and_end_run_with_a_status(repo_with_commit):
    run = gitml.start_run("plain", repo=repo_with_commit)
    gitml.log_metric("m", 2)
    with pytest.raises(RunStateError):
        gitml.start_run(repo=repo_with_commit)  # one active run per process
    with pytest.raises(RunStateError):
        gitml.end_run("running")
    summary = gitml.end_run("killed")
    assert (summary.name, summary.status, summary.id) == ("plain", "killed", run.id)
    assert gitml.end_run() is None  # nothing active any more
    assert gitml.get_run(run.id[:10], repo=repo_with_commit)["status"] == "killed"


def test_search_runs_lists_newest_first_with_filters(repo_with_commit):
    for name, status in (("one", "finished"), ("two", "failed"), ("three", "finished")):
        gitml.start_run(name, repo=repo_with_commit, experiment="sweep" if name != "two" else None)
        gitml.end_run(status)
    found = gitml.search_runs(repo=repo_with_commit, output_format="list")
    assert [run["name"] for run in found] == ["three", "two", "one"]
    assert {"id", "name", "status", "params", "metrics", "tags", "commit"} <= found[0].keys()
    assert [
        r["name"]
        for r in gitml.search_runs(status="finished", repo=repo_with_commit, output_format="list")
    ] == [
        "three",
        "one",
    ]
    assert [
        r["name"]
        for r in gitml.search_runs(experiment="main", repo=repo_with_commit, output_format="list")
    ] == ["two"]
    assert len(gitml.search_runs(max_results=2, repo=repo_with_commit, output_format="list")) == 2


def test_statuses_are_case_insensitive_and_unknown_ones_are_refused(repo_with_commit):
    for name, status in (("ok", "FINISHED"), ("bad", "Failed")):  # MLflow spells them upper
        gitml.start_run(name, repo=repo_with_commit)
        gitml.end_run(status)
    for asked in ("FINISHED", "finished", "Finished"):
        found = gitml.search_runs(status=asked, repo=repo_with_commit, output_format="list")
        assert [run["name"] for run in found] == ["ok"]
    assert [
        r["name"]
        for r in gitml.search_runs(status="FAILED", repo=repo_with_commit, output_format="list")
    ] == ["bad"]
    with pytest.raises(InvalidValueError) as raised:
        gitml.search_runs(status="done", repo=repo_with_commit, output_format="list")
    assert str(raised.value) == (
        "unknown run status 'done': use one of running, finished, failed, killed (any case)"
    )
    listed = cli(repo_with_commit, "ls", "--status", "FAILED", "--json")
    assert [run["name"] for run in json.loads(listed.stdout)] == ["bad"]


def test_a_step_or_timestamp_that_is_not_an_integer_is_refused(repo_with_commit):
    with gitml.start_run(name="steps", repo=repo_with_commit):
        for bad in ("x", 1.5, None, True):
            if bad is not None:
                with pytest.raises(InvalidValueError, match="step must be an integer"):
                    gitml.log_metric("a", 1, step=bad)
            with pytest.raises(InvalidValueError) as raised:
                gitml.log_metric("a", 1, timestamp=bad if bad is not None else "")
            message = str(raised.value)
            assert "timestamp must be an integer (milliseconds since the epoch)" in message
            assert "\n" not in message
        with pytest.raises(InvalidValueError, match="timestamp must be an integer"):
            gitml.log_metrics({"b": 1, "c": 2}, step=3, timestamp="soon")
        for huge in (1 << 63, -(1 << 63) - 1):  # past MLflow's 64 bits (and sqlite's)
            with pytest.raises(InvalidValueError, match="step .* is out of range: it must fit"):
                gitml.log_metric("a", 1, step=huge)
            with pytest.raises(InvalidValueError, match="must fit 64 bits \\(milliseconds"):
                gitml.log_metric("a", 1, timestamp=huge)
        gitml.log_metric("a", 0.5, step=7, timestamp=1_700_000_000_000)
    record = gitml.get_run("steps", repo=repo_with_commit)
    assert set(record["metrics"]) == {"a"}  # nothing half-written by the refused calls
    commit = gitml.search_runs(repo=repo_with_commit, output_format="list")[0]["commit"]
    assert blob(repo_with_commit, commit, ".gitml/metrics/a.tsv") == b"7\t0.5\t1700000000000\n"


def test_artifacts_text_and_dicts_are_stored_byte_for_byte(repo_with_commit, tmp_path):
    source = tmp_path / "outside"
    write(source / "plot.png", "png bytes")
    write(source / "folder" / "a.txt", "a")
    write(source / "folder" / "deep" / "b.txt", "b")
    with gitml.start_run(name="files", repo=repo_with_commit):
        gitml.log_artifact(source / "plot.png")
        gitml.log_artifact(source / "plot.png", "figures")
        gitml.log_artifacts(source / "folder")
        gitml.log_artifacts(source / "folder", "copy")
        gitml.log_text("# notes\nünïcode\n", "notes.md")
        gitml.log_dict({"accuracy": 0.93, "labels": ["a", "b"]}, "report.json")
        gitml.log_dict({"accuracy": 0.93, "labels": ["a", "b"]}, "report.yaml")
        with pytest.raises(ArtifactError):
            gitml.log_artifact(source / "missing.png")
        with pytest.raises(ArtifactError):
            gitml.log_artifacts(source / "plot.png")
    record = gitml.get_run("files", repo=repo_with_commit)
    paths = sorted(a["path"] for a in record["artifacts"])
    assert paths == [
        "a.txt",
        "copy/a.txt",
        "copy/deep/b.txt",
        "deep/b.txt",
        "figures/plot.png",
        "notes.md",
        "plot.png",
        "report.json",
        "report.yaml",
    ]
    commit = git(repo_with_commit, "rev-parse", run_refs(repo_with_commit)[0]).strip()
    stored = lambda path: blob(repo_with_commit, commit, f".gitml/artifacts/{path}")  # noqa: E731
    assert stored("figures/plot.png") == b"png bytes"
    assert stored("notes.md") == "# notes\nünïcode\n".encode()
    assert json.loads(stored("report.json")) == {"accuracy": 0.93, "labels": ["a", "b"]}
    import yaml

    assert yaml.safe_load(stored("report.yaml")) == {"accuracy": 0.93, "labels": ["a", "b"]}
    assert not stored("report.yaml").lstrip().startswith(b"{")  # YAML, not JSON


def test_outside_a_repository_the_api_says_so(tmp_path):
    from gitml.errors import NotARepositoryError

    with pytest.raises(NotARepositoryError, match="not a git repository"):
        gitml.start_run(repo=tmp_path)
    assert gitml.active_run() is None


def test_get_run_of_a_running_run_and_unknown_runs(repo_with_commit):
    with gitml.start_run(name="live", params={"a": 1}, repo=repo_with_commit):
        gitml.log_metric("m", 3)
        running = gitml.get_run("live", repo=repo_with_commit)
        assert running["status"] == "running"
        assert running["params"] == {"a": "1"}
        assert running["metrics"]["m"]["last"] == 3.0
        assert [
            r["status"] for r in gitml.search_runs(repo=repo_with_commit, output_format="list")
        ] == ["running"]
    ended = gitml.get_run("live", repo=repo_with_commit)
    assert ended["metrics"].keys() == running["metrics"].keys()
    assert ended["metrics"]["m"].keys() == running["metrics"]["m"].keys()  # one shape
    for key in ("id", "name", "experiment", "status", "params", "tags", "artifacts", "cwd"):
        assert key in running and key in ended
    from gitml.errors import RunNotFoundError

    with pytest.raises(RunNotFoundError):
        gitml.get_run("nope", repo=repo_with_commit)


def test_bad_values_raise_clear_errors_and_the_run_goes_on(repo_with_commit):
    with gitml.start_run(name="bad", repo=repo_with_commit):
        with pytest.raises(InvalidValueError, match="must be a number"):
            gitml.log_metric("acc", "high")
        with pytest.raises(InvalidValueError, match="must be a number"):
            gitml.log_metric("acc", None)
        with pytest.raises(InvalidValueError, match="too large for a float"):
            gitml.log_metric("acc", 10**400)
        with pytest.raises(InvalidValueError, match="step must be an integer"):
            gitml.log_metric("acc", 1.0, step=1.5)
        with pytest.raises(InvalidValueError):
            gitml.log_param("", 1)
        with pytest.raises(InvalidValueError):
            gitml.set_tag("a\nb", 1)
        gitml.log_metric("acc", 0.9)
    record = gitml.get_run("bad", repo=repo_with_commit)
    assert record["status"] == "finished"
    assert record["metrics"]["acc"]["count"] == 1
    assert record["params"] == {} and record["tags"] == {}


# real scripts: attaching under `gitml run`, committing at interpreter exit


ATTACHING_SCRIPT = """
import os, gitml
with gitml.start_run(name="ignored-under-gitml-run", params={"extra": 1}) as run:
    assert run.id == os.environ["GITML_RUN_ID"], (run.id, os.environ["GITML_RUN_ID"])
    assert gitml.get_params() == {"lr": "0.1", "extra": "1"}, gitml.get_params()
    gitml.log_metric("loss", 0.5)
gitml.log_metric("after_with", 1)  # still the same run: a second start attaches again
"""


def test_under_gitml_run_the_api_attaches_to_that_run(repo_with_commit):
    write(repo_with_commit / "train.py", ATTACHING_SCRIPT)
    result = gitml_cli(
        repo_with_commit, "run", "-P", "lr=0.1", "--name", "outer", "--", "python", "train.py"
    )
    assert result.returncode == 0
    assert len(run_refs(repo_with_commit)) == 1
    record = show(repo_with_commit, "outer")
    assert record["status"] == "finished"
    assert record["params"] == {"lr": "0.1", "extra": "1"}
    assert set(record["metrics"]) == {"loss", "after_with"}


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("sys.exit(0)", "finished"),
        ("sys.exit()", "finished"),
        ("sys.exit(None)", "finished"),
        ("sys.exit(3)", "failed"),
        ("sys.exit('gave up')", "failed"),
        ("raise KeyboardInterrupt", "killed"),
        ("raise ValueError('x')", "failed"),
    ],
)
def test_how_a_with_block_ends_decides_the_status(repo_with_commit, ending, status):
    with (
        pytest.raises((SystemExit, KeyboardInterrupt, ValueError)),
        gitml.start_run(name="ending", repo=repo_with_commit),
    ):
        gitml.log_metric("m", 1)
        exec(ending, {"sys": sys})
    assert gitml.active_run() is None
    assert gitml.get_run("ending", repo=repo_with_commit)["status"] == status


def test_a_script_that_exits_0_in_its_with_block_is_finished(repo_with_commit):
    result = script(
        repo_with_commit,
        "import sys, gitml\nwith gitml.start_run(name='b'):\n    sys.exit(0)\n",
    )
    assert result.returncode == 0, result.stderr
    assert show(repo_with_commit, "b")["status"] == "finished"


@pytest.mark.parametrize(
    ("code", "status", "exit_code"),
    [
        ("gitml.log_metric('m', 1)\ngitml.end_run(status='failed')\n", "failed", 0),
        ("gitml.set_tag('t', 1)\ngitml.end_run('KILLED')\n", "killed", 0),
        (
            "try:\n    with gitml.start_run():\n        1 / 0\nexcept ZeroDivisionError:\n"
            "    pass\n",
            "failed",
            0,
        ),
        ("gitml.log_metric('m', 1)\ngitml.end_run('finished')\nsys.exit(2)\n", "failed", 2),
        (
            "gitml.log_param('p', 1)\ngitml.end_run('failed')\ngitml.log_metric('after', 1)\n",
            "failed",
            0,
        ),
        ("with gitml.start_run():\n    gitml.log_metric('m', 1)\n", "finished", 0),
    ],
)
def test_under_gitml_run_the_scripts_own_end_run_status_is_recorded(
    repo_with_commit, code, status, exit_code
):
    write(repo_with_commit / "train.py", "import sys, gitml\n" + code)
    result = gitml_cli(
        repo_with_commit, "run", "--name", "own", "--", "python", "train.py", check=False
    )
    assert result.returncode == exit_code, result.stderr
    record = show(repo_with_commit, "own")
    assert (record["status"], record["exit_code"]) == (status, exit_code)
    assert f"gitml: run own {status} (exit {exit_code})" in result.stderr
    assert len(run_refs(repo_with_commit)) == 1
    assert not list((repo_with_commit / ".git" / "gitml" / "runs").iterdir())


def test_outside_gitml_run_the_first_call_starts_a_run_committed_at_exit(repo_with_commit):
    code = (
        "import gitml\n"
        "gitml.log_metric('loss', 0.25)\n"
        "run = gitml.active_run()\n"
        "gitml.log_param('lr', 0.1)\n"
        "print(run.name)\n"
    )
    write(repo_with_commit / "script.py", code)
    write(repo_with_commit / "src" / "model.py", "WEIGHT = 3\n")
    git(repo_with_commit, "add", "src/model.py")
    before = user_state(repo_with_commit)
    result = script(repo_with_commit, code)
    assert user_state(repo_with_commit) == before
    assert result.returncode == 0, result.stderr
    name = result.stdout.strip()
    assert len(run_refs(repo_with_commit)) == 1
    record = show(repo_with_commit, name)
    assert record["status"] == "finished"
    assert record["params"] == {"lr": "0.1"}
    assert record["metrics"]["loss"]["last"] == 0.25
    assert record["command"][1:] == ["script.py"]
    assert "script.py" in {c["path"] for c in record["files_changed"]}
    assert not list((repo_with_commit / ".git" / "gitml" / "runs").iterdir())
    assert_fsck_clean(repo_with_commit)


def test_outside_gitml_run_an_uncaught_exception_fails_the_run(repo_with_commit):
    result = script(
        repo_with_commit,
        "import gitml\ngitml.log_metric('loss', 0.25)\nraise RuntimeError('diverged')\n",
    )
    assert result.returncode == 1
    assert "RuntimeError: diverged" in result.stderr  # the user's traceback is kept
    (run,) = json.loads(cli(repo_with_commit, "ls", "--json").stdout)
    assert (run["status"], run["metrics"]) == ("failed", {"loss": 0.25})


def test_a_script_may_run_several_runs_one_after_another(repo_with_commit):
    result = script(
        repo_with_commit,
        "import gitml\n"
        "for lr in (0.1, 0.2, 0.3):\n"
        "    with gitml.start_run(params={'lr': lr}):\n"
        "        gitml.log_metric('loss', lr * 2)\n",
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(cli(repo_with_commit, "ls", "--json").stdout)
    assert [run["params"]["lr"] for run in listed] == ["0.3", "0.2", "0.1"]
    assert len({run["name"] for run in listed}) == 3


LIGHT_IMPORTS = """
import json, sys
import gitml
gitml.log_metric("loss", 0.5)
gitml.log_metric("loss", 0.4)
gitml.log_param("lr", 0.1)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("git", "dulwich", "yaml"))
print(json.dumps(heavy))
"""


def test_logging_imports_no_git_library_outside_gitml_run(repo_with_commit):
    result = script(repo_with_commit, LIGHT_IMPORTS)
    assert result.returncode == 0, result.stderr
    heavy = json.loads(result.stdout)
    # Starting its own run reads git config (size limit, recorded variables) with
    # dulwich's config parser, which the commit at exit needs anyway; nothing else of it.
    parser = {"dulwich", "dulwich._typing", "dulwich.config", "dulwich.file"}
    git_modules = [m for m in heavy if m.split(".")[0] in ("git", "dulwich")]
    assert not [m for m in git_modules if m not in parser], heavy
    assert len(run_refs(repo_with_commit)) == 1  # ... and the run is still committed at exit


def test_logging_imports_no_git_library_under_gitml_run(repo_with_commit):
    write(repo_with_commit / "script.py", LIGHT_IMPORTS)
    result = gitml_cli(repo_with_commit, "run", "--", "python", "script.py")
    heavy = json.loads(result.stdout)
    assert heavy == [], heavy


def test_import_gitml_alone_imports_no_heavy_library(tmp_path):
    code = (
        "import sys, gitml\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('git', 'dulwich', 'yaml', 'click', 'numpy', 'pandas')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_a_run_s_note_is_note_or_mlflow_s_description(repo_with_commit):
    for given in ({"note": "first try"}, {"description": "first try"}):
        with gitml.start_run(repo=repo_with_commit, **given) as run:
            pass
        assert show(repo_with_commit, run.id)["note"] == "first try", given
    with pytest.raises(InvalidValueError, match="note= or description=, not both"):
        gitml.start_run(repo=repo_with_commit, note="a", description="b")
    assert gitml.active_run() is None
