"""Edge cases of recording runs: where gitml starts, values, artifacts, the snapshot.

Each bad input must give one clear line on stderr, a non-zero exit, no
traceback and nothing written (no run ref, no staging folder). Everything
else must simply work.
"""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gitml
from gitml.errors import ArtifactError, InvalidValueError
from tests.utils import assert_fsck_clean, cli, git, user_state, write
from tests.utils import gitml as gitml_cli


def run_refs(repo) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml").split()


def staging_folders(repo) -> list:
    folder = repo / ".git" / "gitml" / "runs"
    return list(folder.iterdir()) if folder.is_dir() else []


def assert_refused(result: subprocess.CompletedProcess, repo, *words: str) -> str:
    """One clear error line, non-zero exit, no traceback, nothing recorded."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gitml: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    if (repo / ".git").is_dir():
        assert run_refs(repo) == []
        assert staging_folders(repo) == []
    return lines[0]


def only_run(repo) -> dict:
    (run,) = json.loads(cli(repo, "ls", "--all", "--json").stdout)
    return run


def record(repo, run: dict) -> dict:
    return json.loads(git(repo, "show", f"{run['commit']}:.gitml/run.json"))


def tree_files(repo, run: dict) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "-z", run["commit"]).split("\0")) - {""}


# where gitml is started


def test_outside_a_git_repository(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for args in (("run", "--", "python", "-c", "pass"), ("ls",), ("show", "x"), ("recover",)):
        result = gitml_cli(folder, *args, check=False)
        assert_refused(result, folder, "not a git repository", str(folder))
    assert list(folder.iterdir()) == []


def test_in_a_bare_repository(tmp_path):
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    result = gitml_cli(bare, "run", "--", "python", "-c", "pass", check=False)
    assert_refused(result, bare, "bare repository")
    assert git(bare, "for-each-ref", "refs/gitml") == ""
    assert not (bare / "gitml" / "runs").exists() or not list((bare / "gitml" / "runs").iterdir())
    listing = cli(bare, "ls", "--json")
    assert json.loads(listing.stdout) == []


def test_in_a_repository_without_commits(repo):
    write(repo / "train.py", "import gitml\ngitml.log_metric('m', 1)\n")
    gitml_cli(repo, "run", "--name", "first", "--", "python", "train.py")
    run = only_run(repo)
    assert run["base"] is None and run["experiment"] == "main"
    assert git(repo, "log", "--format=%P", "-1", run["commit"]).strip() == ""
    shown = json.loads(cli(repo, "show", "--json", "first").stdout)
    assert {c["path"] for c in shown["files_changed"]} == {"train.py"}
    assert "first" in cli(repo, "ls").stdout
    assert_fsck_clean(repo)


def test_on_a_detached_head(repo_with_commit):
    git(repo_with_commit, "checkout", "-q", "--detach")
    head = git(repo_with_commit, "rev-parse", "HEAD").strip()
    before = user_state(repo_with_commit)
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    assert user_state(repo_with_commit) == before
    run = only_run(repo_with_commit)
    assert run["base"] == head and run["experiment"] == "default"
    assert record(repo_with_commit, run)["branch"] is None
    assert [r["id"] for r in json.loads(cli(repo_with_commit, "ls", "--json").stdout)] == [
        run["id"]
    ]


def test_without_a_git_identity_a_fallback_is_used(repo_with_commit, tmp_path, monkeypatch):
    empty = write(tmp_path / "empty.gitconfig", "")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    for name in ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    run = only_run(repo_with_commit)
    author = git(repo_with_commit, "log", "-1", "--format=%an <%ae>|%cn <%ce>", run["commit"])
    assert author.strip() == "gitml <gitml@localhost>|gitml <gitml@localhost>"
    assert_fsck_clean(repo_with_commit)


def test_the_users_identity_is_the_author(repo_with_commit):
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    run = only_run(repo_with_commit)
    author = git(repo_with_commit, "log", "-1", "--format=%an <%ae>", run["commit"]).strip()
    assert author == "Test User <test@example.com>"
    git(repo_with_commit, "config", "user.name", "Repo Person")
    git(repo_with_commit, "config", "user.email", "repo@example.com")
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    newest = json.loads(cli(repo_with_commit, "ls", "--json").stdout)[0]
    author = git(repo_with_commit, "log", "-1", "--format=%an <%ae>", newest["commit"]).strip()
    assert author == "Repo Person <repo@example.com>"


def test_paths_with_spaces_and_non_ascii_names(tmp_path):
    repo = tmp_path / "my repö with spaces"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / "dåta fïles" / "naïve file.txt", "content\n")
    write(repo / "scripts" / "train model.py", "import gitml\ngitml.log_metric('ü', 1)\n")
    write(repo / "out dir" / "résultat.txt", "artifact\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    write(repo / "dåta fïles" / "naïve file.txt", "edited\n")
    write(repo / "日本語.txt", "untracked\n")
    before = user_state(repo)
    gitml_cli(
        repo,
        "run",
        "--artifact",
        "out dir/résultat.txt",
        "--",
        "python",
        "scripts/train model.py",
    )
    assert user_state(repo) == before
    run = only_run(repo)
    assert run["metrics"] == {"ü": 1}
    assert {"dåta fïles/naïve file.txt", "日本語.txt", "scripts/train model.py"} <= tree_files(
        repo, run
    )
    assert git(repo, "show", f"{run['commit']}:dåta fïles/naïve file.txt") == "edited\n"
    shown = json.loads(cli(repo, "show", "--json", run["id"]).stdout)
    assert [a["path"] for a in shown["artifacts"]] == ["résultat.txt"]
    assert {c["path"] for c in shown["files_changed"]} == {
        "dåta fïles/naïve file.txt",
        "日本語.txt",
    }
    assert "naïve file.txt" in cli(repo, "show", run["id"]).stdout
    assert_fsck_clean(repo)


def test_in_a_linked_worktree_and_from_a_subfolder(repo_with_commit):
    worktree = repo_with_commit.parent / "second worktree"
    git(repo_with_commit, "worktree", "add", "-q", "-b", "feature", str(worktree))
    write(worktree / "src" / "model.py", "WEIGHT = 7\n")
    status = git(worktree, "status", "--porcelain=v1")
    index_path = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip()) / "index"
    index = index_path.read_bytes()
    result = gitml_cli(
        worktree / "src", "run", "--", "python", "-c", "import os; print(os.getcwd())"
    )
    assert result.stdout.strip() == str(worktree / "src")  # the command runs where gitml was
    assert git(worktree, "status", "--porcelain=v1") == status
    assert index_path.read_bytes() == index
    (run,) = json.loads(cli(repo_with_commit, "ls", "--json", "--all").stdout)  # shared runs
    assert run["experiment"] == "feature"
    assert run["base"] == git(worktree, "rev-parse", "HEAD").strip()
    assert git(repo_with_commit, "show", f"{run['commit']}:src/model.py") == "WEIGHT = 7\n"
    assert not (worktree / ".gitml").exists()
    assert_fsck_clean(repo_with_commit)


def test_a_git_operation_holding_the_index_lock_does_not_stop_a_run(repo_with_commit):
    lock = repo_with_commit / ".git" / "index.lock"
    lock.write_bytes(b"held by another git command")
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    assert lock.read_bytes() == b"held by another git command"
    assert only_run(repo_with_commit)["status"] == "finished"


def test_runs_survive_git_gc_and_packed_refs(repo_with_commit):
    repo = repo_with_commit
    for name in ("one", "two"):
        with gitml.start_run(name=name, repo=repo):
            gitml.log_metric("m", 1)
            gitml.log_text("artifact", "a.txt")
    git(repo, "gc", "-q", "--prune=now")
    git(repo, "pack-refs", "--all")
    assert not list((repo / ".git" / "refs" / "gitml" / "runs").glob("*"))
    assert not list((repo / ".git" / "refs" / "heads").glob("*"))
    shutil.rmtree(repo / ".git" / "gitml" / "cache", ignore_errors=True)
    assert [r["name"] for r in json.loads(cli(repo, "ls", "--json").stdout)] == ["two", "one"]
    shown = json.loads(cli(repo, "show", "--json", "one").stdout)  # read from a pack
    assert shown["metrics"]["m"]["last"] == 1 and shown["artifacts"][0]["path"] == "a.txt"
    refused = gitml_cli(repo, "run", "--name", "two", "--", "python", "-c", "pass", check=False)
    assert "already used" in refused.stderr
    gitml_cli(repo, "run", "--name", "three", "--", "python", "-c", "pass")
    three = json.loads(cli(repo, "show", "--json", "three").stdout)
    assert three["base"] == git(repo, "rev-parse", "HEAD").strip()
    assert_fsck_clean(repo)


def test_a_nested_gitignore_is_honoured(repo_with_commit):
    write(repo_with_commit / "a" / "b" / ".gitignore", "secret_dir/\n*.ckpt\n!keep.ckpt\n")
    write(repo_with_commit / "a" / "b" / "model.ckpt", "ignored\n")
    write(repo_with_commit / "a" / "b" / "keep.ckpt", "re-included\n")
    write(repo_with_commit / "a" / "b" / "secret_dir" / "x.txt", "ignored\n")
    write(repo_with_commit / "a" / "model.ckpt", "not under the nested rule\n")
    write(repo_with_commit / ".git" / "info" / "exclude", "local-only.txt\n")
    write(repo_with_commit / "local-only.txt", "excluded by .git/info/exclude\n")
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    files = tree_files(repo_with_commit, only_run(repo_with_commit))
    assert {"a/b/.gitignore", "a/b/keep.ckpt", "a/model.ckpt"} <= files
    assert "a/b/model.ckpt" not in files and "a/b/secret_dir/x.txt" not in files
    assert "local-only.txt" not in files


# values


def test_nan_and_infinite_metrics_are_kept_and_shown(repo_with_commit):
    with gitml.start_run(name="odd", repo=repo_with_commit):
        gitml.log_metric("nan", float("nan"))
        gitml.log_metric("inf", math.inf)
        gitml.log_metric("ninf", -math.inf)
        gitml.log_metric("mixed", 1.0)
        gitml.log_metric("mixed", float("nan"))
        gitml.log_metric("mixed", 3.0)
    run = only_run(repo_with_commit)
    assert run["metrics"] == {"nan": "nan", "inf": "inf", "ninf": "-inf", "mixed": 3.0}
    shown = json.loads(cli(repo_with_commit, "show", "--json", "odd").stdout)
    assert shown["metrics"]["mixed"] == {
        "last": 3.0,
        "min": 1.0,
        "max": 3.0,
        "count": 3,
        "last_step": 2,
    }
    assert shown["metrics"]["nan"]["last"] == "nan"
    text = cli(repo_with_commit, "show", "odd").stdout
    assert "nan = nan" in text and "inf = inf" in text and "ninf = -inf" in text
    history = git(repo_with_commit, "show", f"{run['commit']}:.gitml/metrics/mixed.tsv")
    assert [line.split("\t")[1] for line in history.splitlines()] == ["1.0", "nan", "3.0"]
    table = cli(repo_with_commit, "ls", "--all", env={"COLUMNS": "200"}).stdout
    assert "nan" in table and "-inf" in table


def test_a_non_numeric_metric_is_refused_and_the_run_goes_on(repo_with_commit):
    write(
        repo_with_commit / "train.py",
        "import gitml\n"
        "from gitml.errors import InvalidValueError\n"
        "try:\n"
        "    gitml.log_metric('acc', 'very good')\n"
        "except InvalidValueError as error:\n"
        "    print('refused:', error)\n"
        "gitml.log_metric('acc', 0.9)\n",
    )
    result = gitml_cli(repo_with_commit, "run", "--", "python", "train.py")
    assert "refused: metric 'acc' must be a number, got str 'very good'" in result.stdout
    run = only_run(repo_with_commit)
    assert (run["status"], run["metrics"]) == ("finished", {"acc": 0.9})


def test_keys_with_slashes_dots_and_spaces(repo_with_commit):
    write(
        repo_with_commit / "train.py",
        "import gitml\n"
        "gitml.log_metric('train/loss', 0.5)\n"
        "gitml.log_metric('val.acc top 1', 0.75)\n"
        "gitml.log_metric('../escape', 1)\n"
        "gitml.log_param('opt/lr.max', 0.1)\n"
        "gitml.set_tag('data set', 'v 2')\n",
    )
    gitml_cli(
        repo_with_commit, "run", "-P", "model/depth.max=3", "-P", "with space=a b", "--", "python",
        "train.py",
    )  # fmt: skip
    run = only_run(repo_with_commit)
    assert run["params"] == {"model/depth.max": "3", "with space": "a b", "opt/lr.max": "0.1"}
    assert run["metrics"] == {"train/loss": 0.5, "val.acc top 1": 0.75, "../escape": 1}
    assert run["tags"] == {"data set": "v 2"}
    metric_files = {f for f in tree_files(repo_with_commit, run) if f.startswith(".gitml/metrics/")}
    assert len(metric_files) == 3
    assert all(f.count("/") == 2 for f in metric_files)  # flat: one file per key
    shown = json.loads(cli(repo_with_commit, "show", "--json", run["id"]).stdout)
    assert set(shown["metrics"]) == {"train/loss", "val.acc top 1", "../escape"}


def test_long_metric_keys_are_stored_or_refused_clearly(repo_with_commit):
    long_plain = "k" * 250
    too_long = "/".join(["layer"] * 40) + "/ünïcode"  # 250 characters, 300+ escaped
    with gitml.start_run(name="long", repo=repo_with_commit):
        gitml.log_metric(long_plain, 1)
        with pytest.raises(InvalidValueError, match="too long"):
            gitml.log_metric(too_long, 1)
        with pytest.raises(InvalidValueError, match="longer than 250"):
            gitml.log_metric("k" * 251, 1)
    assert only_run(repo_with_commit)["metrics"] == {long_plain: 1}


# artifacts


def test_an_artifact_outside_the_repository_is_refused(repo_with_commit, tmp_path):
    outside = write(tmp_path / "elsewhere.txt", "x")
    for path in (str(outside), "../elsewhere.txt"):
        result = gitml_cli(
            repo_with_commit, "run", "--artifact", path, "--", "python", "-c", "pass", check=False
        )
        assert_refused(result, repo_with_commit, "outside the repository")


@pytest.mark.parametrize("name", ["../x.txt", "a/../../x.txt", "/etc/x.txt", "", "."])
def test_dict_and_text_artifact_names_must_stay_inside_the_run(repo_with_commit, name):
    with gitml.start_run(name="names", repo=repo_with_commit):
        with pytest.raises(ArtifactError, match="relative"):
            gitml.log_text("x", name)
        with pytest.raises(ArtifactError, match="relative"):
            gitml.log_dict({"a": 1}, name)
        gitml.log_text("fine", "sub/ok.txt")
    run = only_run(repo_with_commit)
    assert [a["path"] for a in record(repo_with_commit, run)["artifacts"]] == ["sub/ok.txt"]


def test_an_artifact_over_the_size_limit_names_the_limit(repo_with_commit):
    git(repo_with_commit, "config", "gitml.artifactSizeLimit", "1k")
    with gitml.start_run(name="sized", repo=repo_with_commit):
        with pytest.raises(ArtifactError) as raised:
            gitml.log_text("x" * 2000, "big.txt")
        assert "1.0 KiB" in str(raised.value) and "gitml.artifactSizeLimit" in str(raised.value)
        gitml.log_text("x" * 1000, "small.txt")
    run = only_run(repo_with_commit)
    assert [a["path"] for a in record(repo_with_commit, run)["artifacts"]] == ["small.txt"]


def test_a_gitml_folder_in_the_work_tree_is_refused(repo_with_commit):
    write(repo_with_commit / ".gitml" / "run.json", "{}")
    before = user_state(repo_with_commit)
    result = gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass", check=False)
    assert_refused(result, repo_with_commit, ".gitml/")
    assert user_state(repo_with_commit) == before
    git(repo_with_commit, "add", ".gitml")  # tracked is refused too
    result = gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass", check=False)
    assert_refused(result, repo_with_commit, ".gitml/")
    git(repo_with_commit, "rm", "-q", "--cached", "-r", ".gitml")
    write(repo_with_commit / ".gitignore", "data/\n*.log\n.gitml/\n")  # ignored is fine
    gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    assert git(repo_with_commit, "show", f"{only_run(repo_with_commit)['commit']}:.gitml/run.json")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("run",), ["no command given"]),
        (("run", "--", "no-such-command-xyz"), ["command not found", "no-such-command-xyz"]),
        (("run", "-P", "novalue", "--", "python", "-c", "pass"), ["novalue", "KEY=VALUE"]),
        (("run", "--tag", "=x", "--", "python", "-c", "pass"), ["KEY=VALUE"]),
        (("run", "--name", "bad name", "--", "python", "-c", "pass"), ["not valid"]),
        (("run", "--name", "01m8d2jfwmx7qwfe7zzw83pw32", "--", "true"), ["not valid"]),
    ],
)
def test_bad_run_options_are_refused_before_anything_is_written(repo_with_commit, args, words):
    result = gitml_cli(repo_with_commit, *args, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert run_refs(repo_with_commit) == [] and staging_folders(repo_with_commit) == []


def test_a_name_already_taken_is_refused(repo_with_commit):
    gitml_cli(repo_with_commit, "run", "--name", "taken", "--", "python", "-c", "pass")
    (ref,) = run_refs(repo_with_commit)
    result = gitml_cli(
        repo_with_commit, "run", "--name", "taken", "--", "python", "-c", "pass", check=False
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"gitml: error: run name 'taken' is already used by run {ref.rsplit('/', 1)[1]}; "
        "choose another name"
    ]
    assert run_refs(repo_with_commit) == [ref] and staging_folders(repo_with_commit) == []


# what the snapshot must not swallow


def test_a_large_untracked_file_is_left_out_with_a_warning(repo_with_commit):
    with open(repo_with_commit / "dataset.bin", "wb") as handle:
        handle.truncate(11 << 20)  # over the default 10 MiB, without writing 11 MiB
    write(repo_with_commit / "small.txt", "kept\n")
    result = gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    warnings = [line for line in result.stderr.splitlines() if "dataset.bin" in line]
    assert len(warnings) == 1 and "warning" in warnings[0]
    assert "over the snapshot file limit of 10.0 MiB" in warnings[0]
    run = only_run(repo_with_commit)
    files = tree_files(repo_with_commit, run)
    assert "small.txt" in files and "dataset.bin" not in files
    assert record(repo_with_commit, run)["skipped"]["large"] == ["dataset.bin"]
    assert "dataset.bin" in cli(repo_with_commit, "show", run["id"]).stdout
    assert (repo_with_commit / "dataset.bin").stat().st_size == 11 << 20


def test_awkward_untracked_file_names_are_excluded_literally(repo_with_commit):
    repo = repo_with_commit
    git(repo, "config", "gitml.snapshotFileLimit", "1k")
    write(repo / "big[1]\nx.bin", "x" * 5000)  # glob characters and a newline
    write(repo / "big1\nx.bin", "small: must not be caught by a glob\n")
    write(repo / "we:ird" / "*" / ".env", "SECRET=1\n")
    write(repo / "we:ird" / "*" / "ok.txt", "fine\n")
    write(repo / ":(top)magic.txt", "a name that looks like pathspec magic\n")
    gitml_cli(repo, "run", "--", "python", "-c", "pass")
    run = only_run(repo)
    files = tree_files(repo, run)
    assert {"big1\nx.bin", "we:ird/*/ok.txt", ":(top)magic.txt"} <= files
    assert "big[1]\nx.bin" not in files and "we:ird/*/.env" not in files
    assert record(repo, run)["skipped"] == {"large": ["big[1]\nx.bin"], "secret": ["we:ird/*/.env"]}


def test_a_large_tracked_file_stays_in_the_snapshot(repo_with_commit):
    git(repo_with_commit, "config", "gitml.snapshotFileLimit", "1k")
    write(repo_with_commit / "weights.txt", "w" * 4000)
    git(repo_with_commit, "add", "weights.txt")
    git(repo_with_commit, "commit", "-q", "-m", "weights")
    write(repo_with_commit / "new.txt", "n" * 4000)
    result = gitml_cli(repo_with_commit, "run", "--", "python", "-c", "pass")
    files = tree_files(repo_with_commit, only_run(repo_with_commit))
    assert "weights.txt" in files and "new.txt" not in files
    assert "new.txt" in result.stderr and "weights.txt" not in result.stderr


SECRETS = [
    ".env",
    ".env.local",
    "config/.env",
    "server.pem",
    "tls/private.key",
    "id_rsa",
    "id_rsa.pub",
    "id_ed25519",
    "credentials.json",
    "aws/credentials",
    ".netrc",
]


def test_secret_looking_untracked_files_are_never_snapshotted(repo_with_commit):
    repo = repo_with_commit
    for path in SECRETS:
        write(repo / path, "TOKEN=hunter2-secret-value\n")
    write(repo / "env.py", "fine\n")  # (a file named *.env is a secret)
    write(repo / "keys.py", "not a secret by name\n")
    write(repo / "committed" / ".env", "the user tracks this one\n")
    git(repo, "add", "committed/.env")
    git(repo, "commit", "-q", "-m", "track an .env on purpose")
    result = gitml_cli(repo, "run", "--", "python", "-c", "pass")
    run = only_run(repo)
    files = tree_files(repo, run)
    for path in SECRETS:
        assert path not in files, path
        assert path in result.stderr
    assert {"env.py", "keys.py", "committed/.env"} <= files
    assert sorted(record(repo, run)["skipped"]["secret"]) == sorted(SECRETS)
    assert git(repo, "grep", "-a", "-c", "hunter2", run["commit"], check=False) == ""
    shown = cli(repo, "show", run["id"]).stdout
    assert "looks like a secret: .env" in shown


def test_environment_variables_are_not_recorded(repo_with_commit, monkeypatch):
    value = "distinctive-env-value-4f1c9e"
    monkeypatch.setenv("GITML_TEST_TOKEN", value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", value + "-aws")
    script = "import os, gitml; gitml.log_metric('seen', len(os.environ['GITML_TEST_TOKEN']))"
    result = gitml_cli(repo_with_commit, "run", "--", "python", "-c", script)
    assert value not in result.stdout + result.stderr
    run = only_run(repo_with_commit)
    assert run["metrics"] == {"seen": len(value)}  # the script saw its environment
    blobs = subprocess.run(
        ["git", "grep", "-a", "-l", "-F", "distinctive-env-value", run["commit"]],
        cwd=repo_with_commit,
        capture_output=True,
        text=True,
    )
    assert blobs.stdout == ""
    everything = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo_with_commit,
        capture_output=True,
    ).stdout
    assert value.encode() not in everything
    assert git(repo_with_commit, "grep", "-c", "python", run["commit"], "--", ".gitml/run.json")


def test_the_logging_api_runs_in_a_repo_from_a_subfolder(repo_with_commit):
    sub = repo_with_commit / "src"
    result = subprocess.run(
        [sys.executable, "-c", "import gitml; gitml.log_metric('m', 1)"],
        cwd=sub,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert only_run(repo_with_commit)["metrics"] == {"m": 1}
    assert not (sub / ".git").exists()
