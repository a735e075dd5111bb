"""Artifacts never carry git's own folders, nor files reached through links leading out.

A run whose tree has a `.git` entry fails `git fsck` (hasDotgit) and every push
to a remote that checks objects (GitHub does); a link must not smuggle in a
file from outside the repository that `--artifact` would refuse by its path.
"""

import json
import os
import subprocess
import sys

import pytest

import gitml
from gitml.errors import ArtifactError
from gitml.store.paths import is_git_name
from tests.test_tracking_edge_cases import assert_refused, only_run, record, tree_files
from tests.utils import assert_fsck_clean, cli, git, write
from tests.utils import gitml as gitml_cli


@pytest.fixture
def with_nested_repo(repo_with_commit):
    """`data/` (ignored) holds a file and a nested repository with its own .git."""
    repo = repo_with_commit
    write(repo / "data" / "table.csv", "a,b\n1,2\n")
    nested = repo / "data" / "nested"
    write(nested / "f.txt", "nested\n")
    git(nested, "init", "-q")
    git(nested, "add", "f.txt")
    git(nested, "commit", "-q", "-m", "nested")
    return repo


def has_git_part(paths) -> bool:
    return any(is_git_name(part) for path in paths for part in path.split("/"))


def tree_entries(repo, commit: str, folder: str) -> dict[str, tuple[str, str]]:
    """path → (mode, content) of every entry under `folder` in a commit."""
    out = git(repo, "ls-tree", "-r", "-z", commit, "--", folder)
    entries = {}
    for line in filter(None, out.split("\0")):
        info, path = line.split("\t", 1)
        mode, _, sha = info.split()
        entries[path] = (mode, git(repo, "cat-file", "blob", sha))
    return entries


def push_to_checking_remote(repo, tmp_path) -> subprocess.CompletedProcess:
    remote = tmp_path / "checking.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(remote, "config", "receive.fsckObjects", "true")
    return subprocess.run(
        ["git", "push", "-q", str(remote), "refs/gitml/runs/*:refs/gitml/runs/*"],
        cwd=repo,
        capture_output=True,
        text=True,
    )


# .git


@pytest.mark.parametrize("path", [".git", ".git/objects", "data/nested/.git", "data/nested/.git/"])
def test_an_artifact_in_a_git_folder_is_refused(with_nested_repo, path):
    result = gitml_cli(
        with_nested_repo, "run", "--artifact", path, "--", "python", "-c", "pass", check=False
    )
    line = assert_refused(result, with_nested_repo, repr(path), "in a .git folder")
    assert line.endswith("choose a file or folder outside .git")


def test_a_folder_artifact_leaves_every_git_folder_out(with_nested_repo, tmp_path):
    repo = with_nested_repo
    gitml_cli(repo, "run", "--artifact", ".", "--artifact", "data", "--", "python", "-c", "pass")
    run = only_run(repo)
    stored = [a["path"] for a in record(repo, run)["artifacts"]]
    assert not has_git_part(tree_files(repo, run))
    assert "data/nested/f.txt" in stored and "data/table.csv" in stored
    assert f"{repo.name}/README.md" in stored and f"{repo.name}/data/nested/f.txt" in stored
    assert f"{repo.name}/.gitignore" in stored and not has_git_part(stored)
    assert_fsck_clean(repo)
    pushed = push_to_checking_remote(repo, tmp_path)
    assert pushed.returncode == 0, pushed.stderr


def test_the_api_refuses_git_folders_and_git_names(with_nested_repo, tmp_path):
    repo = with_nested_repo
    with gitml.start_run(name="api", repo=repo):
        gitml.log_artifacts(repo)  # like log_artifacts(".") at the root
        for folder in (repo / ".git", repo / ".git" / "refs", repo / "data" / "nested" / ".git"):
            with pytest.raises(ArtifactError, match="in a .git folder"):
                gitml.log_artifacts(folder)
        with pytest.raises(ArtifactError, match="in a .git folder"):
            gitml.log_artifact(repo / ".git" / "config")
        for name in (".git/x", "a/.GIT/b.json", "a/.git./b", "git~1/c", "a/.g\u200cit/d"):
            with pytest.raises(ArtifactError, match="has a .git part"):
                gitml.log_dict({"a": 1}, name)
            with pytest.raises(ArtifactError, match="has a .git part"):
                gitml.log_artifact(repo / "README.md", name)
        gitml.log_text("fine", ".github/ok.txt")  # only .git itself is git's
    run = only_run(repo)
    stored = [a["path"] for a in record(repo, run)["artifacts"]]
    assert "README.md" in stored and "data/nested/f.txt" in stored and ".github/ok.txt" in stored
    assert not has_git_part(tree_files(repo, run))
    assert_fsck_clean(repo)
    assert push_to_checking_remote(repo, tmp_path).returncode == 0


# symbolic links


