"""`gitml artifacts ls|get`: a run's artifacts listed and written out, for a committed
run and a run in progress, through the one run reader; hostile trees write nothing."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile import test_remote_data as forged
from tests.utils import git, gitml, write

attacker = forged.attacker  # the fixture: a clone whose remote takes forged objects

TRAIN = """\
import os
from pathlib import Path
out = Path("out")
(out / "sub").mkdir(parents=True)
(out / "model.bin").write_bytes(bytes(range(256)) * 4)
(out / "sub" / "deep.txt").write_text("deep\\n")
os.symlink("sub", out / "sub_link")  # a link to a folder: stored as a link
os.symlink("../../nowhere", out / "dangling")  # leads out: stored as a link
Path("score.txt").write_text("0.9\\n")
"""


@pytest.fixture
def recorded(repo_with_commit) -> tuple[Path, str]:
    """(repository, run name) of a finished `gitml run` with a folder and a file artifact."""
    repo = repo_with_commit
    write(repo / "train.py", TRAIN)
    gitml(
        repo, "run", "--name", "trained", "--artifact", "out", "--artifact", "score.txt",
        "--", sys.executable, "train.py",
    )  # fmt: skip
    return repo, "trained"


def ls_json(repo: Path, *args: str) -> list[dict]:
    return json.loads(gitml(repo, "artifacts", "ls", *args, "--json").stdout)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_ls_lists_a_committed_run_s_artifacts_with_size_sha256_and_store(recorded):
    repo, run = recorded
    listed = ls_json(repo, run)
    model = bytes(range(256)) * 4
    assert listed == [
        {
            "path": "out/dangling",
            "size": len(b"../../nowhere"),
            "sha256": sha256(b"../../nowhere"),
            "link": "../../nowhere",
            "store": "git",
            "here": True,
        },
        {
            "path": "out/model.bin",
            "size": 1024,
            "sha256": sha256(model),
            "store": "git",
            "here": True,
        },
        {
            "path": "out/sub/deep.txt",
            "size": 5,
            "sha256": sha256(b"deep\n"),
            "store": "git",
            "here": True,
        },
        {
            "path": "out/sub_link",
            "size": 3,
            "sha256": sha256(b"sub"),
            "link": "sub",
            "store": "git",
            "here": True,
        },
        {"path": "score.txt", "size": 4, "sha256": sha256(b"0.9\n"), "store": "git", "here": True},
    ]
    assert [item["path"] for item in ls_json(repo, run, "out/sub/")] == ["out/sub/deep.txt"]
    assert [item["path"] for item in ls_json(repo, run, "score.txt")] == ["score.txt"]
    table = gitml(repo, "artifacts", "ls", run).stdout.splitlines()
    assert len(table) == 5
    assert table[1].split() == ["1,024", sha256(model)[:12], "git", "out/model.bin"]
    assert table[3].split()[-3:] == ["out/sub_link", "->", "sub"]


def test_a_folder_is_written_under_dest_named_like_it_with_inside_links_kept(recorded, tmp_path):
    repo, run = recorded
    dest = tmp_path / "dest"
    result = gitml(repo, "artifacts", "get", run, "out", "-o", str(dest))
    written = result.stdout.splitlines()
    assert written == [str(dest / "out" / name) for name in
                       ("dangling", "model.bin", "sub/deep.txt", "sub_link")]  # fmt: skip
    assert (dest / "out" / "model.bin").read_bytes() == bytes(range(256)) * 4
    assert (dest / "out" / "sub" / "deep.txt").read_text() == "deep\n"
    assert os.readlink(dest / "out" / "sub_link") == "sub"  # stays inside: a link
    dangling = dest / "out" / "dangling"  # leads out of dest: a file holding its target
    assert not dangling.is_symlink() and dangling.read_text() == "../../nowhere"
    gitml(tmp_path, "-C", str(repo), "artifacts", "get", run, "score.txt")  # default: here
    assert (tmp_path / "score.txt").read_text() == "0.9\n"


def test_get_refuses_to_replace_a_file_unless_forced(recorded, tmp_path):
    repo, run = recorded
    dest = tmp_path / "dest"
    write(dest / "out" / "sub" / "deep.txt", "mine\n")
    result = gitml(repo, "artifacts", "get", run, "out", "-o", str(dest), check=False)
    forged.assert_one_line_error(result, str(dest / "out" / "sub" / "deep.txt"), "--force")
    assert forged.files_under(dest) == {dest / "out" / "sub" / "deep.txt"}  # nothing written
    assert (dest / "out" / "sub" / "deep.txt").read_text() == "mine\n"
    gitml(repo, "artifacts", "get", run, "out", "-o", str(dest), "--force")
    assert (dest / "out" / "sub" / "deep.txt").read_text() == "deep\n"
    assert (dest / "out" / "model.bin").exists()


def test_a_missing_run_or_path_is_one_line(recorded, tmp_path):
    repo, run = recorded
    here = tmp_path / "here"
    here.mkdir()
    for args, words in [
        (("artifacts", "get", "no-such-run", "out"), ["no run matches 'no-such-run'"]),
        (("artifacts", "ls", "no-such-run"), ["no run matches 'no-such-run'"]),
        (("artifacts", "get", run, "out/missing"), ["run trained", "no artifact 'out/missing'"]),
        (("artifacts", "ls", run, "nope"), ["no artifact 'nope'"]),
        (("artifacts", "get", run, "../out"), ["'../out'", "'..' part"]),
    ]:
        result = gitml(here, "-C", str(repo), *args, check=False)
        forged.assert_one_line_error(result, *words)
    assert list(here.iterdir()) == []


WAITING = """\
import time
from pathlib import Path
import gitml
gitml.log_text("live\\n", "notes/live.txt")
Path("ready").write_text("")
while not Path("go").exists():
    time.sleep(0.05)
