"""gitml push / fetch / pull / remote setup over file:// remotes, and their errors."""

import json
import subprocess
import sys

import pytest

from tests.sharing_helpers import bare_remote, clone, ls_json, make_runs, run_refs
from tests.utils import assert_fsck_clean, git, gitml


@pytest.fixture
def shared(repo_with_runs, tmp_path):
    """(work repo with runs alpha/beta/gamma and an `origin`, the bare remote)."""
    remote = bare_remote(tmp_path)
    git(repo_with_runs, "remote", "add", "origin", remote.as_uri())
    return repo_with_runs, remote


def test_push_sends_every_new_run_and_only_runs(shared):
    work, remote = shared
    result = gitml(work, "push")
    assert result.stdout == "pushed 3 runs to origin\n"
    assert result.stderr == ""
    assert run_refs(remote) == run_refs(work)
    assert git(remote, "for-each-ref", "refs/heads", "refs/tags") == ""
    assert_fsck_clean(remote)


def test_second_push_sends_nothing(shared):
    work, remote = shared
    gitml(work, "push")
    result = gitml(work, "push", "--json")
    assert json.loads(result.stdout)["runs"] == []
    assert json.loads(result.stdout)["already"] == 3
    assert gitml(work, "push").stdout == "nothing new to push to origin (3 runs there already)\n"


def test_push_named_runs_by_name_and_prefix(shared):
    work, remote = shared
    runs = {run["name"]: run["id"] for run in ls_json(work)}
    gitml(work, "push", "origin", "alpha", runs["beta"][:10])
    assert set(run_refs(remote)) == {
        f"refs/gitml/runs/{runs['alpha']}",
        f"refs/gitml/runs/{runs['beta']}",
    }


def test_push_run_without_remote_argument_uses_default(shared):
    work, remote = shared
    result = gitml(work, "push", "gamma")
    assert result.stdout == "pushed 1 run to origin\n"
    assert len(run_refs(remote)) == 1


def test_push_by_experiment_and_since(shared):
    work, remote = shared
    make_runs(work, 2, "other", experiment="exp-b")
    out = json.loads(gitml(work, "push", "--experiment", "exp-b", "--json").stdout)
    names = {run["id"]: run["name"] for run in ls_json(work)}
    assert sorted(names[i] for i in out["runs"]) == ["other0", "other1"]
    assert json.loads(gitml(work, "push", "--since", "1d", "-n", "--json").stdout)["runs"]
    assert json.loads(gitml(work, "push", "--since", "2099-01-01", "--json").stdout)["runs"] == []
    assert len(run_refs(remote)) == 2


def test_dry_run_sends_nothing(shared):
    work, remote = shared
    result = gitml(work, "push", "--dry-run")
    assert result.stdout == "would push 3 runs to origin\n"
    assert run_refs(remote) == {}


def test_default_remote_is_the_branch_upstream(shared, tmp_path):
    work, remote = shared
    upstream = bare_remote(tmp_path, "upstream.git")
    git(work, "remote", "add", "team", upstream.as_uri())
    git(work, "push", "-q", "-u", "team", "main")
    gitml(work, "push")
    assert len(run_refs(upstream)) == 3
    assert run_refs(remote) == {}


def test_no_remote_is_a_clear_error(repo_with_runs):
    result = gitml(repo_with_runs, "push", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: no remote to use: the current branch has no upstream and there is "
        "no 'origin' (name a remote, e.g. `gitml push origin`, or add one: git remote add)\n"
    )


def test_fetch_brings_runs_with_identical_records(shared, tmp_path):
    work, remote = shared
    gitml(work, "push")
    other = clone(remote, tmp_path / "other")
    assert run_refs(other) == {}  # a plain clone does not bring runs
    result = gitml(other, "fetch")
    assert result.stdout == "fetched 3 runs from origin\n"
    assert ls_json(other) == ls_json(work)
    assert gitml(other, "fetch").stdout == "fetched 0 runs from origin\n"
    assert not (other / ".git" / "FETCH_HEAD").exists()
    assert_fsck_clean(other)


def test_fetch_one_run_by_id_prefix(shared, tmp_path):
    work, remote = shared
    gitml(work, "push")
    alpha = next(run["id"] for run in ls_json(work) if run["name"] == "alpha")
    other = clone(remote, tmp_path / "other")
    gitml(other, "fetch", "origin", alpha[:12])
    assert [run["name"] for run in ls_json(other)] == ["alpha"]


