"""Two machines push different runs to one remote at the same time; a third sees them all."""

import subprocess
import sys

import pytest

from tests.sharing_helpers import clone, ls_json, make_runs_at_once, run_refs, seeded_remote
from tests.utils import assert_fsck_clean, git, gitml


@pytest.mark.slow
def test_two_clones_push_at_once_and_a_third_fetches_all(tmp_path):
    remote, (first, second) = seeded_remote(tmp_path, "first", "second", as_uri=True)
    for repo in (first, second):  # every run on a ref there (folding: test_sharing_archives)
        git(repo, "config", "gitml.remoteLiveRuns", "1000")
    make_runs_at_once((first, 40, "first-"), (second, 40, "second-"))

    for _ in range(3):  # several rounds: each round races two pushes
        pushes = [
            subprocess.Popen(
                [sys.executable, "-m", "gitml", "push"],
                cwd=clone_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for clone_dir in (first, second)
        ]
        outputs = [push.communicate(timeout=120) for push in pushes]
        assert [push.returncode for push in pushes] == [0, 0], outputs
        make_runs_at_once((first, 3, f"first-more-{_}-"), (second, 3, f"second-more-{_}-"))
    gitml(first, "push")
    gitml(second, "push")

    assert len(run_refs(remote)) == 2 * (40 + 9)
    assert run_refs(remote) == {**run_refs(first), **run_refs(second)}
    assert_fsck_clean(remote)

    third = clone(remote.as_uri(), tmp_path / "third")
    assert gitml(third, "fetch").stdout == f"fetched {2 * 49} runs from origin\n"
    expected = sorted(ls_json(first) + ls_json(second), key=lambda run: run["id"], reverse=True)
    assert ls_json(third) == expected
    assert_fsck_clean(third)


def test_fetches_of_the_same_runs_at_once_in_one_clone_all_succeed(tmp_path):
    # the listed fetch creates the run refs it lacked in one transaction: when another
    # fetch of this clone (a second terminal, a sweep worker) created one meanwhile, git
    # refused them all and the fetch failed in git's words
    from gitml.store.gitproc import fetch_as_refs
    from gitml.store.repository import open_repository

    remote, (pusher, fetcher) = seeded_remote(tmp_path, "pusher", "fetcher")
    make_runs_at_once((pusher, 3, "there-"), (fetcher, 1, "here-"))
    gitml(pusher, "push")
    theirs = run_refs(remote)
    first = min(theirs)
    git(fetcher, "fetch", "-q", "origin", f"{first}:{first}")  # another fetch's, meanwhile

    fetch_as_refs(open_repository(fetcher), "origin", theirs)

    assert {ref: sha for ref, sha in run_refs(fetcher).items() if ref in theirs} == theirs
    make_runs_at_once((pusher, 3, "more-"))
    gitml(pusher, "push")
    fetches = [
        subprocess.Popen([sys.executable, "-m", "gitml", "fetch"], cwd=fetcher,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    outputs = [fetch.communicate(timeout=120) for fetch in fetches]
    assert [fetch.returncode for fetch in fetches] == [0, 0, 0], outputs
    assert len(ls_json(fetcher)) == 7
    assert_fsck_clean(fetcher)
