"""Files in the user's work tree: checkout never loses bytes no backup holds, and secrets
stay out of snapshots and artifacts alike.

`gitml checkout` writes a run's code with `git restore`, which replaces ignored
files, files it finds in a folder's place (the whole folder), and symbolic links
in a file's or a folder's place. Each case below is one of those: without
--force the checkout is refused and nothing changes; with --force the files are
saved first, and the command gitml prints gets the previous bytes back.
"""

import json
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import gitml
from gitml.errors import ArtifactError, SecretLeftOutWarning
from tests.test_tracking_edge_cases import assert_refused, only_run, record, tree_files
from tests.utils import assert_fsck_clean, git, write
from tests.utils import gitml as gitml_cli

# 1. checkout


def disk(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every file and link under `root` (`.git` left out), links not followed."""
    found = {}
    for top, folders, files in os.walk(root):
        folders[:] = [f for f in folders if f != ".git"]
        for name in files + [f for f in folders if os.path.islink(os.path.join(top, f))]:
            path = Path(top, name)
            key = path.relative_to(root).as_posix()
            found[key] = (
                ("link", os.readlink(path))
                if path.is_symlink()
                else (
                    "file",
                    path.read_bytes(),
                )
            )
    return found


def git_state(repo: Path) -> dict:
    """What checkout promises never to change: index, HEAD, branch, stash."""
    return {
        "index": (repo / ".git" / "index").read_bytes(),
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "head_sha": git(repo, "rev-parse", "HEAD"),
        "stash": git(repo, "stash", "list"),
    }


def assert_one_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("gitml: error: ")
    for word in words:
        assert word in line, (word, line)
    return line


def backup_refs(repo: Path) -> list[str]:
    return git(
        repo, "for-each-ref", "--format=%(refname)", "refs/gitml-backups", "refs/gitml/backups"
    ).split()


def run_with(repo: Path, files: dict[str, str]) -> None:
    """A run `r` whose snapshot holds `files` (committed first, so that no filter drops
    them), then a commit that stops tracking them again: HEAD does not hold them."""
    for path, text in files.items():
        write(repo / path, text)
    git(repo, "add", "-f", "--", *files)
    git(repo, "commit", "-q", "-m", "files the run will hold")
    gitml_cli(repo, "run", "--name", "r", "--", sys.executable, "-c", "pass")
    git(repo, "rm", "-q", "-r", "--cached", "--", *files)
    git(repo, "commit", "-q", "-m", "untrack them")
    for path in files:
        (repo / path).unlink()


def replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    path.symlink_to(target)


def ignored_file(repo, outside):
    run_with(repo, {"train.log": "from the run\n"})
    write(repo / "train.log", "my notes, ignored by *.log\n")
    return ["train.log"]


def untracked_env(repo, outside):
    run_with(repo, {".env": "TOKEN=old\n"})
    write(repo / ".env", "TOKEN=mine\n")
    return [".env"]


def large_file(repo, outside):
    git(repo, "config", "gitml.snapshotFileLimit", "1k")
    run_with(repo, {"weights.bin": "small\n"})
    (repo / "weights.bin").write_bytes(b"w" * 5000)
    return ["weights.bin"]


def link_in_a_files_place(repo, outside):
    run_with(repo, {"latest.log": "from the run\n"})
    write(outside / "real.log", "outside\n")
    replace_with_link(repo / "latest.log", outside / "real.log")
    return ["latest.log"]


def link_in_a_folders_place(repo, outside):
    run_with(repo, {"cache/x.txt": "from the run\n"})
    write(outside / "x.txt", "outside\n")
    replace_with_link(repo / "cache", outside)
    return ["cache"]


def folder_in_a_files_place(repo, outside):
    run_with(repo, {"out": "from the run\n"})
    write(repo / "out" / "a.log", "ignored\n")
    write(repo / "out" / "b.txt", "untracked\n")
    return ["out/a.log", "out/b.txt"]


def file_in_a_folders_place(repo, outside):
    run_with(repo, {"res/x.txt": "from the run\n"})
    (repo / "res").rmdir()
    write(repo / "res", "untracked file\n")
    return ["res"]


CASES = [
    ignored_file,
    untracked_env,
    large_file,
    link_in_a_files_place,
    link_in_a_folders_place,
    folder_in_a_files_place,
    file_in_a_folders_place,
]


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_checkout_refuses_to_replace_what_no_commit_holds(repo_with_commit, outside, case):
    repo = repo_with_commit
    at_risk = case(repo, outside)
    before, state, elsewhere = disk(repo), git_state(repo), disk(outside)
    result = gitml_cli(repo, "checkout", "r", check=False)
    line = assert_one_error(result, "--force")
    for path in at_risk:
        assert path in line
    assert disk(repo) == before
    assert git_state(repo) == state
    assert disk(outside) == elsewhere
    assert backup_refs(repo) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_checkout_force_backs_up_what_it_replaces(repo_with_commit, outside, case):
    repo = repo_with_commit
    at_risk = case(repo, outside)
    before, state, elsewhere = disk(repo), git_state(repo), disk(outside)
    result = gitml_cli(repo, "checkout", "--force", "r")
    assert git_state(repo) == state
    assert disk(outside) == elsewhere  # nothing written through a link
    assert disk(repo) != before
    (ref,) = backup_refs(repo)
    assert ref.startswith("refs/gitml-backups/")  # outside refs/gitml/*: never fetched or pruned
    for path in at_risk:
        assert path in result.stderr
    command = result.stderr.split("get them back with: ", 1)[1].splitlines()[0]
    assert command == f"git restore --source={ref} --worktree -- :/"
    subprocess.run(shlex.split(command), cwd=repo / "src", check=True)  # works from a subfolder
    assert disk(repo) == before
    assert git_state(repo) == state
    assert_fsck_clean(repo)


def test_a_folder_holding_a_repository_is_never_removed(repo_with_commit):
    repo = repo_with_commit
    run_with(repo, {"out": "from the run\n"})
    nested = repo / "out" / "nested"
    write(nested / "f.txt", "nested work\n")
    git(nested, "init", "-q")
    git(nested, "add", "f.txt")
    git(nested, "commit", "-q", "-m", "nested")
    write(nested / "uncommitted.txt", "not in any commit\n")
    before, state = disk(repo), git_state(repo)
    for args in (("checkout", "r"), ("checkout", "--force", "r")):
        result = gitml_cli(repo, *args, check=False)
        assert_one_error(result, "out/nested", "git repository")
        assert disk(repo) == before
        assert git_state(repo) == state
        assert (nested / ".git").is_dir()
    assert backup_refs(repo) == []


def test_a_backup_survives_a_pruning_fetch_and_is_never_pushed(repo_with_commit, tmp_path):
    repo = repo_with_commit
    untracked_env(repo, None)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    gitml_cli(repo, "checkout", "--force", "r")
    (ref,) = backup_refs(repo)
    gitml_cli(repo, "push", "origin")
    gitml_cli(repo, "remote", "setup", "origin")
    git(repo, "fetch", "-q", "--prune", "origin")
    assert backup_refs(repo) == [ref]
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/gitml-backups") == ""
    assert git(repo, "show", f"{ref}:.env") == "TOKEN=mine\n"


# 2. secrets

SECRET_NAMES = [
    # case variants of names on the list
    ".ENV",
    "ID_RSA",
    "Server.PEM",
    "Credentials.json",
    "PRIVATE.KEY",
    # common secret files
    ".git-credentials",
    ".pgpass",
    ".envrc",
    "service-account.json",
    "application_default_credentials.json",
    ".docker/config.json",
    "kubeconfig",
    ".kube/config",
    "terraform.tfstate",
    ".htpasswd",
    "secrets.yaml",
    "token.txt",
    "keystore.jks",
    "release.keystore",
    "prod.env",
    "aws_credentials",
    # the names listed before
    ".env",
    ".env.local",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".aws/credentials",
    "credentials",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "cert.pem",
    "tls.key",
    "cert.p12",
    "cert.pfx",
    "vault.kdbx",
]
HARMLESS_NAMES = [
    "keyboard.py",
    "environment.yml",
    "config.json",
    "docker/config.json",
    "tokenizer.json",
    "envs.md",
    "pem_utils.py",
    ".kube/cache.json",
]


def lay_out(folder: Path) -> tuple[list[str], list[str]]:
    """Each secret and harmless name in a folder of its own under `folder`."""
    secrets = [f"s{i:02d}/{name}" for i, name in enumerate(SECRET_NAMES)]
    harmless = [f"h{i:02d}/{name}" for i, name in enumerate(HARMLESS_NAMES)]
    for path in secrets + harmless:
        write(folder / path, f"contents of {path}\n")
    return secrets, harmless


def artifact_paths(repo, run) -> set[str]:
    return {a["path"] for a in record(repo, run)["artifacts"]}


def test_no_secret_name_reaches_a_snapshot(repo_with_commit):
    repo = repo_with_commit
    secrets, harmless = lay_out(repo)
    result = gitml_cli(repo, "run", "--", sys.executable, "-c", "pass")
    run = only_run(repo)
    stored = tree_files(repo, run)
    assert [path for path in secrets if path in stored] == []
    assert sorted(record(repo, run)["skipped"]["secret"]) == sorted(secrets)
    assert [path for path in harmless if path not in stored] == []
    for path in secrets:
        assert f"gitml: warning: {path} looks like a secret" in result.stderr


def test_no_secret_name_reaches_an_artifact_folder(repo_with_commit):
    repo = repo_with_commit
    secrets, harmless = lay_out(repo)
    result = gitml_cli(repo, "run", "--artifact", ".", "--", sys.executable, "-c", "pass")
    stored = artifact_paths(repo, only_run(repo))  # a folder keeps its name: repo/…
    assert [path for path in secrets if f"{repo.name}/{path}" in stored] == []
    assert [path for path in harmless if f"{repo.name}/{path}" not in stored] == []
    for path in secrets:
        warning = f"gitml: warning: {repo.name}/{path} looks like a secret and was left out"
        assert warning in result.stderr


def test_no_secret_name_reaches_log_artifacts(repo_with_commit):
    repo = repo_with_commit
    secrets, harmless = lay_out(repo / "data")  # data/ is ignored: not in the snapshot
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with gitml.start_run(name="api", repo=repo):
            gitml.log_artifacts(repo / "data", "out")
            for path in secrets:
                with pytest.raises(ArtifactError, match="looks like a secret"):
                    gitml.log_artifact(repo / "data" / path)
    stored = artifact_paths(repo, only_run(repo))
    assert [path for path in secrets if f"out/{path}" in stored] == []
    assert [path for path in harmless if f"out/{path}" not in stored] == []
    left_out = [str(w.message) for w in caught if w.category is SecretLeftOutWarning]
    assert sorted(message.split(" ", 1)[0] for message in left_out) == sorted(
        f"out/{path}" for path in secrets
    )


def test_no_secret_name_reaches_log_text_log_dict_or_log_figure(repo_with_commit):
    """Bytes a program hands over are stored under the name it gives: `log_dict(config,
    "secrets.yaml")` is the leak the rule is there for, as much as a file of that name."""
    import matplotlib.figure

    repo = repo_with_commit
    with gitml.start_run(name="api", repo=repo):
        for call in (
            lambda: gitml.log_text("key\n", "id_rsa"),
            lambda: gitml.log_text("A=1\n", "conf/.ENV"),
            lambda: gitml.log_dict({"password": "x"}, "Secrets.YAML"),
            lambda: gitml.log_figure(matplotlib.figure.Figure(), "credentials.png"),
        ):
            with pytest.raises(ArtifactError, match="looks like a secret"):
                call()
        gitml.log_text("fine\n", "notes.txt")
    assert artifact_paths(repo, only_run(repo)) == {"notes.txt"}


@pytest.mark.parametrize("name", [".ENV", "s/.aws/credentials", "Server.PEM", "kubeconfig"])
def test_a_secret_named_as_an_artifact_is_refused_before_the_command_runs(repo_with_commit, name):
    repo = repo_with_commit
    write(repo / name, "secret\n")
    marker = repo / "ran"
    command = (sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    result = gitml_cli(repo, "run", "--artifact", name, "--", *command, check=False)
    assert_refused(result, repo, "looks like a secret", "--allow-secret")
    assert not marker.exists()


def test_an_empty_artifact_path_is_refused(repo_with_commit):
    repo = repo_with_commit
    marker = repo / "ran"
    command = (sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    result = gitml_cli(repo, "run", "--artifact", "", "--", *command, check=False)
    assert_refused(result, repo, "empty --artifact path")
    assert not marker.exists()
    with (
        gitml.start_run(name="api", repo=repo),
        pytest.raises(ArtifactError, match="names nothing"),
    ):
        gitml.log_artifacts("")
    assert artifact_paths(repo, only_run(repo)) == set()


def test_allowed_secrets_are_stored(repo_with_commit):
    repo = repo_with_commit
    secrets, _ = lay_out(repo)
    git(repo, "config", "gitml.allowSecrets", "*.pem, .ENVRC")
    args = ("--allow-secret", "kubeconfig", "--artifact", ".", "--", sys.executable, "-c", "pass")
    gitml_cli(repo, "run", *args)
    run = only_run(repo)
    allowed = {p for p in secrets if p.lower().endswith((".pem", "/.envrc", "/kubeconfig"))}
    assert len(allowed) == 4
    assert {p for p in secrets if p in tree_files(repo, run)} == allowed
    stored = artifact_paths(repo, run)
    assert {p for p in secrets if f"{repo.name}/{p}" in stored} == allowed
    empty = gitml_cli(
        repo, "run", "--allow-secret", "", "--", sys.executable, "-c", "pass", check=False
    )
    assert empty.returncode == 1 and "empty --allow-secret pattern" in empty.stderr


def artifacts_of(repo, name) -> list[str]:
    return [
        a["path"] for a in json.loads(gitml_cli(repo, "show", name, "--json").stdout)["artifacts"]
    ]


def test_a_folder_over_the_size_limit_is_stored_whole_or_not_at_all(repo_with_commit):
    repo = repo_with_commit
    git(repo, "config", "gitml.artifactSizeLimit", "1k")
    write(repo / "data" / "out" / "a.txt", "small\n")
    (repo / "data" / "out" / "big.bin").write_bytes(b"b" * 5000)
    (repo / "data" / "out" / "huge.bin").write_bytes(b"h" * 9000)
    write(repo / "data" / "out" / "z.txt", "small\n")
    args = ("run", "--name", "cli", "--artifact", "data/out", "--", sys.executable, "-c", "pass")
    result = gitml_cli(repo, *args, check=False)
    assert result.returncode == 1
    assert "out/big.bin (4.9 KiB), out/huge.bin (8.8 KiB); nothing of it was stored" in (
        result.stderr
    )
    assert artifacts_of(repo, "cli") == []
    with (
        gitml.start_run(name="api", repo=repo),
        pytest.raises(ArtifactError, match="nothing of it was stored"),
    ):
        gitml.log_artifacts(repo / "data" / "out", "out")
    assert artifacts_of(repo, "api") == []
