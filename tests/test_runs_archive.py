"""Two tiers of runs: old runs folded into archive commits (`gitml archive`, automatic
past gitml.liveRuns) are found by every command as runs on a ref are; a fold killed at
any point loses no run; archives fetched from elsewhere are hostile."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import gitml
from gitml.store.repository import open_repository
from gitml.tracking import archive as archive_format
from gitml.tracking.archive import FoldedRun
from gitml.tracking.catalog import list_runs
from gitml.tracking.fold import move_archive_refs, write_archives
from gitml.ui.state import Ui
from gitml.ui.watch import Watcher
from tests.sharing_helpers import clone, make_runs, make_runs_at_once, push_at_once, seeded_remote
from tests.utils import assert_fsck_clean, git, write, write_runs_fast
from tests.utils import gitml as gitml_cli


def refs(repo, prefix: str) -> dict[str, str]:
    """ref → sha of the refs under `prefix`."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split(" ") for line in out.splitlines())


def listed(repo) -> list[dict]:
    return json.loads(gitml_cli(repo, "ls", "--all", "--json").stdout)


def assert_each_once(repo, expected: dict[str, str]) -> None:
    """`gitml ls` lists exactly the runs `expected` (id → sha), each once."""
    runs = listed(repo)
    assert len(runs) == len({run["id"] for run in runs}), "a run listed twice"
    assert {run["id"]: run["commit"] for run in runs} == expected


def run_shas(repo) -> dict[str, str]:
    return {ref.rsplit("/", 1)[1]: sha for ref, sha in refs(repo, "refs/gitml/runs/").items()}


@pytest.fixture
def folded(repo_with_commit):
    """Runs of every kind, all but the newest folded by `gitml archive --keep 1`;
    returns (repo, id → sha of every run)."""
    repo = repo_with_commit
    write(repo / "train.py", "import gitml\ngitml.log_metric('acc', 0.5)\n")
    gitml_cli(repo, "run", "--name", "cmd", "-P", "lr=0.3", "--", sys.executable, "train.py")
    gitml_cli(repo, "run", "--name", "broken", "--", sys.executable, "-c", "raise SystemExit(3)",
              check=False)  # fmt: skip
    with gitml.start_run(name="modelled", repo=repo, params={"lr": "0.1"}):
        gitml.log_metric("acc", 0.9)
        gitml.log_model(lambda rows: [[row[0] * 2] for row in rows], "m")
        gitml.log_dict({"a": 1}, "report.json")
    with gitml.start_run(name="newest", repo=repo):
        pass
    before = run_shas(repo)
    done = json.loads(gitml_cli(repo, "archive", "--keep", "1", "--json").stdout)
    assert done["folded"] == 3 and done["problems"] == []
    return repo, before


def test_folded_runs_leave_their_refs_and_stay_reachable_by_sha(folded):
    repo, before = folded
    live = run_shas(repo)
    assert len(live) == 1 and before[next(iter(live))] == next(iter(live.values()))
    archives = refs(repo, "refs/gitml/archive/")
    assert 1 <= len(archives) <= 4
    for run_id, sha in before.items():
        if run_id not in live:
            assert any(
                subprocess.run(
                    ["git", "merge-base", "--is-ancestor", sha, tip], cwd=repo
                ).returncode
                == 0
                for tip in archives.values()
            ), run_id
    assert_each_once(repo, before)
    assert_fsck_clean(repo)


def _holds(repo, tip: str, sha: str) -> bool:
    args = ["git", "merge-base", "--is-ancestor", sha, tip]
    return subprocess.run(args, cwd=repo, check=False).returncode == 0


