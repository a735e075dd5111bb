"""Runs on a remote in two tiers: `gitml push` keeps the remote's run refs under
gitml.remoteLiveRuns by folding the older runs it holds; `gitml ls --remote` and
`gitml fetch REMOTE RUN` see runs the remote holds archived only; push and fetch ask the
remote once."""

import json
import os
import subprocess
import sys

from tests.sharing_helpers import (
    clone,
    make_runs,
    make_runs_at_once,
    push_at_once,
    run_refs,
    seeded_remote,
)
from tests.utils import assert_fsck_clean, git, gitml


def runs_on(repo) -> dict[str, str]:
    """run id → commit of the run refs of `repo` (a work tree or a bare remote)."""
    refs = run_refs(repo)
    return {ref.rsplit("/", 1)[1]: sha for ref, sha in refs.items() if "/runs/" in ref}


def every_run(repo) -> dict[str, str]:
    """run id → commit of every run `gitml ls` lists, live or archived."""
    return {
        run["id"]: run["commit"] for run in json.loads(gitml(repo, "ls", "--all", "--json").stdout)
    }


def remote_runs(repo) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--remote", "origin", "--json").stdout)


def test_push_keeps_the_remote_s_run_refs_under_its_budget_and_loses_no_run(tmp_path):
    remote, (a,) = seeded_remote(tmp_path, "a")
    git(a, "config", "gitml.remoteLiveRuns", "4")
    make_runs(a, 6, "a")
    pushed = json.loads(gitml(a, "push", "--json").stdout)
    assert len(pushed["runs"]) == 6 and pushed["archives"]  # more new runs than the budget
    assert len(runs_on(remote)) == 2  # folded down to half the budget after them
    make_runs(a, 1, "b")
    gitml(a, "push")
    assert len(runs_on(remote)) == 3  # under the budget: no fold
    make_runs(a, 2, "c")
    pushed = json.loads(gitml(a, "push", "--json").stdout)
    assert len(pushed["runs"]) == 2 and pushed["archives"]
    assert len(runs_on(remote)) == 2  # the three it held folded, the two new on a ref
    assert set(runs_on(remote)) <= set(runs_on(a))
    everything = every_run(a)
    assert len(everything) == 9
    fresh = clone(remote, tmp_path / "fresh")
    gitml(fresh, "fetch")
    assert every_run(fresh) == everything
    for repo in (a, fresh, remote):
        assert_fsck_clean(repo)


def test_two_clones_pushing_at_once_fold_and_converge(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    for repo in (a, b):
        git(repo, "config", "gitml.remoteLiveRuns", "4")
    for turn in range(2):
        make_runs_at_once((a, 5, f"a{turn}-"), (b, 5, f"b{turn}-"))
        push_at_once(a, b)
    for repo in (a, b, a):
        gitml(repo, "fetch")
        gitml(repo, "push")
    assert len(runs_on(remote)) <= 4
    assert set(every_run(a)) == set(every_run(b)) and len(every_run(a)) == 20
    on_remote = run_refs(remote)
    for repo in (a, b):  # nothing moves back and forth
        again = json.loads(gitml(repo, "push", "--json").stdout)
        assert again["runs"] == [] and again["archives"] == []
    assert run_refs(remote) == on_remote
    third = clone(remote, tmp_path / "third")
    gitml(third, "fetch")
    assert every_run(third) == every_run(a)
    for repo in (a, b, third, remote):
        assert_fsck_clean(repo)


def test_a_refused_run_holds_back_neither_the_others_nor_the_fold(tmp_path):
    remote, (a,) = seeded_remote(tmp_path, "a")
    git(a, "config", "gitml.remoteLiveRuns", "2")
    make_runs(a, 2, "old")
    gitml(a, "push")
    make_runs(a, 2, "new")
    new = sorted(set(every_run(a)) - set(runs_on(remote)))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in *" + new[0] + ")\n"
        "  echo 'not this one' >&2; exit 1;; esac; done\n"
    )
    hook.chmod(0o755)

    result = gitml(a, "push", check=False)

    assert result.returncode == 1 and f"did not take 1 run(s): {new[0]}" in result.stderr
    assert new[0] not in runs_on(remote) and new[1] in runs_on(remote)
    hook.unlink()
    fresh = clone(remote, tmp_path / "fresh")
    gitml(fresh, "fetch")
    assert set(every_run(fresh)) == set(every_run(a)) - {new[0]}  # the old two archived there


