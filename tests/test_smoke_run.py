"""A first end-to-end check of `gitml run` on a real repository."""

import json

from tests.utils import assert_fsck_clean, git, gitml, user_state, write


def test_run_records_a_commit_on_a_hidden_ref(repo_with_commit):
    write(repo_with_commit / "src" / "model.py", "WEIGHT = 2\n")
    write(repo_with_commit / "train.py", "import gitml\ngitml.log_metric('loss', 0.5)\n")
    before = user_state(repo_with_commit)

    result = gitml(
        repo_with_commit, "run", "-P", "lr=0.01", "--name", "baseline", "--", "python", "train.py"
    )

    assert user_state(repo_with_commit) == before
    refs = git(repo_with_commit, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    assert len(refs) == 1
    assert "baseline" in result.stderr
    listing = json.loads(gitml(repo_with_commit, "ls", "--json").stdout)
    assert [(r["name"], r["status"], r["params"], r["metrics"]) for r in listing] == [
        ("baseline", "finished", {"lr": "0.01"}, {"loss": 0.5})
    ]
    changed = git(repo_with_commit, "show", "--name-only", "--format=", refs[0]).split()
    assert "src/model.py" in changed and "train.py" in changed
    assert ".gitml/run.json" in changed
    assert_fsck_clean(repo_with_commit)