def test_every_command_finds_an_archived_run(folded):
    repo, before = folded
    shown = json.loads(gitml_cli(repo, "show", "cmd", "--json").stdout)
    assert shown["params"] == {"lr": "0.3"} and shown["commit"] in before.values()
    assert "lr" in gitml_cli(repo, "diff", "cmd", "modelled").stdout
    assert "report.json" in gitml_cli(repo, "artifacts", "ls", "modelled").stdout
    gitml_cli(repo, "artifacts", "get", "modelled", "report.json", "-o", str(repo / "out"))
    assert json.loads((repo / "out" / "report.json").read_text()) == {"a": 1}
    filtered = json.loads(
        gitml_cli(repo, "ls", "--all", "--json", "-f", "params.lr = '0.3'").stdout
    )
    assert [run["name"] for run in filtered] == ["cmd"]

    model = gitml.load_model("runs:/modelled/m", repo=repo)
    assert model.predict([[2.0]]) == [[4.0]]
    gitml_cli(repo, "model", "register", "doubler", "modelled", "--path", "m")
    assert "modelled" in gitml_cli(repo, "model", "which", "doubler@latest").stdout

    assert gitml.get_run("cmd", repo=repo)["params"] == {"lr": "0.3"}
    found = gitml.search_runs(filter_string="params.lr = '0.1'", repo=repo)
    assert len(found) == 1

    ui = Ui(open_repository(repo), "t", Watcher(open_repository(repo)))
    assert {run.id for run in ui.snapshot().runs} == set(before)

    (repo / "train.py").unlink()
    gitml_cli(repo, "checkout", "cmd")
    assert (repo / "train.py").exists()
    rerun = gitml_cli(repo, "rerun", "cmd")
    assert "finished" in rerun.stderr + rerun.stdout

    gitml_cli(repo, "rm", "cmd")
    assert "broken" in gitml_cli(repo, "gc", "--status", "failed").stdout
    names = {run["name"] for run in listed(repo)}
    assert "cmd" not in names and "broken" not in names and "modelled" in names
    gitml_cli(repo, "archive", "--keep", "0")  # a later fold keeps them removed
    (repo / ".git" / "gitml" / "cache" / "runs.sqlite").unlink()  # and a rebuilt index
    names = {run["name"] for run in listed(repo)}
    assert "cmd" not in names and "broken" not in names and {"modelled", "newest"} <= names
    assert run_shas(repo) == {}
    assert_fsck_clean(repo)


def test_runs_fold_past_the_live_runs_budget_in_the_foreground_when_asked(repo_with_commit):
    """gitml.autoFoldDetach false: `gitml run` folds before it ends (else
    tests/test_runs_autofold.py: in the background)."""
    repo = repo_with_commit
    write_runs_fast(repo, 9, lambda i: {})
    git(repo, "config", "gitml.liveRuns", "8")
    git(repo, "config", "gitml.autoFoldDetach", "false")
    done = gitml_cli(repo, "run", "--", sys.executable, "-c", "pass")
    assert "gitml: 6 older runs folded into archive commits" in done.stderr.splitlines()
    assert len(run_shas(repo)) == 4  # half the budget keeps a ref each
    assert len(listed(repo)) == 10
    git(repo, "config", "gitml.liveRuns", "lots")
    done = gitml_cli(repo, "run", "--", sys.executable, "-c", "pass")
    assert "gitml.liveRuns is 'lots'" in done.stderr and len(listed(repo)) == 11


def test_a_fold_killed_between_its_steps_loses_no_run(repo_with_commit):
    """The archive refs moved, the run refs not yet deleted: each run is listed once,
    and the next fold only deletes the refs."""
    repo = repo_with_commit
    write_runs_fast(repo, 30, lambda i: {})
    before = run_shas(repo)
    messages = {
        ref.rsplit("/", 1)[1]: git(repo, "log", "-1", "--format=%B", sha)
        for ref, sha in refs(repo, "refs/gitml/runs/").items()
    }
    some = sorted(before)[:20]
    folding = [FoldedRun(run_id, before[run_id], messages[run_id]) for run_id in some]
    opened = open_repository(repo)
    move_archive_refs(opened, write_archives(opened, folding, []), "test")
    assert run_shas(repo) == before
    assert_each_once(repo, before)
    done = json.loads(gitml_cli(repo, "archive", "--keep", "10", "--json").stdout)
    assert done["folded"] == 0  # already archived: only their refs went
    assert set(run_shas(repo)) == set(sorted(before)[20:])
    assert_each_once(repo, before)
    assert_fsck_clean(repo)


