"""The run index (`gitml.tracking.index`): disposable, rebuilt from refs when missing,
damaged or of another version; kept up to date with refs changed by plain git; shared
by concurrent gitml processes; never broken by what a run's record holds."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from gitml.tracking.index import SCHEMA_VERSION
from tests.utils import git, gitml, write_runs_fast

INDEX = (".git", "gitml", "cache", "runs.sqlite")


def listed(repo, *args: str) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--all", "--json", *args).stdout)


def ids(runs: list[dict]) -> list[str]:
    return [run["id"] for run in runs]


def fields(i: int) -> dict:
    return {"params": {"lr": str(i / 100)}, "metrics": {"acc": i / 50}, "tags": {"k": f"t{i % 3}"}}


@pytest.fixture
def many(repo_with_commit):
    """A repository of 60 runs written straight into git, and its index built."""
    write_runs_fast(repo_with_commit, 60, fields)
    listed(repo_with_commit)
    return repo_with_commit


def test_the_index_is_rebuilt_when_missing_garbage_damaged_or_of_another_version(many):
    before = listed(many)
    assert len(before) == 60 and len(set(ids(before))) == 60
    path = many.joinpath(*INDEX)

    path.unlink()
    assert listed(many) == before

    path.write_bytes(os.urandom(path.stat().st_size))  # no database at all
    assert listed(many) == before

    size = path.stat().st_size
    assert size > 3 * 4096
    with open(path, "r+b") as file:  # its header intact, its pages garbage
        file.seek(4096)
        file.write(b"\xa5" * (size - 4096))
    assert listed(many) == before

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    assert listed(many) == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 60
    db.close()


def test_refs_changed_by_plain_git_show_in_ls(many, tmp_path):
    """Removed by `git update-ref -d` (loose or packed), fetched by a plain `git fetch`,
    packed by `git pack-refs`: `ls` lists what the refs say."""
    runs = ids(listed(many))
    git(many, "update-ref", "-d", f"refs/gitml/runs/{runs[0]}")  # a packed one
    assert ids(listed(many)) == runs[1:]

    gitml(many, "run", "--name", "fresh", "--", sys.executable, "-c", "pass")
    (fresh,) = [run for run in listed(many) if run["name"] == "fresh"]
    git(many, "pack-refs", "--all")
    assert listed(many)[0] == fresh
    git(many, "update-ref", "-d", f"refs/gitml/runs/{fresh['id']}")
    assert ids(listed(many)) == runs[1:]

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(many), str(other))
    assert listed(other) == []  # builds its index: no run yet
    git(other, "fetch", "-q", "origin", "refs/gitml/runs/*:refs/gitml/runs/*")
    assert ids(listed(other)) == runs[1:]
    assert gitml(other, "show", "run-7").stdout.startswith("run        run-7 ")


def test_a_listing_reuses_the_summaries_of_runs_whose_commit_is_the_same(many):
    """`list_runs(known=…)` (the ui's listing as runs come and go) parses only what
    changed: a run moved to another commit is read again, a removed one is gone."""
    from gitml.store.repository import open_repository
    from gitml.tracking.catalog import list_runs

    repo = open_repository(many)
    first = list_runs(repo)
    known = {run.id: run for run in first}
    moved, removed = first[3], first[5]
    git(many, "update-ref", f"refs/gitml/runs/{moved.id}", first[4].sha)
    git(many, "update-ref", "-d", f"refs/gitml/runs/{removed.id}")
    again = list_runs(repo, known=known)
    assert [run.id for run in again] == [run.id for run in first if run is not removed]
    assert all(run is known[run.id] for run in again if run.id != moved.id)
    (read,) = [run for run in again if run.id == moved.id]
    assert read is not moved and read.sha == first[4].sha
    assert list_runs(repo) == again  # what a listing from nothing gives


def test_loose_run_refs_are_read_again_only_when_their_folder_changed(many, monkeypatch):
    """A sync reads no loose run ref file while their folder's stat data is the one it
    read them under (git writes a ref by renaming a new file into place, deletes one
    by unlinking it); once the folder changes, every one is read again."""
    from gitml.store import refs
    from gitml.store.repository import open_repository
    from gitml.tracking.catalog import list_runs

    repo = open_repository(many)
    runs = [run.id for run in list_runs(repo)]
    other = git(many, "rev-parse", f"refs/gitml/runs/{runs[4]}").strip()
    for run_id in runs[:2]:
        git(many, "update-ref", f"refs/gitml/runs/{run_id}", other)  # loose files now
    folder = many / ".git" / "refs" / "gitml" / "runs"
    os.utime(folder, (time.time() - 3600, time.time() - 3600))  # unchanged for an hour
    monkeypatch.setattr(refs, "RACY_SECONDS", 0)  # its ctime is now: trust it anyway
    first = {run.id: run.sha for run in list_runs(repo)}
    assert first[runs[0]] == first[runs[1]] == other
    head = git(many, "rev-parse", "HEAD").strip()
    (folder / runs[0]).write_text(head + "\n")  # in place: not git's way
    assert {run.id: run.sha for run in list_runs(repo)} == first  # no file was read
    git(many, "update-ref", "-d", f"refs/gitml/runs/{runs[1]}")  # the folder changes
    again = {run.id: run.sha for run in list_runs(repo)}
    assert runs[1] not in again and again[runs[0]] == head


def test_a_run_ref_made_and_deleted_with_its_folder_is_gone_from_the_listing(many, monkeypatch):
    """git removes the loose run refs' folder with its last ref: a listing before the
    ref and one after it went both find no folder, and the second must not take that
    for "nothing changed" when the one in between kept no stamp (the folder was new)."""
    from gitml.store import refs
    from gitml.store.repository import open_repository
    from gitml.tracking.catalog import list_runs

    repo = open_repository(many)
    folder = many / ".git" / "refs" / "gitml" / "runs"
    monkeypatch.setattr(refs, "RACY_SECONDS", 0)
    runs = [run.id for run in list_runs(repo)]
    assert not folder.exists()  # every run ref is packed
    fresh = "0" * 20 + "abcdef"
    git(many, "update-ref", f"refs/gitml/runs/{fresh}", f"refs/gitml/runs/{runs[0]}")
    monkeypatch.setattr(refs, "RACY_SECONDS", 3600)  # the folder is new: read, no stamp kept
    assert fresh in [run.id for run in list_runs(repo)]
    git(many, "update-ref", "-d", f"refs/gitml/runs/{fresh}")
    assert not folder.exists()
    assert [run.id for run in list_runs(repo)] == runs


def test_a_run_refs_folder_changed_at_a_time_ahead_of_the_clock_is_always_read(repo_with_commit):
    """A folder whose times are not yet past (a clock set back, a change this instant),
    or no folder, gives no stamp to keep: a change with the same stamp would go unseen."""
    from gitml.store.refs import loose_runs_stamp
    from gitml.store.repository import open_repository

    repo = open_repository(repo_with_commit)
    folder = repo_with_commit / ".git" / "refs" / "gitml" / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder, (time.time() + 3600, time.time() + 3600))
    assert loose_runs_stamp(repo) is None
    folder.rmdir()  # git removes it with its last ref, and makes it again
    assert loose_runs_stamp(repo) is None


def test_a_rebuild_reads_a_loose_ref_over_its_packed_line_and_skips_missing_commits(many):
    """A rebuild streams packed-refs: a run ref moved since it was packed (a loose file
    naming another commit) is listed as that commit, one naming no object not at all."""
    runs = ids(listed(many))
    moved, missing = runs[3], runs[5]
    other = git(many, "rev-parse", f"refs/gitml/runs/{runs[4]}").strip()
    git(many, "update-ref", f"refs/gitml/runs/{moved}", other)  # a loose file now
    ref = many / ".git" / "refs" / "gitml" / "runs" / missing
    ref.write_text("1" * 40 + "\n")  # as a clone that lost the object would have it
    many.joinpath(*INDEX).unlink()
    rebuilt = {run["id"]: run for run in listed(many)}
    assert sorted(rebuilt) == sorted(set(runs) - {missing})
    assert rebuilt[moved]["name"] == rebuilt[runs[4]]["name"]  # the commit it names now


def test_damaged_runs_stay_listed_as_damaged(many):
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=many, input=b"x", capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    git(many, "update-ref", "refs/gitml/runs/0000000000000000000000000a", blob)
    head = git(many, "rev-parse", "HEAD").strip()
    bad = git(many, "commit-tree", f"{head}^{{tree}}", "-m", "x\n\nGitml-Run: nope\n").strip()
    git(many, "update-ref", "refs/gitml/runs/0000000000000000000000000b", bad)
    damaged = listed(many, "--status", "damaged")
    reasons = {run["id"]: run["damage"] for run in damaged}
    assert reasons["0000000000000000000000000a"] == "its ref names a blob, not a commit"
    assert reasons["0000000000000000000000000b"].startswith("its commit names another run, 'nope'")
    assert len(reasons) == 2
    assert len(listed(many)) == 62


def test_hostile_keys_and_values_reach_sqlite_as_values(repo_with_commit):
    """Quotes, SQL, NUL, `%`, newlines and non-ASCII in params, tags, metric keys and
    experiments are stored and matched exactly, never formatted into SQL; a ref under
    refs/gitml/runs/ whose name is no run id is no run."""
    evil = "x'); DROP TABLE runs; --"
    odd = "a\x00b'\"%\n\u202e\U0001f600"

    def hostile(i: int) -> dict:
        return {
            "name": "first" if i == 0 else f"run-{i}",
            "experiment": evil,
            "params": {evil: odd, "lr": "0.1"},
            "tags": {odd: evil},
            "metrics": {evil: 1.5},
        }

    write_runs_fast(repo_with_commit, 2, hostile)
    head = git(repo_with_commit, "rev-parse", "HEAD").strip()
    git(repo_with_commit, "update-ref", "refs/gitml/runs/x');DROP-TABLE-runs;--", head)  # no id
    runs = listed(repo_with_commit)
    assert len(runs) == 2
    assert [run["params"] for run in runs] == [{evil: odd, "lr": "0.1"}] * 2
    assert [run["tags"] for run in runs] == [{odd: evil}] * 2
    assert [run["experiment"] for run in runs] == [evil] * 2
    quoted = "`" + evil.replace("`", "``") + "`"
    literal = "'" + evil.replace("'", "''") + "'"
    text = f"metrics.{quoted} = 1.5 and experiment = {literal} and name != 'run-1'"
    found = listed(repo_with_commit, "--filter", text)
    assert [run["name"] for run in found] == ["first"]
    assert len(listed(repo_with_commit, "--filter", f"params.{quoted} > 'a'")) == 2
    assert len(listed(repo_with_commit, "-e", evil)) == 2
    assert gitml(repo_with_commit, "show", "first", "--json").returncode == 0


@pytest.mark.slow
def test_concurrent_runs_are_each_listed_once(many):
    """Eight `gitml run`s and listings at once: every run listed exactly once, every
    name unique."""
    command = [sys.executable, "-m", "gitml", "run", "--", sys.executable, "-c", "pass"]
    listing = [sys.executable, "-m", "gitml", "ls", "--all", "--json"]
    started = [subprocess.Popen(command, cwd=many, stdout=subprocess.DEVNULL) for _ in range(8)]
    readers = [subprocess.Popen(listing, cwd=many, stdout=subprocess.PIPE) for _ in range(3)]
    assert [process.wait() for process in started] == [0] * 8
    for reader in readers:
        out, _ = reader.communicate()
        assert reader.returncode == 0
        seen = ids(json.loads(out))
        assert len(seen) == len(set(seen)) >= 60
    runs = listed(many)
    assert len(runs) == 68 and len(set(ids(runs))) == 68
    assert len({run["name"] for run in runs}) == 68
    refs = git(many, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/").split()
    assert sorted(ids(runs)) == sorted(refs)


def _kill_when(process: subprocess.Popen, ready) -> None:
    """kill -9 `process` as soon as `ready()` holds; fail if it ended first."""
    while not ready():
        assert process.poll() is None, "the index update ended before it could be killed"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_kill_9_during_an_index_update_leaves_ls_correct(repo_with_commit):
    repo = repo_with_commit
    write_runs_fast(repo, 4000, fields)
    cache = repo.joinpath(*INDEX).parent
    listing = [sys.executable, "-m", "gitml", "ls", "--all", "--json"]

    # a build from nothing, killed while it writes its new file
    process = subprocess.Popen(listing, cwd=repo, stdout=subprocess.DEVNULL)
    _kill_when(process, lambda: any(cache.glob("runs.sqlite.*.tmp")))
    assert len(listed(repo)) == 4000

    # an update of the index in place, killed once it has written into the WAL
    write_runs_fast(repo, 4000, fields, first_ms=1_800_000_000_000)
    wal = cache / "runs.sqlite-wal"
    process = subprocess.Popen(listing, cwd=repo, stdout=subprocess.DEVNULL)
    _kill_when(process, lambda: wal.exists() and wal.stat().st_size > 256 << 10)
    runs = listed(repo)
    assert len(runs) == 8000 and len(set(ids(runs))) == 8000


def test_live_runs_are_counted_without_reading_the_archived_ones(repo):
    """After a fold most rows are archived, yet the statistics of the last ANALYZE
    still count them live: counting and choosing the live runs must not read them all."""
    from gitml.store.ids import new_run_id
    from gitml.store.repository import open_repository
    from gitml.tracking.index import memory_index
    from gitml.tracking.record import damaged_summary

    index = memory_index(open_repository(repo))
    with index.writing():
        runs = [new_run_id(1_700_000_000_000 + i) for i in range(3000)]
        index._insert_many([(damaged_summary(i, "a" * 40, "x"), None, 0, None, None) for i in runs])
        index._statistics()  # ANALYZE: every row live
        index.db.execute("UPDATE runs SET archive = 'b' WHERE rid > 5")  # folded
    steps = []
    index.db.set_progress_handler(lambda: steps.append(1), 10)
    assert index.live_count() == 5 and len(index.live_beyond(2)) == 3
    assert len(steps) < 100  # a scan of every row is over 3,000 steps of ten