def test_a_link_leading_out_is_refused_even_when_the_command_makes_it(repo_with_commit, tmp_path):
    repo = repo_with_commit
    outside = write(tmp_path / "private.txt", "not for the run\n")
    make_link = f"import os; os.symlink({str(outside)!r}, 'lnk')"
    result = gitml_cli(
        repo, "run", "--artifact", "lnk", "--", "python", "-c", make_link, check=False
    )
    assert result.returncode == 1  # the command succeeded; the artifact did not
    assert f"gitml: error: artifact 'lnk' is outside the repository ({repo})" in result.stderr
    run = only_run(repo)
    assert run["status"] == "finished"
    assert record(repo, run)["artifacts"] == []
    again = gitml_cli(repo, "run", "--artifact", "lnk", "--", "true", check=False)
    assert again.returncode == 1 and "is outside the repository" in again.stderr  # refused first
    assert len(json.loads(cli(repo, "ls", "--all", "--json").stdout)) == 1


def test_links_in_a_folder_artifact_that_lead_out_are_stored_as_links(repo_with_commit, tmp_path):
    repo = repo_with_commit
    outside = write(tmp_path / "private.txt", "not for the run\n")
    out = repo / "data"
    write(out / "model.txt", "weights\n")
    links = {
        "out_file": str(outside),
        "out_dir": str(tmp_path),
        "dangling": "no/such/file",
        "git_config": "../.git/config",
        "in_repo": "../README.md",  # a file of the repository: followed, as before
    }
    for name, target in links.items():
        os.symlink(target, out / name)
    gitml_cli(repo, "run", "--artifact", "data", "--", "python", "-c", "pass")
    run = only_run(repo)
    entries = tree_entries(repo, run["commit"], ".gitml/artifacts")
    prefix = ".gitml/artifacts/data/"
    assert entries == {
        prefix + "model.txt": ("100644", "weights\n"),
        prefix + "in_repo": ("100644", "# project\n"),
        **{prefix + name: ("120000", links[name]) for name in links if name != "in_repo"},
    }
    listed = {a["path"]: a.get("link") for a in record(repo, run)["artifacts"]}
    assert listed["data/out_file"] == str(outside) and listed["data/model.txt"] is None
    shown = cli(repo, "show", run["id"]).stdout
    assert f"  data/out_file -> {outside}\n" in shown
    assert_fsck_clean(repo)


def test_the_api_stores_links_leading_out_of_folder_and_repository_as_links(
    repo_with_commit, tmp_path
):
    folder = tmp_path / "plots"  # outside the repository: the API may log any folder
    write(folder / "a.txt", "a\n")
    os.symlink("a.txt", folder / "same_folder")  # within the folder: followed
    os.symlink(str(repo_with_commit / "README.md"), folder / "in_repo")  # followed
    elsewhere = write(tmp_path / "elsewhere" / "key.txt", "secret\n")
    os.symlink(str(elsewhere), folder / "elsewhere")  # leads out of both: a link
    with gitml.start_run(name="links", repo=repo_with_commit):
        gitml.log_artifacts(folder, "plots")
    run = only_run(repo_with_commit)
    entries = tree_entries(repo_with_commit, run["commit"], ".gitml/artifacts")
    assert entries == {
        ".gitml/artifacts/plots/a.txt": ("100644", "a\n"),
        ".gitml/artifacts/plots/same_folder": ("100644", "a\n"),
        ".gitml/artifacts/plots/in_repo": ("100644", "# project\n"),
        ".gitml/artifacts/plots/elsewhere": ("120000", str(elsewhere)),
    }


def test_a_stored_link_is_never_written_through(repo_with_commit, tmp_path):
    outside_dir = tmp_path / "outside"
    outside_file = write(outside_dir / "keep.txt", "keep\n")
    folder = tmp_path / "logged"
    folder.mkdir()
    os.symlink(str(outside_file), folder / "f")
    os.symlink(str(outside_dir), folder / "d")
    with gitml.start_run(name="through", repo=repo_with_commit):
        gitml.log_artifacts(folder)  # f and d lead out of folder and repository: links
        with pytest.raises(ArtifactError, match="stores as a symbolic link"):
            gitml.log_text("x", "d/x.txt")
        gitml.log_text("replaced\n", "f")  # replaces the link, not the file it names
    assert outside_file.read_text() == "keep\n"
    assert sorted(p.name for p in outside_dir.iterdir()) == ["keep.txt"]
    run = only_run(repo_with_commit)
    entries = tree_entries(repo_with_commit, run["commit"], ".gitml/artifacts")
    assert entries == {
        ".gitml/artifacts/f": ("100644", "replaced\n"),
        ".gitml/artifacts/d": ("120000", str(outside_dir)),
    }


def test_under_gitml_run_the_api_refuses_the_repositorys_git_folder(repo_with_commit):
    script = (
        "import gitml\n"
        "try:\n"
        "    gitml.log_artifacts('.git')\n"
        "except gitml.errors.ArtifactError as error:\n"
        "    print(error)\n"
        "gitml.log_artifacts('.', 'tree')\n"
    )
    write(repo_with_commit / "train.py", script)
    result = subprocess.run(
        [sys.executable, "-m", "gitml", "run", "--", "python", "train.py"],
        cwd=repo_with_commit,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "artifact '.git' is in a .git folder" in result.stdout
    run = only_run(repo_with_commit)
    stored = [a["path"] for a in record(repo_with_commit, run)["artifacts"]]
    assert "tree/train.py" in stored and not has_git_part(stored)
    assert_fsck_clean(repo_with_commit)
