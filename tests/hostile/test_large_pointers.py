"""Pointers to large artifacts in runs fetched from a hostile remote: the size a pointer
claims is a bound on what is read and kept, never a number to trust.

The attacker forges runs whose `.gitml/artifacts/…` file is a pointer, pushes them, and
fills the team's shared folder store (a mount every clone reaches); the victim clones,
sets that store, fetches with `gitml fetch` and reads with `gitml artifacts get`."""

import hashlib
import os
from pathlib import Path

import pytest

from gitml.store.cas.pointer import Pointer, build_pointer
from gitml.store.ids import new_run_id
from tests.hostile import test_remote_data
from tests.hostile.test_remote_data import clone, forge_run, record
from tests.utils import git, gitml

attacker = test_remote_data.attacker  # a clone with one good run, and its bare remote
BIG = 8 << 20  # the object the shared folder holds: 8 MiB of zeros
ZEROS = hashlib.sha256(bytes(BIG)).hexdigest()


def put_object(store: Path, data_size: int) -> None:
    """Object ZEROS in folder store `store`, a sparse file (no disk used)."""
    path = store / ZEROS[:2] / ZEROS[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(data_size)


def fetched_run(attacker: Path, tmp_path: Path, pointer: Pointer) -> tuple[Path, str]:
    """A victim clone that fetched a run `weights` whose artifact `model.bin` is `pointer`,
    with a shared folder store holding object ZEROS (8 MiB); what the fetch said on
    stderr."""
    shared = tmp_path / "shared"
    put_object(shared, BIG)
    run_id = new_run_id()
    artifacts = {"model.bin": build_pointer(pointer)}
    files = {".gitml": {"run.json": record(run_id, "weights"), "artifacts": artifacts}}
    forge_run(attacker, "weights", files, run_id=run_id)
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")
    victim = clone(attacker / ".." / "remote.git", tmp_path / "victim")
    git(victim, "config", "gitml.largeArtifactStore", shared.as_uri())
    return victim, gitml(victim, "fetch", "origin").stderr


def get(victim: Path, tmp_path: Path):
    out = tmp_path / "out"
    return gitml(victim, "artifacts", "get", "weights", "model.bin", "-o", str(out), check=False)


def local_objects(victim: Path) -> list[Path]:
    folder = victim / ".git" / "gitml" / "objects"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def one_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("gitml: error: artifact 'model.bin'")
    return line


def test_an_object_larger_than_its_pointer_says_is_cut_off_and_never_kept(attacker, tmp_path):
    """The pointer claims 1 byte; the store holds an object of 8 MiB with the sha256 it
    names: reading stops after the claimed size (before, every byte was copied and the
    artifact written, 8 MiB for 1; 10 GB would have filled the disk)."""
    victim, fetched = fetched_run(attacker, tmp_path, Pointer("model.bin", ZEROS, 1, "local"))

    result = get(victim, tmp_path)

    assert "are more than the 1 bytes the run records" in fetched
    assert "are more than the 1 bytes the run records; nothing was kept" in one_line(result)
    assert local_objects(victim) == [] and not (tmp_path / "out").exists()


def test_an_object_here_of_another_size_than_the_pointer_says_is_not_read(attacker, tmp_path):
    """The object is here already (an honest run brought it) and a fetched run points to
    it claiming 1 byte: readers bound what they read by that size, so it is refused."""
    victim, _ = fetched_run(attacker, tmp_path, Pointer("model.bin", ZEROS, 1, "local"))
    put_object(victim / ".git" / "gitml" / "objects", BIG)

    line = one_line(get(victim, tmp_path))

    assert "its object here holds 8,388,608 bytes, not the 1 the run records" in line
    assert not (tmp_path / "out").exists()


def test_an_object_larger_than_the_free_disk_is_refused_before_downloading(attacker, tmp_path):
    huge = Pointer("model.bin", ZEROS, 10 << 40, "lfs")
    victim, fetched = fetched_run(attacker, tmp_path, huge)

    line = one_line(get(victim, tmp_path))

    assert "is stored by content as 10,995,116,277,760 bytes" in fetched
    assert "is stored by content as 10,995,116,277,760 bytes, more than the" in line
    assert "nothing was downloaded" in line and local_objects(victim) == []


@pytest.mark.parametrize("store", ["file:///etc", "s3://elsewhere/x"])
def test_the_store_a_pointer_names_is_never_read(attacker, tmp_path, store):
    """Only the store configured here is asked: a pointer naming /etc, or a bucket of
    another endpoint, makes the object missing, named with the store it claims."""
    passwd = Path("/etc/passwd").read_bytes()
    digest = hashlib.sha256(passwd).hexdigest()
    pointer = Pointer("model.bin", digest, len(passwd), store)
    victim, fetched = fetched_run(attacker, tmp_path, pointer)

    line = one_line(get(victim, tmp_path))

    assert "no store reachable from here holds it" in fetched
    assert "no store reachable from here holds it" in line and f"to {store!r}, the store" in line
    assert local_objects(victim) == [] and not (tmp_path / "out").exists()
    assert not os.path.exists(victim / ".git" / "gitml" / "objects" / digest[:2])


def test_a_stream_that_never_ends_is_read_no_further_than_the_size(tmp_path):
    """What Git LFS or S3 sends is a stream: one that never ends (a hostile server) is
    cut off after the size and one block, and nothing of it is kept."""
    from gitml.store.cas.folder import BLOCK, FolderStore, TooManyBytes

    sent = []

    def endless():
        while True:
            sent.append(BLOCK)
            yield bytes(BLOCK)

    store = FolderStore(tmp_path / "objects")
    with pytest.raises(TooManyBytes, match="are more than the 1,048,577 bytes the run records"):
        store.put_blocks(endless(), ZEROS, size=BLOCK + 1)

    assert len(sent) == 2
    assert [path for path in store.folder.rglob("*") if path.is_file()] == []