def test_a_fold_waits_for_the_ref_locks_another_git_holds(repo_with_commit):
    # a `git pack-refs` or `git gc` (or another gitml command) holding packed-refs'
    # lock for over git's 1 s default made the fold fail half-way under load
    repo = repo_with_commit
    write_runs_fast(repo, 5, lambda i: {})
    before = run_shas(repo)
    lock = repo / ".git" / "packed-refs.lock"
    lock.touch()
    fold = subprocess.Popen(
        [sys.executable, "-m", "gitml", "archive", "--keep", "0"], cwd=repo,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    while not refs(repo, "refs/gitml/archive/"):  # folded, and now deleting run refs
        assert fold.poll() is None, fold.communicate()
        time.sleep(0.05)
    time.sleep(2.5)  # past git's own wait, twice (a failed deletion is tried again)
    lock.unlink()
    assert fold.wait(timeout=60) == 0, fold.communicate()
    assert run_shas(repo) == {}
    assert_each_once(repo, before)


def test_a_lock_a_killed_git_left_fails_a_fold_in_one_line_and_loses_no_run(repo_with_commit):
    repo = repo_with_commit
    write_runs_fast(repo, 5, lambda i: {})
    before = run_shas(repo)
    (repo / ".git" / "packed-refs.lock").touch()
    waits = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.packedRefsTimeout"}
    env = {**os.environ, **waits, "GIT_CONFIG_VALUE_0": "0"}  # the user's own setting wins

    done = gitml_cli(repo, "archive", "--keep", "0", check=False, env=env)

    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("gitml: error: ") and "holds " in line, line
    assert "packed-refs.lock" in line and "remove it" in line, line
    assert_each_once(repo, before)
    (repo / ".git" / "packed-refs.lock").unlink()
    gitml_cli(repo, "archive", "--keep", "0")
    assert run_shas(repo) == {}
    assert_each_once(repo, before)
    assert_fsck_clean(repo)


@pytest.mark.slow
def test_kill_9_during_folding_then_fsck_and_every_run_once(repo_with_commit):
    repo = repo_with_commit
    write_runs_fast(repo, 6000, lambda i: {})
    before = run_shas(repo)
    listed(repo)  # the index, built
    for delay in (0.3, 0.8, 1.5, 2.5):
        fold = subprocess.Popen(
            [sys.executable, "-m", "gitml", "archive", "--keep", "0"],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        fold.send_signal(signal.SIGKILL)
        fold.wait()
        assert_fsck_clean(repo)
        assert_each_once(repo, before)
    gitml_cli(repo, "archive", "--keep", "0")
    assert run_shas(repo) == {}
    assert_each_once(repo, before)
    assert_fsck_clean(repo)


def _hostile_archive(repo, files: dict[str, bytes], parents: list[str]) -> str:
    """An archive commit written by hand, as a remote could send one."""
    entries = []
    for name, data in files.items():
        blob = (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
            )
            .stdout.decode()
            .strip()
        )
        entries.append(f"100644 blob {blob}\t{name}\n")
    tree = (
        subprocess.run(
            ["git", "mktree"], cwd=repo, input="".join(entries).encode(), capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    args = [arg for parent in parents for arg in ("-p", parent)]
    return git(repo, "commit-tree", tree, *args, "-m", "gitml archive: hostile").strip()


def test_hostile_archives_list_what_holds_and_say_what_does_not(repo_with_commit, monkeypatch):
    repo = repo_with_commit
    write_runs_fast(repo, 4, lambda i: {})
    before = run_shas(repo)
    (a, sha_a), (b, sha_b), (c, sha_c), (d, sha_d) = sorted(before.items())
    message = git(repo, "log", "-1", "--format=%B", sha_a)
    lines = [
        json.dumps({"id": a, "sha": sha_a, "message": message}),  # good
        "{not json",
        json.dumps({"id": b, "sha": sha_b, "message": message}),  # not among its parents
        json.dumps({"id": "../../x", "sha": sha_c, "message": message}),
        json.dumps([1, 2]),
    ]
    head = json.dumps({"format": 1, "previous": []}).encode()
    bad = _hostile_archive(
        repo, {"archive.json": head, "runs.jsonl": "\n".join(lines).encode()}, [sha_a, sha_c]
    )
    lying = _hostile_archive(
        repo, {"archive.json": json.dumps({"format": 1, "previous": [sha_d]}).encode()}, [sha_c]
    )
    huge = _hostile_archive(
        repo,
        {"archive.json": head, "runs.jsonl": (lines[0] + "\n").encode() * 3},
        [sha_a],
    )
    git(repo, "update-ref", "-d", f"refs/gitml/runs/{a}")
    git(repo, "update-ref", "refs/gitml/archive/1", bad)
    git(repo, "update-ref", "refs/gitml/archive/2", lying)
    git(repo, "update-ref", "refs/gitml/archive/3", sha_b)  # a run commit, no archive
    git(repo, "update-ref", "refs/gitml/archive/x", huge)  # no bucket: not read
    assert_each_once(repo, before)  # a from the good line, the others from their refs
    problems = json.loads(gitml_cli(repo, "archive", "--keep", "4", "--json").stdout)["problems"]
    said = " ".join(" ".join(p["problems"]) for p in problems)
    assert "malformed" in said and f"without holding its commit {sha_b[:12]}" in said
    assert "does not match its parents" in said
    assert {p["archive"] for p in problems} == {bad, lying, sha_b}

    # a runs.jsonl over the limit is not read: its runs are left out, with the reason
    monkeypatch.setattr(archive_format, "MAX_FILE_BYTES", 100)
    git(repo, "update-ref", "refs/gitml/archive/0", huge)
    (repo / ".git" / "gitml" / "cache" / "runs.sqlite").unlink()
    listing = {run.id for run in list_runs(open_repository(repo))}
    assert a not in listing and {b, c, d} <= listing


def test_archives_nested_too_deep_are_reported_and_break_no_listing(repo_with_commit):
    """JSON thousands of levels deep in a fetched archive's files: Python's decoder
    fails with RecursionError, which must not escape as gitml ls's own failure."""
    repo = repo_with_commit
    write_runs_fast(repo, 2, lambda i: {})
    before = run_shas(repo)
    (a, sha_a), (b, sha_b) = sorted(before.items())
    message = git(repo, "log", "-1", "--format=%B", sha_a)
    good = json.dumps({"id": a, "sha": sha_a, "message": message}).encode()
    deep = b"[" * 100_000
    head = json.dumps({"format": 1, "previous": []}).encode()
    in_head = _hostile_archive(repo, {"archive.json": deep}, [sha_b])
    in_lines = _hostile_archive(
        repo, {"archive.json": head, "runs.jsonl": good + b"\n" + deep + b"\n"}, [sha_a]
    )
    git(repo, "update-ref", "-d", f"refs/gitml/runs/{a}")
    git(repo, "update-ref", "refs/gitml/archive/1", in_head)
    git(repo, "update-ref", "refs/gitml/archive/2", in_lines)
    assert_each_once(repo, before)
    problems = json.loads(gitml_cli(repo, "archive", "--keep", "4", "--json").stdout)["problems"]
    said = {p["archive"]: " ".join(p["problems"]) for p in problems}
    assert "malformed" in said[in_head] and "malformed" in said[in_lines]


# sharing


def _ids(repo) -> set[str]:
    return {run["id"] for run in listed(repo)}


def test_archives_travel_with_push_and_fetch(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    make_runs(a, 6, "a")
    gitml_cli(a, "push")
    gitml_cli(a, "archive", "--keep", "2")
    everything = listed(a)
    pushed = json.loads(gitml_cli(a, "push", "--json").stdout)
    assert pushed["archives"]  # with the deletion of the remote's refs of folded runs
    assert len(refs(remote, "refs/gitml/runs/")) == 2
    assert refs(remote, "refs/gitml/archive/") == refs(a, "refs/gitml/archive/")

    fetched = json.loads(gitml_cli(b, "fetch", "--json").stdout)  # a repository with none
    assert sorted(fetched["archives"]) == sorted(refs(a, "refs/gitml/archive/"))
    assert listed(b) == everything
    c = clone(remote, tmp_path / "c")
    make_runs(c, 1, "c")  # a run of its own: the fetch lists the remote first
    gitml_cli(c, "fetch")
    assert _ids(c) == {run["id"] for run in everything} | (_ids(c) - _ids(a))
    assert len(_ids(c)) == 7 and len(run_shas(c)) == 3  # folded runs came archived
    for repo in (b, c):
        assert_fsck_clean(repo)


@pytest.mark.slow
def test_two_clones_folding_and_pushing_at_once_converge(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    make_runs_at_once((a, 8, "a"), (b, 8, "b"))
    for repo in (a, b):
        gitml_cli(repo, "archive", "--keep", "1")
    push_at_once(a, b)
    for repo in (a, b):
        gitml_cli(repo, "fetch")
        gitml_cli(repo, "push")
    for repo in (a, b):
        gitml_cli(repo, "fetch")
    assert refs(a, "refs/gitml/archive/") == refs(remote, "refs/gitml/archive/")
    assert refs(b, "refs/gitml/archive/") == refs(remote, "refs/gitml/archive/")
    assert len(_ids(a)) == 16 and _ids(a) == _ids(b)
    assert "gitml archive: merge" in git(remote, "log", "--format=%s", "--all")
    on_remote = refs(remote, "refs/gitml/")
    for repo in (a, b):  # nothing moves back and forth
        again = json.loads(gitml_cli(repo, "push", "--json").stdout)
        assert again["runs"] == [] and again["archives"] == []
    assert refs(remote, "refs/gitml/") == on_remote
    third = clone(remote, tmp_path / "third")
    gitml_cli(third, "fetch")
    assert _ids(third) == _ids(a)
    for repo in (a, b, third):
        assert_fsck_clean(repo)
        runs = listed(repo)
        assert len(runs) == len({run["id"] for run in runs})


def test_a_remote_archive_ref_naming_no_commit_is_left_alone(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    make_runs(a, 3, "a")
    gitml_cli(a, "push")
    args = ["git", "hash-object", "-w", "--stdin"]
    blob = subprocess.run(args, cwd=remote, input=b"no archive", capture_output=True)
    git(remote, "update-ref", "refs/gitml/archive/2", blob.stdout.decode().strip())
    make_runs(b, 1, "b")  # a run here: the fetch lists the remote first
    fetched = json.loads(gitml_cli(b, "fetch", "--json").stdout)
    assert fetched["archives_ignored"] == ["refs/gitml/archive/2"]
    assert len(listed(b)) == 4
    assert "refs/gitml/archive/2" not in refs(b, "refs/gitml/archive/")