"""


def test_a_run_in_progress_is_listed_and_written_out(repo_with_commit, tmp_path):
    repo = repo_with_commit
    write(repo / "wait.py", WAITING)
    command = [sys.executable, "-m", "gitml", "run", "--name", "live", "--", sys.executable,
               "wait.py"]  # fmt: skip
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not (repo / "ready").exists():
            assert process.poll() is None, process.communicate()
        assert json.loads(gitml(repo, "show", "live", "--json").stdout)["status"] == "running"
        assert ls_json(repo, "live") == [
            {
                "path": "notes/live.txt",
                "size": 5,
                "sha256": sha256(b"live\n"),
                "store": "git",
                "here": True,
            }
        ]
        gitml(repo, "artifacts", "get", "live", "notes", "-o", str(tmp_path / "dest"))
        assert (tmp_path / "dest" / "notes" / "live.txt").read_text() == "live\n"
    finally:
        (repo / "go").write_text("")
        process.communicate()
    assert process.returncode == 0
    assert ls_json(repo, "live")[0]["sha256"] == sha256(b"live\n")  # committed: the same


@pytest.mark.parametrize("attack", forged.ATTACKS)
def test_a_hostile_tree_path_of_a_fetched_run_writes_nothing(attack, attacker, tmp_path):
    entries, shown = forged.attacks(tmp_path)[attack]
    folder = {"ok.txt": b"fine\n", **entries}
    run_id = forged.forge_run(
        attacker, "evil", {".gitml": {"run.json": b"{}", "artifacts": {"stuff": folder}}}
    )
    repo = forged.victim(attacker, tmp_path)
    out = tmp_path / "x1" / "x2" / "x3" / "x4" / "out"
    result = gitml(repo, "artifacts", "get", run_id, "stuff", "-o", str(out), check=False)
    forged.assert_one_line_error(result, shown, "nothing of it was written")
    assert forged.escaped(tmp_path) == []
    assert not out.exists() or forged.files_under(out) == set()


def test_links_of_a_fetched_run_that_climb_out_are_written_as_files(attacker, tmp_path):
    Link = forged.Link
    folder = {
        "MLmodel": b"flavors: {}\n",
        "inside": Link("MLmodel"),
        "up": Link("../../escaped-target"),
        "here": Link("."),
        "through": Link("here/here/../.."),  # `..` past a link: lexically inside, really not
        "absolute": Link(str(tmp_path)),
    }
    run_id = forged.forge_run(
        attacker, "evil", {".gitml": {"run.json": b"{}", "artifacts": {"model": folder}}}
    )
    repo = forged.victim(attacker, tmp_path)
    out = tmp_path / "out"
    gitml(repo, "artifacts", "get", run_id, "model", "-o", str(out))
    assert os.readlink(out / "model" / "inside") == "MLmodel"
    assert os.readlink(out / "model" / "here") == "."
    for name, target in [
        ("up", "../../escaped-target"), ("through", "here/here/../.."), ("absolute", str(tmp_path))
    ]:  # fmt: skip
        assert not (out / "model" / name).is_symlink(), name
        assert (out / "model" / name).read_text() == target
    assert git(repo, "status", "--porcelain") == ""
