"""Reading runs: one reader for runs in progress, one for committed runs, and callers
that never ask which. A committed run is read through the listing and one
`git cat-file --batch` process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gitml
from gitml.errors import RunStateError
from gitml.store.blobs import ObjectReader
from gitml.store.repository import open_repository
from gitml.tracking.readers import open_run, read_record
from tests.utils import git, write


@pytest.fixture(autouse=True)
def no_active_run_left():
    yield
    if gitml.active_run() is not None:
        gitml.end_run("killed")


_STARTED: list[list[str]] | None = None  # commands started while a test records them


def _record_processes(event: str, args: tuple) -> None:
    if event == "subprocess.Popen" and _STARTED is not None:
        words = [os.fsdecode(arg) for arg in args[1]]
        while len(words) > 2 and words[1] == "-c":  # git -c name=value … <command>
            del words[1:3]
        _STARTED.append(words[:2])


sys.addaudithook(_record_processes)


def started_by(action) -> list[list[str]]:
    global _STARTED
    _STARTED = []
    try:
        action()
        return _STARTED
    finally:
        _STARTED = None


def test_a_committed_run_is_read_through_the_listing_and_one_object_reader(repo_with_commit):
    repo = repo_with_commit
    write(repo / "src" / "model.py", "WEIGHT = 2\n")
    with gitml.start_run(name="done", repo=repo):
        for step in range(3):
            gitml.log_metric("loss", 1 / (step + 1))
        gitml.log_text("hello", "notes/hello.txt")
        gitml.log_text("conda", "model/MLmodel")
    repository = open_repository(repo)

    def read_everything():
        with open_run(repository, "done") as reader:
            record = reader.record()
            points = [list(chunk[1]) for chunk in reader.metric_points("loss")]
            files = reader.artifact_files()
            data = reader.read_file("artifacts/notes/hello.txt")
        assert record.status == "finished" and record.commit is not None
        assert [(c.status, c.path) for c in record.files_changed] == [("M", "src/model.py")]
        assert points == [[1.0, 0.5, 1 / 3]]
        assert [file.path for file in files] == ["model/MLmodel", "notes/hello.txt"]
        assert data == b"hello"

    # the name is resolved through the run index (no git process), every object by one reader
    assert started_by(read_everything) == [["git", "cat-file"]]


def changes_by_git(repo, base: str, commit: str) -> list[tuple[str, str]]:
    args = ["diff", "--name-status", "-z", "--no-renames", base, commit]
    out = git(repo, *args, "--", ".", ":(exclude).gitml")
    parts = [part for part in out.split("\0") if part]
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]


def test_the_files_a_run_changed_are_those_git_diff_lists(repo_with_commit):
    repo = repo_with_commit
    write(repo / "gone" / "a.txt", "a\n")
    write(repo / "becomes_folder", "file\n")
    write(repo / "folder_becomes_file" / "x.txt", "x\n")
    write(repo / "tool.sh", "echo\n")
    write(repo / "link_target", "t\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "more files")
    (repo / "gone" / "a.txt").unlink()
    (repo / "becomes_folder").unlink()
    write(repo / "becomes_folder" / "inner.txt", "now a folder\n")
    (repo / "folder_becomes_file" / "x.txt").unlink()
    (repo / "folder_becomes_file").rmdir()
    write(repo / "folder_becomes_file", "now a file\n")
    os.chmod(repo / "tool.sh", 0o755)
    (repo / "link_target").unlink()
    os.symlink("README.md", repo / "link_target")
    write(repo / "new" / "deep" / "file.txt", "new\n")
    write(repo / "src" / "model.py", "WEIGHT = 3\n")
    write(repo / "a-b", "sorts before a/ in git's order\n")
    with gitml.start_run(name="changes", repo=repo):
        pass
    record = gitml.get_run("changes", repo=repo)
    found = [(change["status"], change["path"]) for change in record["files_changed"]]
    assert found == changes_by_git(repo, record["base"], record["commit"])
    assert ("T", "link_target") in found and ("M", "tool.sh") in found


def test_a_run_in_progress_refuses_what_needs_its_commit_and_never_follows_links(
    repo_with_commit, tmp_path
):
    repo = repo_with_commit
    secret = write(tmp_path / "outside.txt", "not the run's\n")
    with gitml.start_run(name="live", repo=repo) as run:
        gitml.log_text("kept", "folder/kept.txt")
        staged = repo / ".git" / "gitml" / "runs" / run.id / "artifacts"
        os.symlink(secret, staged / "link.txt")  # as a link artifact is stored
        os.symlink(tmp_path, staged / "linked")
        repository = open_repository(repo)
        with open_run(repository, "live") as reader:
            with pytest.raises(RunStateError, match="run live is still running; push it once"):
                reader.commit_for("push it")
            assert reader.read_file("artifacts/folder/kept.txt") == b"kept"
            assert reader.read_file("artifacts/link.txt") == os.fsencode(secret)
            for path in ("artifacts/linked/outside.txt", "artifacts/../meta.json", "meta.json"):
                assert reader.read_file(path) is None, path
                assert reader.file_blocks(path) is None, path
            files = {file.path: file.link for file in reader.artifact_files()}
            assert files == {"folder/kept.txt": False, "link.txt": True, "linked": True}


def test_the_object_reader_bounds_what_it_reads_and_takes_only_ids(repo_with_commit):
    repo = repo_with_commit
    data = os.urandom(3 << 20)
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    with ObjectReader(open_repository(repo)) as objects:
        assert b"".join(objects.blocks(blob)) == data  # a loose object, inflated here
    git(repo, "tag", "big", blob)
    git(repo, "repack", "-adq")  # packed: now from git, streamed
    with ObjectReader(open_repository(repo)) as objects:
        over = objects.read(blob, limit=1 << 20)
        assert (over.kind, over.size, over.data) == ("blob", 3 << 20, None)
        assert objects.commit(head).message == b"initial\n"  # the reader goes on after it
        assert b"".join(objects.blocks(blob)) == data
        first = next(iter(objects.blocks(blob)))  # left unread: the next request still works
        assert len(first) == 1 << 20
        assert objects.read(blob).data == data
        assert objects.read("HEAD") is None and objects.read("--help") is None
        assert objects.read("0" * 40) is None
        assert objects.tree(blob) is None  # not a tree


def test_the_object_reader_answers_many_ids_at_once_in_order(repo_with_commit):
    """`read_many` (the run index reads every run's commit so): ids that are none and
    missing objects answer None, an object over the limit comes unread; a listing left
    midway, or several thousand ids asked at once, leave the reader working."""
    repo = repo_with_commit
    big = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=b"x" * 5000,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    asked = [head, "--help", "0" * 40, big, "HEAD", head]
    with ObjectReader(open_repository(repo)) as objects:
        answers = list(objects.read_many(asked, 1000))
        assert [object_id for object_id, _ in answers] == asked
        found = [answer and (answer.kind, answer.size) for _, answer in answers]
        assert found[1:5] == [None, None, ("blob", 5000), None] and answers[3][1].data is None
        assert answers[0][1].data == answers[5][1].data and answers[0][1].kind == "commit"
        listing = objects.read_many([big] * 20_000, 10_000)  # more ids than a pipe holds
        assert next(listing)[1].data == b"x" * 5000
        listing.close()  # left midway
        assert objects.commit(head).message == b"initial\n"
        assert sum(1 for _ in objects.read_many([head] * 5000, 1000)) == 5000


def test_get_run_reads_one_shape_from_a_script(repo_with_commit):
    with gitml.start_run(name="shape", repo=repo_with_commit):
        gitml.log_metric("m", 1)
    record = read_record(open_repository(repo_with_commit), "shape")
    assert gitml.get_run("shape", repo=repo_with_commit) == record
    assert record["metrics"]["m"]["count"] == 1 and dict(record)["name"] == "shape"


READERS = {"tracking/readers.py", "tracking/staged.py", "tracking/committed.py"}
# modules that name a status as a value, never to choose how to read a run
STATUS_AS_VALUE = {
    "entities.py": "MLflow's names of gitml's statuses",
    "mlflow_plugin/tracking_store.py": "MLflow's names of gitml's statuses",
    "mlflow_plugin/versions.py": "a version of a run in progress is registered when it ends",
    "sweeps/driver.py": "a trial's state",
    "sweeps/record.py": "a sweep's own status",
    "sweeps/study.py": "Optuna's trial states",
    "tracking/index.py": "an indexed run always has a commit",
    "ui/runs_api.py": "the live tail tells the page whether more output may come",
    "ui/state.py": "a committed run's summary is kept from one listing to the next",
    "ui/table.py": "rows of runs in progress change, so the table re-encodes them",
}
ASKS_WHETHER_RUNNING = re.compile(
    r"""["']running["']|(?<!["'])\bRUNNING\b|\.sha is (not )?None|staging_path|running_record"""
)


def test_only_the_readers_ask_whether_a_run_is_running():
    """Callers get a reader (`open_run`) and never ask which kind: the readers decide
    (`commit_for` refuses what needs a commit). The record grammar names the status."""
    root = Path(gitml.__file__).parent
    asking = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in READERS or name in STATUS_AS_VALUE or name == "tracking/record.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ASKS_WHETHER_RUNNING.search(line):
                asking.append(f"{name}:{number}: {line.strip()}")
    assert asking == []
