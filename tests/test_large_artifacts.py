"""Artifacts over `gitml.largeArtifactThreshold` are stored by content, outside git: the
run's tree holds a pointer, the bytes are kept once by sha256 in `.git/gitml/objects/`,
and every reader (`artifacts ls|get`, `show`, `diff`, `load_model`, a run in progress)
gives the artifact's own bytes."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gitml.store.cas.pointer import Pointer, build_pointer, parse_pointer
from tests.utils import assert_fsck_clean, git, gitml, write

WEIGHTS = bytes(range(256)) * 80  # 20 KiB: over the 4 KiB threshold of these tests
TRAIN = """\
from pathlib import Path
Path("data/model").mkdir(parents=True, exist_ok=True)  # data/ is ignored: not snapshotted
Path("data/model/weights.bin").write_bytes(bytes(range(256)) * 80)
Path("data/model/config.txt").write_text("small\\n")
"""
RUN = ("--artifact", "data/model", "--", sys.executable, "train.py")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_ref(repo: Path, name: str) -> str:
    listed = json.loads(gitml(repo, "ls", "--json").stdout)
    return "refs/gitml/runs/" + next(run["id"] for run in listed if run["name"] == name)


def object_path(repo: Path, digest: str) -> Path:
    return repo / ".git" / "gitml" / "objects" / digest[:2] / digest[2:]


@pytest.fixture
def trained(repo_with_commit) -> Path:
    """A repository with run `big`: artifact folder model/, weights.bin over the threshold."""
    repo = repo_with_commit
    git(repo, "config", "gitml.largeArtifactThreshold", "4k")
    write(repo / "train.py", TRAIN)
    gitml(repo, "run", "--name", "big", *RUN)
    return repo


def test_the_tree_holds_a_pointer_and_the_bytes_are_stored_once_by_sha256(trained):
    repo = trained
    ref = run_ref(repo, "big")
    blob = git(repo, "cat-file", "blob", f"{ref}:.gitml/artifacts/model/weights.bin")
    assert parse_pointer(blob.encode()) == Pointer(
        "model/weights.bin", sha256(WEIGHTS), len(WEIGHTS), "lfs"
    )
    assert git(repo, "cat-file", "blob", f"{ref}:.gitml/artifacts/model/config.txt") == "small\n"
    assert object_path(repo, sha256(WEIGHTS)).read_bytes() == WEIGHTS
    record = json.loads(git(repo, "cat-file", "blob", f"{ref}:.gitml/run.json"))
    assert {"path": "model/weights.bin", "size": len(WEIGHTS), "sha256": sha256(WEIGHTS),
            "store": "lfs"} in record["artifacts"]  # fmt: skip
    assert_fsck_clean(repo)

    # a second run with the same bytes stores nothing more
    gitml(repo, "run", "--name", "again", *RUN)
    objects = [p for p in (repo / ".git/gitml/objects").rglob("*") if p.is_file()]
    assert objects == [object_path(repo, sha256(WEIGHTS))]
    assert "artifacts: no differences" in gitml(repo, "diff", "big", "again").stdout


def test_artifacts_ls_says_where_each_file_is_stored_and_get_writes_its_bytes(trained, tmp_path):
    repo = trained
    listed = json.loads(gitml(repo, "artifacts", "ls", "big", "--json").stdout)
    assert listed == [
        {"path": "model/config.txt", "size": 6, "sha256": sha256(b"small\n"), "store": "git",
         "here": True},
        {"path": "model/weights.bin", "size": len(WEIGHTS), "sha256": sha256(WEIGHTS),
         "store": "lfs", "here": True},
    ]  # fmt: skip
    text = gitml(repo, "artifacts", "ls", "big").stdout
    assert f"{sha256(WEIGHTS)[:12]}  lfs  model/weights.bin" in text

    gitml(repo, "artifacts", "get", "big", "model", "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "model" / "weights.bin").read_bytes() == WEIGHTS
    assert (tmp_path / "out" / "model" / "config.txt").read_text() == "small\n"

    shown = gitml(repo, "show", "big").stdout
    assert "model/weights.bin  20.0 KiB  (by content, lfs)" in shown


def test_a_copy_missing_here_is_an_error_naming_the_artifact(trained, tmp_path):
    repo = trained
    object_path(repo, sha256(WEIGHTS)).unlink()
    listed = json.loads(gitml(repo, "artifacts", "ls", "big", "--json").stdout)
    assert [item["here"] for item in listed] == [True, False]
    assert "lfs (not here)  model/weights.bin" in gitml(repo, "artifacts", "ls", "big").stdout

    result = gitml(repo, "artifacts", "get", "big", "model", "-o", str(tmp_path), check=False)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("gitml: error: artifact 'model/weights.bin' (")
    assert "run `gitml fetch` from the remote the run came from" in line


def test_a_small_artifact_that_reads_like_a_pointer_is_stored_by_content_too(repo_with_commit):
    """Else a file of the run would be mistaken for a pointer when read back."""
    repo = repo_with_commit
    forged = (
        b'{"gitml-pointer":1,"name":"x","sha256":"' + b"0" * 64 + b'","size":1,"store":"lfs"}\n'
    )
    write(repo / "log.py", f"import gitml\ngitml.log_text({forged.decode()!r}, 'note.json')\n")
    gitml(repo, "run", "--name", "tricky", "--", sys.executable, "log.py")

    ref = run_ref(repo, "tricky")
    pointer = parse_pointer(
        git(repo, "cat-file", "blob", f"{ref}:.gitml/artifacts/note.json").encode()
    )
    assert pointer is not None and pointer.sha256 == sha256(forged)
    out = repo / "out"
    gitml(repo, "artifacts", "get", "tricky", "note.json", "-o", str(out))
    assert (out / "note.json").read_bytes() == forged


def test_a_run_in_progress_reads_its_large_artifacts(repo_with_commit):
    repo = repo_with_commit
    git(repo, "config", "gitml.largeArtifactThreshold", "1k")
    script = (
        "import gitml, subprocess, sys\n"
        "gitml.log_text('x' * 5000, 'big.txt')\n"
        "run = gitml.active_run().info.run_id\n"
        "out = subprocess.run([sys.executable, '-m', 'gitml', 'artifacts', 'get', run,\n"
        "    'big.txt', '-o', 'got'], capture_output=True, text=True)\n"
        "assert out.returncode == 0, out.stderr\n"
    )
    write(repo / "live.py", script)
    gitml(repo, "run", "--name", "live", "--", sys.executable, "live.py")
    assert (repo / "got" / "big.txt").read_text() == "x" * 5000


def test_load_model_reads_a_model_whose_files_are_stored_by_content(repo_with_commit):
    import gitml
    from tests.models_helpers import train_sklearn

    repo = repo_with_commit
    git(repo, "config", "gitml.largeArtifactThreshold", "200")
    model, X = train_sklearn()
    with gitml.start_run(repo=repo, name="fitted") as run:
        gitml.log_model(model, "model")
        run_id = run.info.run_id
    ref = f"refs/gitml/runs/{run_id}"
    record = json.loads(git(repo, "cat-file", "blob", f"{ref}:.gitml/run.json"))
    by_content = [a["path"] for a in record["artifacts"] if a.get("store")]
    assert any(path.endswith(".pkl") for path in by_content), record["artifacts"]
    os.chdir(repo)
    loaded = gitml.load_model(f"runs:/{run_id}/model")
    assert list(loaded.predict(X)) == list(model.predict(X))


def test_a_forged_pointer_reaches_no_store_and_no_path_it_names(trained, tmp_path):
    """A run from a remote may hold any pointer: its name never becomes a path, and the
    store it names is never asked (it could be anyone's bucket), even when it holds the
    very bytes; only the store configured here is."""
    repo = trained
    payload = b"forged\n" * 1000
    evil = tmp_path / "evil"
    (evil / sha256(payload)[:2]).mkdir(parents=True)
    (evil / sha256(payload)[:2] / sha256(payload)[2:]).write_bytes(payload)
    forged = build_pointer(
        Pointer("../../../outside.bin", sha256(payload), len(payload), evil.as_uri())
    )
    ref = run_ref(repo, "big")
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=forged, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    index = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "index")}
    subprocess.run(["git", "read-tree", ref], cwd=repo, env=index, check=True)
    subprocess.run(
        ["git", "update-index", "--cacheinfo", f"100644,{blob},.gitml/artifacts/model/weights.bin"],
        cwd=repo, env=index, check=True,
    )  # fmt: skip
    tree = (
        subprocess.run(["git", "write-tree"], cwd=repo, env=index, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    message = git(repo, "log", "-1", "--format=%B", ref)
    commit = git(repo, "commit-tree", tree, "-p", f"{ref}^", "-m", message).strip()
    git(repo, "update-ref", ref, commit)

    out = tmp_path / "out"
    result = gitml(repo, "artifacts", "get", "big", "model", "-o", str(out), check=False)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "artifact 'model/weights.bin'" in line
    assert f"if you trust it, set gitml.largeArtifactStore to '{evil.as_uri()}'" in line
    assert not object_path(repo, sha256(payload)).exists()
    assert not out.exists() and not (tmp_path / "outside.bin").exists()


@pytest.mark.parametrize("source_on", ["the store's file system", "another file system"])
def test_a_file_is_copied_into_the_store_whole_a_part_at_a_time(tmp_path, monkeypatch, source_on):
    """copy_file_range within one file system; across two (tmpfs to disk: EXDEV), sendfile;
    each part lands at its own offset, and the object is named by the bytes copied."""
    from gitml.store.cas import folder

    monkeypatch.setattr(folder, "COPY_PART", 1 << 20)  # several parts from a small file
    data = os.urandom((3 << 20) + 12345)
    other = "/dev/shm" if source_on == "another file system" else tmp_path
    with tempfile.TemporaryDirectory(dir=other) as scratch:
        source = Path(scratch) / "weights.bin"
        source.write_bytes(data)
        stored = folder.FolderStore(tmp_path / "objects").put_file(source)
    assert stored == folder.Stored(sha256(data), len(data))
    objects = tmp_path / "objects"
    assert (objects / stored.sha256[:2] / stored.sha256[2:]).read_bytes() == data
