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
