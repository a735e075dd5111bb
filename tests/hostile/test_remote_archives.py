"""Archive commits a remote holds (`refs/gitml/archive/*`) are hostile: forged in one
clone, pushed to a bare remote and read by another with `gitml ls --remote`."""

import json

from gitml.store.ids import new_run_id
from gitml.tracking.archive import HEAD_FILE, MAX_RUNS, RUNS_FILE
from tests.hostile.test_remote_data import plumb, tree
from tests.sharing_helpers import clone, make_runs, seeded_remote
from tests.utils import git, gitml


def test_an_archive_commit_holding_one_run_under_many_ids_lists_no_more_than_written(tmp_path):
    # a writer folds at most MAX_RUNS runs into one archive commit, each its own parent;
    # a forged one names its single parent under ever more ids (64 MiB: ~200,000 runs)
    remote, (attacker,) = seeded_remote(tmp_path, "attacker")
    make_runs(attacker, 1, "good")
    ref, sha = git(
        attacker, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gitml/runs/"
    ).split()
    message = git(attacker, "log", "-1", "--format=%B", sha)
    lines = "".join(
        json.dumps({"id": new_run_id(), "sha": sha, "message": message}) + "\n"
        for _ in range(MAX_RUNS + 50)
    )
    files = {HEAD_FILE: b'{"format": 1, "previous": []}', RUNS_FILE: lines.encode()}
    archive = plumb(attacker, "commit-tree", tree(attacker, files), "-p", sha, "-m", "forged")
    git(attacker, "update-ref", "refs/gitml/archive/0", archive)
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")
    victim = clone(remote, tmp_path / "victim")

    listed = json.loads(gitml(victim, "ls", "--remote", "origin", "--json").stdout)

    assert 0 < len(listed) <= MAX_RUNS + 1  # the forged ones, as written, and the run's ref


def test_a_remote_ref_below_an_archive_ref_never_blocks_folding_here(tmp_path):
    # a fetch into a clone without runs brings the run and archive patterns whole: a ref
    # *below* a bucket's archive ref (refs/gitml/archive/0/x), kept, would stop git from
    # ever writing that archive ref here, and every fold (gitml archive, the automatic
    # one of gitml run, gitml push past the remote's budget) would fail
    remote, (attacker,) = seeded_remote(tmp_path, "attacker")
    head = git(attacker, "rev-parse", "HEAD").strip()
    for stray in ("archive/0/x", "archive/1/x", "archive/2/x", "archive/3/x", "runs/x/y"):
        git(attacker, "update-ref", f"refs/gitml/{stray}", head)
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")
    victim = clone(remote, tmp_path / "victim")

    gitml(victim, "fetch", "origin")

    assert git(victim, "for-each-ref", "refs/gitml/") == ""
    make_runs(victim, 4, "mine")
    assert gitml(victim, "archive", "--keep", "0").returncode == 0
    assert len(git(victim, "for-each-ref", "refs/gitml/archive/").splitlines()) >= 2