def test_ls_remote_and_fetch_run_see_runs_the_remote_holds_archived_only(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    make_runs(a, 4, "a")
    gitml(a, "archive", "--keep", "1")
    gitml(a, "push")
    assert len(runs_on(remote)) == 1
    everything = every_run(a)
    listed = remote_runs(b)
    assert {run["id"]: run["commit"] for run in listed} == everything
    assert sorted(run["archived"] for run in listed) == [False, True, True, True]
    assert not any(run["local"] for run in listed)
    assert runs_on(b) == {} and git(b, "for-each-ref", "refs/gitml/archive/") == ""  # nothing moved
    table = gitml(b, "ls", "--remote", "origin").stdout.splitlines()
    assert table[0].split() == ["ID", "STARTED", "LOCAL", "ARCHIVED"] and len(table) == 5

    archived = min(everything)  # the oldest: folded
    fetched = json.loads(gitml(b, "fetch", "origin", archived[:14], "--json").stdout)
    assert fetched["runs"] == [archived] and fetched["already"] == 0
    assert runs_on(b) == {}  # it came archived, as the remote holds it
    assert gitml(b, "show", archived, "--json").stdout  # found as any run
    again = json.loads(gitml(b, "fetch", "origin", archived[:14], "--json").stdout)
    assert again["runs"] == [] and again["already"] == 1
    listed = remote_runs(b)
    assert {run["id"] for run in listed if run["local"]} == set(everything) - set(runs_on(remote))
    missing = gitml(b, "fetch", "origin", "0000000000", check=False)
    assert missing.returncode == 1
    said = "remote 'origin' has no run matching '0000000000' (see gitml ls --remote origin)"
    assert missing.stderr == f"gitml: error: {said}\n"
    assert_fsck_clean(b)


def test_archive_commits_are_dated_as_their_newest_parent(tmp_path):
    """git's walks go newest first: an archive commit dated now would be among the few
    commits a remote reads past its refs' newest on every push, with all its parents."""
    remote, (a,) = seeded_remote(tmp_path, "a")
    make_runs(a, 3, "a")
    gitml(a, "archive", "--keep", "0")
    for tip in git(a, "for-each-ref", "--format=%(objectname)", "refs/gitml/archive/").split():
        parents = git(a, "log", "-1", "--format=%P", tip).split()
        newest = max(int(git(a, "log", "-1", "--format=%ct", sha)) for sha in parents)
        assert int(git(a, "log", "-1", "--format=%ct", tip)) == newest


def git_commands(trace: str) -> list[str]:
    """The git commands a GIT_TRACE file shows started, by name (`ls-remote`, `push`…)."""
    words = [line.split("trace: built-in: git ")[1].split() for line in trace.splitlines()
             if "trace: built-in: git " in line]  # fmt: skip
    return [next(word for word in command if not word.startswith("-")) for command in words]


def test_push_and_fetch_ask_the_remote_once(tmp_path):
    remote, (a, b) = seeded_remote(tmp_path, "a", "b")
    make_runs(a, 2, "a")
    gitml(a, "push")
    make_runs(a, 1, "b")
    make_runs(b, 1, "c")  # a run here: the fetch lists the remote
    trace = tmp_path / "trace"
    env = {**os.environ, "GIT_TRACE": str(trace)}
    pushed = json.loads(gitml(a, "push", "--json", env=env).stdout)
    assert len(pushed["runs"]) == 1
    commands = git_commands(trace.read_text())
    assert commands.count("ls-remote") == 1 and commands.count("push") == 1
    trace.unlink()
    fetched = json.loads(gitml(b, "fetch", "--json", env=env).stdout)
    assert len(fetched["runs"]) == 3
    commands = git_commands(trace.read_text())
    assert commands.count("ls-remote") == 1
    trace.unlink()
    again = json.loads(gitml(a, "push", "--json", env=env).stdout)
    assert again["runs"] == [] and git_commands(trace.read_text()).count("push") == 0


def test_push_leaves_gitpython_unimported(tmp_path):
    """A push starts git directly: GitPython's import would be a third of a small push."""
    remote, (a,) = seeded_remote(tmp_path, "a")
    make_runs(a, 1, "a")
    script = (
        "import sys\n"
        "from gitml.sharing.transfer import PushOptions, push_runs\n"
        "from gitml.store.repository import open_repository\n"
        "print(len(push_runs(open_repository('.'), PushOptions()).runs), 'git' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=a, capture_output=True, text=True, check=True
    )
    assert done.stdout == "1 False\n"


FOLD_WHILE_RECEIVING = """#!/bin/sh
# another gitml command of the pushing clone folds its runs while the remote receives
cat >/dev/null
cd {clone} && env -u GIT_DIR -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY \\
    -u GIT_ALTERNATE_OBJECT_DIRECTORIES -u GIT_PUSH_OPTION_COUNT \\
    {python} -m gitml archive --keep 0 >/dev/null
"""


def test_a_push_never_moves_a_ref_here_after_plain_git_fetch_was_set_up(tmp_path):
    # `gitml remote setup` maps refs/gitml/* of the remote onto the same refs here, and
    # git updates that mapping after each push: the archive refs went back to what was
    # sent, losing from both tiers the runs a fold here had archived meanwhile
    remote, (a,) = seeded_remote(tmp_path, "a")
    gitml(a, "remote", "setup")
    make_runs(a, 2, "old")
    gitml(a, "archive", "--keep", "0")
    make_runs(a, 2, "new")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(FOLD_WHILE_RECEIVING.format(clone=a, python=sys.executable))
    hook.chmod(0o755)
    before = every_run(a)
    sent = min(runs_on(a))

    gitml(a, "push", sent)

    assert every_run(a) == before
    assert runs_on(a) == {}  # all folded here, none brought back by the push
    assert_fsck_clean(a)