def test_pull_summarizes_what_arrived(shared, tmp_path):
    work, remote = shared
    gitml(work, "push")
    other = clone(remote, tmp_path / "other")
    out = json.loads(gitml(other, "pull", "--json").stdout)
    assert sorted(run["name"] for run in out["arrived"]) == ["alpha", "beta", "gamma"]
    text = gitml(other, "pull").stdout
    assert text == "no new runs from origin\n"
    make_runs(work, 1, "late")
    gitml(work, "push")
    text = gitml(other, "pull").stdout
    assert text.startswith("1 run arrived from origin:\n")
    assert "late0" in text and "finished" in text


def test_delete_on_remote_only_with_push_delete(shared):
    work, remote = shared
    gitml(work, "push")
    alpha = next(run["id"] for run in ls_json(work) if run["name"] == "alpha")
    assert gitml(work, "push", "--delete", "alpha", "-n").stdout == (
        "would delete 1 run on origin\n"
    )
    assert len(run_refs(remote)) == 3
    gitml(work, "rm", "alpha")
    assert len(run_refs(remote)) == 3  # removing locally never deletes on the remote
    assert gitml(work, "push").stdout.startswith("nothing new")
    gitml(work, "push", "--delete", alpha[:10])
    assert f"refs/gitml/runs/{alpha}" not in run_refs(remote)
    assert len(run_refs(remote)) == 2
    result = gitml(work, "push", "--delete", alpha, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: remote 'origin' has no run matching")


def test_push_delete_deletes_on_the_remote_only_after_remote_setup(shared):
    # with plain git fetch set up (refs/gitml/* there are the same refs here), git
    # deleted the local run too, as it deletes a remote-tracking branch
    work, remote = shared
    gitml(work, "remote", "setup")
    gitml(work, "push")
    before = run_refs(work)
    gitml(work, "push", "--delete", "alpha")
    assert len(run_refs(remote)) == 2
    assert run_refs(work) == before


def test_remote_setup_lets_plain_git_fetch_runs_but_not_push_them(shared, tmp_path):
    work, remote = shared
    gitml(work, "push")
    other = clone(remote, tmp_path / "other")
    git(other, "config", "--add", "remote.origin.fetch", "refs/gitml/*:refs/gitml/*")  # before
    assert gitml(other, "remote", "setup").stdout == (
        "git fetch origin now brings runs (refs/gitml/{runs,archive,views,sweeps,experiments}/*)\n"
    )
    assert gitml(other, "remote", "setup").stdout.startswith("git fetch origin already")
    fetched = git(other, "config", "--get-all", "remote.origin.fetch").splitlines()
    assert (
        "refs/gitml/*:refs/gitml/*" not in fetched
        and "refs/gitml/runs/*:refs/gitml/runs/*" in fetched
    )
    git(other, "fetch", "-q", "origin")
    assert run_refs(other) == run_refs(work)
    make_runs(other, 1, "local")
    (other / "new.txt").write_text("x\n")
    git(other, "add", "new.txt")
    git(other, "commit", "-q", "-m", "new")
    git(other, "push", "-q", "origin", "main")
    assert len(run_refs(remote)) == 3  # plain git push did not send the new run
    assert git(remote, "rev-parse", "main") == git(other, "rev-parse", "HEAD")


def test_plain_git_fetch_never_brings_a_ref_where_gitml_keeps_a_folder(shared, tmp_path):
    # a remote's ref named refs/gitml/runs (or archive, views, sweeps, experiments)
    # would stand where git keeps a folder of refs here: no run could be recorded again
    work, remote = shared
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    head = git(work, "rev-parse", "HEAD").strip()
    folders = ["runs", "archive", "views", "sweeps", "experiments"]
    for folder in folders:
        git(remote, "update-ref", f"refs/gitml/{folder}", head)
    other = clone(remote, tmp_path / "other")
    gitml(other, "remote", "setup")

    git(other, "fetch", "-q", "origin")

    assert run_refs(other) == {}
    gitml(other, "run", "--", sys.executable, "-c", "pass")
    assert len(ls_json(other)) == 1
    for folder in folders:  # gitml's own refs still come
        git(remote, "update-ref", "-d", f"refs/gitml/{folder}")
    gitml(work, "push")
    git(other, "fetch", "-q", "origin")
    assert len(ls_json(other)) == 4


def test_a_ref_standing_where_run_refs_go_fails_a_run_in_one_line(repo_with_commit):
    repo = repo_with_commit
    git(repo, "update-ref", "refs/gitml/runs", "HEAD")  # e.g. an older `gitml remote setup`

    result = gitml(repo, "run", "--", sys.executable, "-c", "pass", check=False)

    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("gitml: error: ") and "refs/gitml/runs is a ref" in last, last
    assert "git update-ref -d refs/gitml/runs" in last, last
    git(repo, "update-ref", "-d", "refs/gitml/runs")
    assert [run["status"] for run in ls_json(repo)] == ["finished"]  # recovered, not lost
    gitml(repo, "rm", ls_json(repo)[0]["id"])
    git(repo, "update-ref", "refs/gitml/runs", "HEAD")  # standing in packed-refs: the same
    git(repo, "pack-refs", "--all")
    result = gitml(repo, "run", "--", sys.executable, "-c", "pass", check=False)
    assert "refs/gitml/runs is a ref" in result.stderr.splitlines()[-1]


def test_run_refs_never_move(shared, tmp_path):
    """A remote run ref that differs from the local one is left alone both ways."""
    work, remote = shared
    gitml(work, "push")
    alpha = next(run["id"] for run in ls_json(work) if run["name"] == "alpha")
    ref = f"refs/gitml/runs/{alpha}"
    head = git(work, "rev-parse", "HEAD").strip()
    git(remote, "update-ref", ref, head)
    result = gitml(work, "fetch")
    assert run_refs(work)[ref] != head
    assert f"run {alpha} is a different commit on origin" in result.stderr
    assert run_refs(remote)[ref] == head
    gitml(work, "push")
    assert run_refs(remote)[ref] == head


def test_fetch_past_a_differing_run_brings_the_new_ones(shared, tmp_path):
    """The fallback fetch (runs chosen from the remote's listing) creates exact refs."""
    work, remote = shared
    gitml(work, "push")
    other = clone(remote, tmp_path / "other")
    gitml(other, "fetch")
    ids = {run["name"]: run["id"] for run in ls_json(work)}
    alpha, beta = ids["alpha"], ids["beta"]
    git(other, "update-ref", f"refs/gitml/runs/{alpha}", f"refs/gitml/runs/{beta}")
    make_runs(work, 2, "late")
    gitml(work, "push")

    out = json.loads(gitml(other, "fetch", "--json").stdout)

    late = {run["id"] for run in ls_json(work) if run["name"].startswith("late")}
    assert set(out["runs"]) == late
    assert out["differing"] == [alpha]
    for run_id in late:
        ref = f"refs/gitml/runs/{run_id}"
        assert run_refs(other)[ref] == run_refs(remote)[ref]
    assert_fsck_clean(other)


@pytest.mark.parametrize("setting", ["fetch.prune", "remote.origin.prune"])
def test_fetch_never_prunes_local_runs_even_when_git_is_set_to(shared, tmp_path, setting):
    work, remote = shared
    gitml(work, "push", "alpha")
    git(work, "config", setting, "true")
    before = run_refs(work)

    assert gitml(work, "fetch").stdout == "fetched 0 runs from origin\n"
    gitml(work, "pull")
    assert run_refs(work) == before

    warning = gitml(work, "remote", "setup").stderr
    assert warning.startswith("gitml: warning: git fetch origin prunes")


def test_a_run_named_like_a_file_or_folder_here_is_still_a_run(shared):
    work, remote = shared
    (work / "src").mkdir(exist_ok=True)
    gitml(work, "run", "--name", "src", "--", sys.executable, "-c", "pass")
    gitml(work, "run", "--name", "train.py", "--", sys.executable, "-c", "pass")

    assert gitml(work, "push", "src").stdout == "pushed 1 run to origin\n"
    assert gitml(work, "push", "train.py").stdout == "pushed 1 run to origin\n"
    names = {run["id"]: run["name"] for run in ls_json(work)}
    pushed = {names[ref.rsplit("/", 1)[1]] for ref in run_refs(remote)}
    assert pushed == {"src", "train.py"}


def test_fetch_leaves_gitpython_unimported(shared, tmp_path):
    """Fetching starts git directly: GitPython's import would be a third of a small fetch."""
    work, remote = shared
    gitml(work, "push")
    other = clone(remote, tmp_path / "other")
    script = (
        "import sys\n"
        "from gitml.sharing.transfer import FetchOptions, fetch_runs\n"
        "from gitml.store.repository import open_repository\n"
        "print(len(fetch_runs(open_repository('.'), FetchOptions()).runs), 'git' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=other, capture_output=True, text=True, check=True
    )
    assert done.stdout == "3 False\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("git://127.0.0.1:1/nothing.git", "gitml: error: cannot reach remote"),
        ("NOT_A_REPO", "gitml: error: remote '{url}' is not a git repository"),
    ],
)
def test_transfer_errors_are_one_line(repo_with_runs, tmp_path, url, message):
    if url == "NOT_A_REPO":
        (tmp_path / "plain").mkdir()
        url = (tmp_path / "plain").as_uri()
    before = run_refs(repo_with_runs)
    for command in ("push", "fetch"):
        result = gitml(repo_with_runs, command, url, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith(message.format(url=url))
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
    assert run_refs(repo_with_runs) == before


def test_rejected_push_names_the_refs(shared):
    work, remote = shared
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'runs are frozen here' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = gitml(work, "push", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: remote 'origin' did not take 3 run(s): ")
    assert "pre-receive hook declined) (the remote said: runs are frozen here)" in result.stderr
    assert result.stderr.endswith("; no run was pushed\n")
    assert result.stderr.count("\n") == 1
    assert run_refs(remote) == {}


def test_not_a_repository(tmp_path):
    result = gitml(tmp_path, "push", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: not a git repository")


def test_unknown_remote_name(shared):
    work, _ = shared
    result = gitml(work, "fetch", "nowhere/", check=False)
    assert result.returncode == 1
    assert "not a git repository" in result.stderr
    result = gitml(work, "remote", "setup", "nowhere", check=False)
    assert result.stderr == (
        "gitml: error: no remote named 'nowhere' (remotes: origin) "
        "(name a remote, e.g. `gitml push origin`, or add one: git remote add)\n"
    )


def test_no_progress_when_stderr_is_not_a_terminal(shared, tmp_path):
    work, remote = shared
    result = gitml(work, "push")
    assert result.stderr == ""
    other = clone(remote, tmp_path / "other")
    assert gitml(other, "fetch").stderr == ""


def test_registry_tags_travel_with_runs(shared, tmp_path):
    work, remote = shared
    alpha = next(run for run in ls_json(work) if run["name"] == "alpha")
    git(work, "tag", "-a", "-m", "Registered model version", "model@v1.0.0", alpha["commit"])
    git(work, "tag", "-a", "-m", "Assigned stage prod", "model#prod#1", alpha["commit"])
    git(work, "tag", "not-a-registry-tag")
    out = json.loads(gitml(work, "push", "--dry-run", "--json").stdout)
    assert sorted(out["tags"]) == ["model#prod#1", "model@v1.0.0"]
    assert git(remote, "tag") == ""
    assert gitml(work, "push").stdout == "pushed 3 runs and 2 registry tags to origin\n"
    assert git(remote, "tag").split() == ["model#prod#1", "model@v1.0.0"]

    other = clone(remote, tmp_path / "other")
    git(other, "tag", "-d", "model#prod#1", "model@v1.0.0")
    out = json.loads(gitml(other, "pull", "--json").stdout)
    assert sorted(out["tags"]) == ["model#prod#1", "model@v1.0.0"]
    assert git(other, "rev-parse", "model@v1.0.0^{commit}").strip() == alpha["commit"]
    assert_fsck_clean(other)


def test_ls_remote_lists_ids_without_fetching(shared, tmp_path):
    work, remote = shared
    gitml(work, "push", "alpha")
    other = clone(remote, tmp_path / "other")
    alpha = next(run["id"] for run in ls_json(work) if run["name"] == "alpha")
    lines = gitml(other, "ls", "--remote", "origin").stdout.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "LOCAL", "ARCHIVED"]
    assert lines[1].split()[0] == alpha and lines[1].split()[-2:] == ["no", "no"]
    assert len(lines) == 2
    assert run_refs(other) == {}
    listed = json.loads(gitml(work, "ls", "--remote", "origin", "--json").stdout)
    assert listed == [
        {
            "id": alpha,
            "commit": run_refs(work)[f"refs/gitml/runs/{alpha}"],
            "local": True,
            "archived": False,
        }
    ]


def test_push_delete_needs_runs(shared):
    work, _ = shared
    result = gitml(work, "push", "--delete", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: say which runs to delete on the remote: gitml push --delete RUN…\n"
    )


def test_an_unreachable_remote_names_the_reason_and_no_password(repo_with_runs):
    for args in (["push"], ["fetch"], ["ls", "--remote"]):
        result = gitml(repo_with_runs, *args, "git://127.0.0.1:1/x.git", check=False)
        assert result.returncode == 1
        assert "connection refused" in result.stderr.lower(), result.stderr
        assert result.stderr.count("\n") == 1
    result = gitml(repo_with_runs, "push", "http://alice:s3cret@127.0.0.1:1/x.git", check=False)
    assert result.returncode == 1
    assert "s3cret" not in result.stderr
    assert "http://alice:***@127.0.0.1:1/x.git" in result.stderr


def test_deleting_by_a_name_two_runs_share_says_it_is_ambiguous(shared, tmp_path):
    work, remote = shared
    other = clone(remote, tmp_path / "other")
    make_runs(work, 1, "base")
    make_runs(other, 1, "base")
    gitml(work, "push", "base0")
    gitml(other, "push", "base0")
    gitml(work, "fetch")

    result = gitml(work, "push", "--delete", "base0", check=False)

    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: 'base0' is ambiguous: it matches ")
    assert len(run_refs(remote)) == 2


def test_records_a_remote_hook_refuses_are_reported_with_its_reason(shared):
    from gitml.mlflow_plugin.experiments import create_experiment
    from gitml.store.repository import open_repository
    from gitml.ui.views import save_view

    work, remote = shared
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in refs/gitml/runs/*) ;;\n"
        '*) echo "only runs here, not $ref" >&2; exit 1;; esac; done\n'
    )
    hook.chmod(0o755)
    save_view(open_repository(work), "best", "sort=-metrics.acc")
    experiment = create_experiment(open_repository(work), "tuning")
    sweep = git(
        work, "for-each-ref", "--count=1", "--format=%(refname:lstrip=3)", "refs/gitml/runs/"
    )
    git(work, "update-ref", f"refs/gitml/sweeps/{sweep.strip()}", "HEAD")

    result = gitml(work, "push", check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "pushed 3 runs to origin\n"
    declined = "[remote rejected] (pre-receive hook declined) (the remote said: only runs here"
    lines = result.stderr.splitlines()
    for kind, name in (("view", "best"), ("experiment", experiment), ("sweep", sweep.strip())):
        said = [
            line
            for line in lines
            if line.startswith(f"gitml: warning: origin refused {kind} {name}: ")
        ]
        assert len(said) == 1 and declined in said[0] and said[0].endswith("; it was not sent"), (
            lines
        )
    assert "differently" not in result.stderr
    assert list(run_refs(remote)) == [ref for ref in run_refs(work) if "/runs/" in ref]


_MODULES_AT_EXIT = """
import sys
from gitml.cli.main import main
try:
    main()
finally:
    print("MODULES", *sorted(sys.modules), file=sys.stderr)
"""


def _modules_at_exit(repo, *args: str) -> set[str]:
    """The modules a gitml command had imported when it ended."""
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, *args], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return set(done.stderr.rpartition("MODULES ")[2].split())


def test_push_and_version_import_only_what_they_use(shared):
    # each of these cost a push (or every command) 10-40 ms of imports (docs/sharing.md#scale)
    work, remote = shared
    assert "importlib.metadata" not in _modules_at_exit(work, "--version")
    make_runs(work, 1, "new")
    imported = _modules_at_exit(work, "push")
    unused = {"dulwich", "logging", "sqlite3", "importlib.metadata", "shutil"}
    assert imported & {*unused, "gitml.tracking.fold", "gitml.tracking.index"} == set()
    assert run_refs(remote) == run_refs(work)  # it did push
