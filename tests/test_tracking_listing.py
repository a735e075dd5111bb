"""Run ids and names, `gitml ls` and `gitml show`.

The commands run in-process through click's CliRunner; the runs they list
were recorded by real `gitml run` processes (the `repo_with_runs` fixture).
"""

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gitml
from gitml.cli.main import cli
from gitml.store.ids import is_run_id, run_id_time_ms
from gitml.tracking.ids import ADJECTIVES, NOUNS
from tests.utils import git, write

LS_FIELDS = {
    "id",
    "name",
    "experiment",
    "status",
    "exit_code",
    "start_ms",
    "end_ms",
    "duration_ms",
    "base",
    "branch",
    "user",
    "command",
    "params",
    "metrics",
    "tags",
    "commit",
    "damage",
}


def invoke(repo, *args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["-C", str(repo), *args], env=env, catch_exceptions=False)


def ls_json(repo, *args: str) -> list[dict]:
    result = invoke(repo, "ls", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def common_prefix(a: str, b: str) -> str:
    length = 0
    while length < min(len(a), len(b)) and a[length] == b[length]:
        length += 1
    return a[:length]


# ids and names


def test_ids_are_time_ordered_and_names_are_adjective_noun(repo_with_commit):
    for _ in range(12):
        with gitml.start_run(repo=repo_with_commit):
            pass
    listed = ls_json(repo_with_commit)
    ids = [run["id"] for run in listed]
    assert all(is_run_id(i) for i in ids)
    assert ids == sorted(ids, reverse=True)  # newest first is id order
    for run in listed:  # the id carries the time the run started
        assert 0 <= run["start_ms"] - run_id_time_ms(run["id"]) < 5000
    names = [run["name"] for run in listed]
    assert len(set(names)) == len(names)
    for name in names:
        adjective, noun = name.split("-")
        assert adjective in ADJECTIVES and noun in NOUNS


def test_a_run_resolves_by_name_and_by_any_unique_id_prefix(repo_with_runs):
    runs = {run["name"]: run for run in ls_json(repo_with_runs)}
    beta = runs["beta"]
    others = [run["id"] for name, run in runs.items() if name != "beta"]
    unique = max(len(common_prefix(beta["id"], other)) for other in others) + 1
    for text in ("beta", beta["id"], beta["id"][: max(unique, 4)], beta["id"][:20]):
        result = invoke(repo_with_runs, "show", "--json", text)
        assert result.exit_code == 0, (text, result.stderr)
        assert json.loads(result.stdout)["id"] == beta["id"]


def test_an_ambiguous_prefix_lists_the_candidates(repo_with_runs):
    ids = [run["id"] for run in ls_json(repo_with_runs)]
    prefix = common_prefix(common_prefix(ids[0], ids[1]), ids[2])
    assert len(prefix) >= 4  # three runs started within seconds share their time prefix
    result = invoke(repo_with_runs, "show", prefix)
    assert result.exit_code == 1
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("gitml: error: ")
    assert "ambiguous" in line
    for run_id in ids:
        assert run_id in line


def test_a_name_shared_with_runs_fetched_from_a_clone_is_ambiguous(repo_with_commit, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo_with_commit), str(clone))
    for where in (repo_with_commit, clone):
        with gitml.start_run(name="baseline", repo=where):
            gitml.log_metric("m", 1)
    git(repo_with_commit, "fetch", "-q", str(clone), "refs/gitml/*:refs/gitml/*")
    ids = sorted(run["id"] for run in ls_json(repo_with_commit))
    assert len(ids) == 2
    result = invoke(repo_with_commit, "show", "baseline")
    assert result.exit_code == 1
    assert "ambiguous" in result.stderr and all(i in result.stderr for i in ids)
    for run_id in ids:  # each one still resolves by id
        shown = invoke(repo_with_commit, "show", "--json", run_id[:20])
        assert json.loads(shown.stdout)["id"] == run_id


def test_an_exact_name_wins_over_id_prefixes(repo_with_runs):
    ids = [run["id"] for run in ls_json(repo_with_runs)]
    prefix = common_prefix(common_prefix(ids[0], ids[1]), ids[2])[:4]
    assert len(prefix) == 4  # a prefix of the three runs' ids: ambiguous as a prefix
    with gitml.start_run(name=prefix, repo=repo_with_runs) as named:
        gitml.log_metric("m", 1)
    result = invoke(repo_with_runs, "show", "--json", prefix)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == named.id
    assert gitml.get_run(prefix, repo=repo_with_runs)["id"] == named.id
    by_id = invoke(repo_with_runs, "show", "--json", named.id[:20])  # its id still resolves
    assert json.loads(by_id.stdout)["name"] == prefix


