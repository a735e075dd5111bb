"""Large artifacts moved with their runs: `gitml push` uploads the objects a run points
to before its ref (Git LFS through a real giftless server and the git-lfs client, an S3
endpoint in moto's server mode, a folder), `gitml fetch` and every reader download them,
checked; a push killed in the middle of an upload leaves no run whose object is missing;
one run a remote refuses holds no other back; `gitml gc --objects` collects what no run
points to."""

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cas_servers import GiftlessServer, S3Server, StallingLfsServer
from tests.sharing_helpers import run_refs, seeded_remote
from tests.utils import assert_fsck_clean, git, gitml, write

MODEL = bytes(range(256)) * 200  # 50 KiB, over the 4 KiB threshold these tests set
LOG = """\
import gitml, sys
with gitml.start_run(name=sys.argv[1]):
    gitml.log_text(sys.argv[2] * 20000, "model/weights.bin")
    gitml.log_text("small", "model/config.txt")
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights(letter: str) -> bytes:
    return (letter * 20000).encode()


def local_object(repo: Path, digest: str) -> Path:
    return repo / ".git" / "gitml" / "objects" / digest[:2] / digest[2:]


def log_run(repo: Path, name: str, letter: str = "w") -> None:
    write(repo / "log.py", LOG)
    subprocess.run([sys.executable, "log.py", name, letter], cwd=repo, check=True)


def configure(*repos: Path, **settings: str) -> None:
    for repo in repos:
        git(repo, "config", "gitml.largeArtifactThreshold", "4k")
        for key, value in settings.items():
            git(repo, "config", key, value)


@pytest.fixture(scope="module")
def giftless(tmp_path_factory):
    with GiftlessServer(tmp_path_factory.mktemp("lfs") / "storage") as server:
        yield server


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


def test_git_lfs_carries_the_objects_of_pushed_runs_and_fetch_brings_them(tmp_path, giftless):
    remote, (here, there) = seeded_remote(tmp_path, "here", "there")
    configure(here, there, **{"lfs.url": giftless.url})
    log_run(here, "lfs-run")
    digest = sha256(weights("w"))

    pushed = gitml(here, "push")

    assert "pushed 1 run" in pushed.stdout, pushed.stdout + pushed.stderr
    assert giftless.object_path(digest).read_bytes() == weights("w")
    assert list(run_refs(remote)) and (remote / "lfs").exists() is False  # the server has them
    fetched = gitml(there, "fetch")
    assert "(1 large artifact downloaded)" in fetched.stdout
    assert local_object(there, digest).read_bytes() == weights("w")
    lfs_copies = [p for p in (there / ".git" / "lfs" / "objects").rglob("*") if p.is_file()]
    assert lfs_copies == []  # git-lfs's own copy is not kept beside gitml's
    gitml(there, "artifacts", "get", "lfs-run", "model", "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "model" / "weights.bin").read_bytes() == weights("w")
    for repo in (here, there, remote):
        assert_fsck_clean(repo)


def test_a_reader_downloads_on_demand_from_s3(tmp_path, s3, monkeypatch):
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    s3.client().create_bucket(Bucket="models")
    remote, (here, there) = seeded_remote(tmp_path, "here", "there")
    settings = {"gitml.largeArtifactStore": "s3://models/team/a", "gitml.s3Endpoint": s3.url}
    configure(here, there, **settings)
    log_run(here, "s3-run", "s")
    digest = sha256(weights("s"))

    gitml(here, "push")

    key = f"team/a/{digest[:2]}/{digest[2:]}"
    assert s3.client().get_object(Bucket="models", Key=key)["Body"].read() == weights("s")
    git(there, "fetch", "-q", "origin", "refs/gitml/runs/*:refs/gitml/runs/*")  # plain git
    listed = json.loads(gitml(there, "artifacts", "ls", "s3-run", "--json").stdout)
    big = next(item for item in listed if item["path"] == "model/weights.bin")
    assert big["store"] == "s3://models/team/a" and big["here"] is False
    shown = gitml(there, "artifacts", "get", "s3-run", "model/weights.bin", "-o", str(tmp_path))
    assert shown.returncode == 0
    assert (tmp_path / "weights.bin").read_bytes() == weights("s")
    assert local_object(there, digest).is_file()


def test_bytes_that_are_not_the_artifact_s_are_refused_naming_it(tmp_path):
    shared = tmp_path / "shared"
    remote, (here, there) = seeded_remote(tmp_path, "here", "there")
    configure(here, there, **{"gitml.largeArtifactStore": shared.as_uri()})
    log_run(here, "checked", "c")
    (shared / "tmp").mkdir(parents=True)
    stale, young = shared / "tmp" / "obj-killed", shared / "tmp" / "obj-going"
    stale.write_bytes(b"half an upload")
    young.write_bytes(b"another machine's upload")
    os.utime(stale, (1, 1))
    gitml(here, "push")
    assert not stale.exists() and young.exists()  # a writer killed long ago is forgotten
    digest = sha256(weights("c"))
    stored = shared / digest[:2] / digest[2:]
    assert stored.read_bytes() == weights("c")
    stored.chmod(stat.S_IWUSR | stat.S_IRUSR)
    stored.write_bytes(b"tampered" * 1000)  # the store's copy is damaged

    fetched = gitml(there, "fetch")
    assert "gitml: warning: artifact 'model/weights.bin': the bytes" in fetched.stderr
    result = gitml(
        there, "artifacts", "get", "checked", "model", "-o", str(tmp_path / "o"), check=False
    )

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("gitml: error: artifact 'model/weights.bin': the bytes the folder")
    assert f"not {digest[:12]} as the run records" in line
    assert not local_object(there, digest).exists()
    assert not list((there / ".git" / "gitml" / "objects" / "tmp").iterdir())
    assert not (tmp_path / "o" / "model" / "weights.bin").exists()


@pytest.mark.slow
def test_a_push_killed_during_an_upload_leaves_no_run_without_its_object(tmp_path, giftless):
    remote, (here,) = seeded_remote(tmp_path, "here")
    with StallingLfsServer() as stalling:
        configure(here, **{"lfs.url": stalling.url})
        log_run(here, "interrupted", "k")
        push = subprocess.Popen(
            [sys.executable, "-m", "gitml", "push"],
            cwd=here,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert stalling.stalled.wait(60), push.communicate()
        os.killpg(push.pid, signal.SIGKILL)  # gitml and git-lfs, mid-upload
        push.wait()

    assert run_refs(remote) == {}  # the ref waits for its object
    assert_fsck_clean(here)
    git(here, "config", "lfs.url", giftless.url)
    gitml(here, "push")  # the upload is redone
    digest = sha256(weights("k"))
    assert giftless.object_path(digest).read_bytes() == weights("k")
    assert len(run_refs(remote)) == 1
    assert_fsck_clean(here)
    assert_fsck_clean(remote)


def test_one_refused_run_holds_back_no_other_and_the_remote_s_reason_is_shown(tmp_path):
    remote, (here,) = seeded_remote(tmp_path, "here")
    configure(here, **{"gitml.largeArtifactStore": (tmp_path / "shared").as_uri()})
    for name in ("first", "huge", "third"):
        log_run(here, name)
    huge = next(
        r["id"] for r in json.loads(gitml(here, "ls", "--json").stdout) if r["name"] == "huge"
    )
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in *" + huge + ")\n"
        "  echo 'run over the 2 GB limit of this host' >&2; exit 1;; esac; done\n"
    )
    hook.chmod(0o755)

    result = gitml(here, "push", check=False)

    assert result.returncode == 1
    assert sorted(run_refs(remote)) == sorted(
        f"refs/gitml/runs/{r['id']}" for r in json.loads(gitml(here, "ls", "--json").stdout)
        if r["name"] != "huge"
    )  # fmt: skip
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("gitml: error")]
    assert f"did not take 1 run(s): {huge} (" in line
    assert "the remote said: run over the 2 GB limit of this host" in line
    assert "the other 2 run(s) were pushed" in line


def test_gc_objects_removes_only_what_no_run_points_to(tmp_path, repo_with_commit):
    repo = repo_with_commit
    configure(repo)
    log_run(repo, "kept", "a")
    log_run(repo, "dropped", "b")
    kept, dropped = sha256(weights("a")), sha256(weights("b"))
    gitml(repo, "rm", "dropped")

    young = gitml(repo, "gc", "--objects", "--json")  # within the grace period: kept
    assert json.loads(young.stdout) == {"runs": [], "objects": []}
    listed = gitml(repo, "gc", "--objects", "--grace", "0s", "--dry-run", "--json")
    assert json.loads(listed.stdout)["objects"] == [{"sha256": dropped, "size": 20000}]
    assert local_object(repo, dropped).exists()

    done = gitml(repo, "gc", "--objects", "--grace", "0s")

    assert "removed 1 object of large artifacts (20,000 bytes)" in done.stdout
    assert not local_object(repo, dropped).exists() and local_object(repo, kept).exists()
    out = tmp_path / "out"
    gitml(repo, "artifacts", "get", "kept", "model/weights.bin", "-o", str(out))
    assert (out / "weights.bin").read_bytes() == weights("a")


def test_a_host_without_git_lfs_is_named_and_holds_back_only_the_runs_needing_it(tmp_path):
    from tests.gitservers import SmartHttpServer
    from tests.sharing_helpers import bare_remote

    remote = bare_remote(tmp_path)
    with SmartHttpServer(tmp_path) as server:  # git's smart HTTP, no LFS endpoint
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
        git(repo, "remote", "add", "origin", server.url(remote.name))
        configure(repo)
        log_run(repo, "large")
        write(repo / "small.py", "import gitml\nwith gitml.start_run(name='small'):\n    pass\n")
        subprocess.run([sys.executable, "small.py"], cwd=repo, check=True)

        result = gitml(repo, "push", check=False)

    assert result.returncode == 1
    assert result.stdout == "pushed 1 run to origin\n"
    (line,) = result.stderr.splitlines()
    assert "cannot upload large artifacts to Git LFS on 'origin': " in line
    assert "info/lfs/objects/batch" in line
    assert "does the host take Git LFS objects? else set gitml.largeArtifactStore" in line
    assert "the other 1 run(s) were pushed" in line
    assert len(run_refs(remote)) == 1


def test_uploads_and_downloads_tell_their_progress(tmp_path, giftless):
    from gitml.sharing.transfer import FetchOptions, PushOptions, fetch_runs, push_runs
    from gitml.store.cas import progress
    from gitml.store.repository import open_repository

    remote, (here, there) = seeded_remote(tmp_path, "here", "there")
    configure(here, there, **{"lfs.url": giftless.url})
    log_run(here, "told", "t")
    told: list[tuple[str, int, int]] = []

    class Recorder:
        def __init__(self, label: str, total: int):
            self.entry = [label, total, 0]
            told.append(self.entry)

        def advance(self, count: int) -> None:
            self.entry[2] += count

        def end(self) -> None:
            pass

    progress.listen(Recorder)
    try:
        push_runs(open_repository(here), PushOptions())
        fetch_runs(open_repository(there), FetchOptions())
    finally:
        progress.listen(None)

    size = len(weights("t"))
    assert told == [
        ["uploading to Git LFS on 'origin'", size, size],
        ["downloading from Git LFS on 'origin'", size, size],
    ]