def test_an_unknown_run_is_a_one_line_error(repo_with_runs):
    for text in ("zzzz", "no-such-run", "x"):
        result = invoke(repo_with_runs, "show", text)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert f"no run matches '{text}'" in result.stderr
        assert "Traceback" not in result.stderr


# gitml ls


def test_ls_json_has_stable_fields_newest_first(repo_with_runs):
    listed = ls_json(repo_with_runs)
    assert [run["name"] for run in listed] == ["gamma", "beta", "alpha"]
    for run in listed:
        assert set(run) == LS_FIELDS
    gamma, beta, alpha = listed
    assert (gamma["status"], gamma["exit_code"]) == ("failed", 3)
    assert (beta["status"], beta["exit_code"]) == ("finished", 0)
    assert beta["params"] == {"lr": "0.2", "fail": "0"}
    assert beta["metrics"] == {"loss": 5.0, "acc": 0.4}
    assert beta["experiment"] == "main"
    assert beta["command"] == "python train.py"
    assert beta["base"] == git(repo_with_runs, "rev-parse", "HEAD").strip()
    assert beta["duration_ms"] == beta["end_ms"] - beta["start_ms"] >= 0
    assert (
        beta["commit"] == git(repo_with_runs, "rev-parse", f"refs/gitml/runs/{beta['id']}").strip()
    )


def test_ls_filters_by_status_and_limits(repo_with_runs):
    assert [r["name"] for r in ls_json(repo_with_runs, "--status", "failed")] == ["gamma"]
    assert [r["name"] for r in ls_json(repo_with_runs, "--status", "finished")] == [
        "beta",
        "alpha",
    ]
    assert ls_json(repo_with_runs, "--status", "killed") == []
    assert [r["name"] for r in ls_json(repo_with_runs, "--limit", "2")] == ["gamma", "beta"]
    assert [r["name"] for r in ls_json(repo_with_runs, "-n", "1", "--status", "finished")] == [
        "beta"
    ]
    bad = invoke(repo_with_runs, "ls", "--status", "bogus")
    assert bad.exit_code == 2 and "bogus" in bad.stderr


def test_ls_shows_the_current_branch_unless_told_otherwise(repo_with_runs):
    repo = repo_with_runs
    with gitml.start_run(name="elsewhere", experiment="sweep", repo=repo):
        pass
    assert [r["name"] for r in ls_json(repo)] == ["gamma", "beta", "alpha"]
    assert [r["name"] for r in ls_json(repo, "--experiment", "sweep")] == ["elsewhere"]
    assert [r["name"] for r in ls_json(repo, "--all")] == ["elsewhere", "gamma", "beta", "alpha"]
    git(repo, "checkout", "-q", "-b", "other")
    assert ls_json(repo) == []
    empty = invoke(repo, "ls")
    assert empty.exit_code == 0
    assert "no runs in experiment 'other'" in empty.stderr and "--all" in empty.stderr
    git(repo, "checkout", "-q", "--detach")
    with gitml.start_run(name="detached", repo=repo):
        pass
    assert [r["name"] for r in ls_json(repo)] == ["detached"]
    assert ls_json(repo)[0]["experiment"] == "default"


def test_ls_table_newest_first_with_params_and_metrics(repo_with_runs):
    result = invoke(repo_with_runs, "ls", env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    for column in ("ID", "NAME", "STATUS", "STARTED", "DURATION", "params.lr", "metrics.loss"):
        assert column in header
    assert [row.split()[1] for row in rows] == ["gamma", "beta", "alpha"]
    assert [row.split()[2] for row in rows] == ["failed", "finished", "finished"]

    def cell(row: str, column: str) -> str:  # columns are left-aligned under their header
        return row[header.index(column) :].split()[0]

    assert [cell(row, "params.lr") for row in rows] == ["0.4", "0.2", "0.1"]
    assert [cell(row, "metrics.loss") for row in rows] == ["2.5", "5", "10"]


def test_ls_table_drops_columns_to_fit_a_narrow_terminal(repo_with_runs):
    wide = invoke(repo_with_runs, "ls", env={"COLUMNS": "250"}).stdout
    narrow = invoke(repo_with_runs, "ls", env={"COLUMNS": "60"}).stdout
    assert "hidden" not in wide
    assert "metrics.loss" in wide and "metrics.loss" not in narrow
    assert re.search(r"\(\d+ more columns hidden", narrow)
    for line in narrow.splitlines()[:-1]:
        assert "NAME" in line or len(line) <= 60


def test_a_run_in_progress_shows_as_running(repo_with_runs):
    with gitml.start_run(name="ongoing", params={"lr": 0.5}, repo=repo_with_runs):
        gitml.log_metric("loss", 0.7)
        listed = ls_json(repo_with_runs)
        assert [r["name"] for r in listed] == ["ongoing", "gamma", "beta", "alpha"]
        ongoing = listed[0]
        assert ongoing["status"] == "running"
        assert ongoing["params"] == {"lr": "0.5"}
        assert ongoing["metrics"] == {"loss": 0.7}
        assert ongoing["end_ms"] is None and ongoing["commit"] is None
        assert [r["name"] for r in ls_json(repo_with_runs, "--status", "running")] == ["ongoing"]
        assert "running" in invoke(repo_with_runs, "ls").stdout
        gitml.log_metric("loss", 0.4)
        gitml.log_text("draft", "notes.md")
        shown = invoke(repo_with_runs, "show", "ongoing")
        assert shown.exit_code == 0 and "running" in shown.stdout
        assert "loss = 0.4  (0.4 / 0.7, 2 points, last step 1)" in shown.stdout
        record = json.loads(invoke(repo_with_runs, "show", "ongoing", "--json").stdout)
        assert record["metrics"]["loss"] == {
            "last": 0.4,
            "min": 0.4,
            "max": 0.7,
            "count": 2,
            "last_step": 1,
        }
        digest = hashlib.sha256(b"draft").hexdigest()  # the entry it will have once committed
        assert record["artifacts"] == [{"path": "notes.md", "size": 5, "sha256": digest}]
    assert ls_json(repo_with_runs)[0]["status"] == "finished"


_OPENED: list[str] | None = None  # paths opened while a test records them (see below)


def _record_opens(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | Path):
        _OPENED.append(os.fsdecode(args[0]))


def test_resolving_and_naming_read_only_the_head_of_a_run_in_progress(repo_with_runs):
    """A script that has logged 300,000 points must not make every name lookup read them.
    An audit hook records the files opened (chmod 000 would not stop root)."""
    from gitml.store.repository import open_repository
    from gitml.tracking.catalog import NamesInUse, resolve
    from gitml.tracking.index import open_index

    repo = open_repository(repo_with_runs)
    sys.addaudithook(_record_opens)
    with gitml.start_run(name="busy", repo=repo_with_runs) as run:
        gitml.log_metric("loss", 1.0)
        head = repo.state_dir / "runs" / run.info.run_id / "meta.json"
        (loss,) = head.parent.joinpath("metrics").iterdir()
        with open(loss, "ab") as file:
            file.write(b"".join(b"%d\t0.5\t1700000000000\n" % step for step in range(300_000)))

        with open_index(repo) as index:
            names = NamesInUse(repo, index)
            opened = _opened_while(lambda: (resolve(repo, "alpha"), names.owner("busy")))
            assert str(head) in opened
            assert str(loss) not in opened
            assert names.owner("busy") == run.info.run_id
        assert str(loss) not in _opened_while(gitml.get_params)

        opened = _opened_while(lambda: resolve(repo, run.info.run_id[:-1]))  # the run itself
        assert opened.count(str(loss)) == 1
        assert resolve(repo, "busy").metrics == {"loss": 0.5}


def _opened_while(action) -> list[str]:
    global _OPENED
    _OPENED = []
    try:
        action()
        return _OPENED
    finally:
        _OPENED = None


# gitml show


@pytest.fixture
def detailed_run(repo_with_commit):
    repo = repo_with_commit
    write(repo / "src" / "model.py", "WEIGHT = 9\n")
    write(repo / "new_file.py", "print('new')\n")
    (repo / "README.md").unlink()
    with gitml.start_run(
        name="detailed", params={"lr": 0.1}, tags={"model": "rf"}, description="a note", repo=repo
    ):
        for step, value in enumerate([0.9, 0.4, 0.6]):
            gitml.log_metric("loss", value, step=step)
        gitml.log_text("x" * 2048, "big.txt")
        gitml.log_dict({"a": 1}, "report.json")
    return repo


def test_show_json_has_the_full_record(detailed_run):
    result = invoke(detailed_run, "show", "--json", "detailed")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["name"] == "detailed" and record["status"] == "finished"
    assert record["note"] == "a note"
    assert record["params"] == {"lr": "0.1"} and record["tags"] == {"model": "rf"}
    assert record["metrics"]["loss"] == {
        "last": 0.6,
        "min": 0.4,
        "max": 0.9,
        "count": 3,
        "last_step": 2,
    }
    assert {a["path"]: a["size"] for a in record["artifacts"]} == {
        "big.txt": 2048,
        "report.json": len(json.dumps({"a": 1}, indent=2)),
    }
    assert sorted((c["status"], c["path"]) for c in record["files_changed"]) == [
        ("A", "new_file.py"),
        ("D", "README.md"),
        ("M", "src/model.py"),
    ]
    assert record["dirty"] is True
    for key in ("user", "host", "python", "platform", "base", "commit", "start_ms", "end_ms"):
        assert record[key], key


def test_show_text_lists_everything_a_user_asks_about(detailed_run):
    result = invoke(detailed_run, "show", "detailed")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "detailed" in text and "finished" in text
    assert "a note" in text
    assert "lr = 0.1" in text and "model = rf" in text
    assert "loss = 0.6  (0.4 / 0.9, 3 points, last step 2)" in text
    assert "big.txt  2.0 KiB" in text
    assert "M  src/model.py" in text and "A  new_file.py" in text and "D  README.md" in text


# the branch a run started on


def _rewrite_message(repo, run_id: str, edit) -> None:
    """Commit the run's tree again with `edit(message)` as its message (a run written
    by an older gitml, or by a hostile clone) and point its ref there."""
    ref = f"refs/gitml/runs/{run_id}"
    message = git(repo, "log", "-1", "--format=%B", ref)
    tree = git(repo, "rev-parse", f"{ref}^{{tree}}").strip()
    commit = git(repo, "commit-tree", tree, "-p", f"{ref}^", "-m", edit(message)).strip()
    git(repo, "update-ref", ref, commit)


def _names(repo, *args: str) -> list[str]:
    return [r["name"] for r in ls_json(repo, "--all", *args)]


def test_ls_lists_filters_and_shows_the_branch_of_each_run(repo_with_runs):
    repo = repo_with_runs
    git(repo, "checkout", "-q", "-b", "feature/x")
    with gitml.start_run(name="featured", repo=repo):
        assert ls_json(repo, "--all")[0]["branch"] == "feature/x"  # in progress: from meta
    git(repo, "checkout", "-q", "--detach")
    with gitml.start_run(name="detached", repo=repo):
        pass
    assert [(r["name"], r["branch"]) for r in ls_json(repo, "--all")] == [
        ("detached", None),
        ("featured", "feature/x"),
        ("gamma", "main"),
        ("beta", "main"),
        ("alpha", "main"),
    ]
    assert _names(repo, "--filter", "branch = 'main'") == ["gamma", "beta", "alpha"]
    assert _names(repo, "--filter", "branch like 'feature/%'") == ["featured"]
    assert _names(repo, "--filter", "branch != 'main'") == ["featured"]  # unknown: no match
    assert _names(repo, "--filter", "not branch = 'main'") == ["detached", "featured"]
    assert _names(repo, "--filter", "attributes.branch in ('feature/x')") == ["featured"]
    table = invoke(repo, "ls", "--all", "--columns", "name,branch")
    assert table.exit_code == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["name", "branch"] and rows[1:3] == [
        ["detached", "-"],
        ["featured", "feature/x"],
    ]
    assert "branch     feature/x" in invoke(repo, "show", "featured").stdout


def test_a_run_committed_without_the_branch_trailer_has_no_branch(repo_with_runs):
    repo = repo_with_runs
    beta = next(r for r in ls_json(repo) if r["name"] == "beta")
    ls_json(repo)  # the index has beta with its branch; the rewrite must replace it
    _rewrite_message(repo, beta["id"], lambda m: m.replace("Gitml-Branch: main\n", ""))
    listed = {r["name"]: r for r in ls_json(repo)}
    assert listed["beta"]["branch"] is None and listed["beta"]["status"] == "finished"
    assert listed["alpha"]["branch"] == "main"
    assert _names(repo, "--filter", "branch = 'main'") == ["gamma", "alpha"]
    assert json.loads(invoke(repo, "show", "beta", "--json").stdout)["branch"] == "main"


@pytest.mark.parametrize(
    "branch", ["evil%1B[31mred", "a%0Ab", "tab%09", "c1%C2%9Bx", "..", "x y", "a..b", "/x"]
)
def test_a_hostile_branch_trailer_makes_the_run_damaged_and_reaches_no_terminal(
    repo_with_runs, branch
):
    repo = repo_with_runs
    beta = next(r for r in ls_json(repo) if r["name"] == "beta")
    _rewrite_message(
        repo, beta["id"], lambda m: m.replace("Gitml-Branch: main", f"Gitml-Branch: {branch}")
    )
    listed = {r["name"]: r for r in ls_json(repo)}
    assert listed["beta"]["branch"] is None
    assert listed["beta"]["status"] == "damaged" and "branch" in listed["beta"]["damage"]
    table = invoke(repo, "ls", "--all", "--columns", "name,branch,status")
    assert table.exit_code == 0 and "\x1b" not in table.stdout and "\x9b" not in table.stdout
