"""gitml reads git config as git does: quoting, includes, every config file, `git -c`."""

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from gitml import registry
from gitml.errors import GitConfigError
from gitml.store.config import read_config, repository_extension
from gitml.store.repository import open_repository
from gitml.tracking.identity import user_identity
from tests.utils import assert_fsck_clean, git, gitml, write


def _newest_run(repo: Path) -> dict:
    return json.loads(gitml(repo, "ls", "--all", "--json").stdout)[0]


def _author(repo: Path, run: dict) -> str:
    return git(repo, "log", "-1", "--format=%an <%ae>", run["commit"]).strip()


def _git_ident(repo: Path, role: str = "AUTHOR") -> str:
    """The identity git itself would use, without its timestamp."""
    return git(repo, "var", f"GIT_{role}_IDENT").rsplit(" ", 2)[0]


def test_a_name_holding_hash_and_semicolon_is_the_whole_author_of_runs_and_tags(repo_with_commit):
    repo = repo_with_commit
    git(repo, "config", "user.name", "Ana #1 Dev; ML")
    assert '"Ana #1 Dev; ML"' in (repo / ".git" / "config").read_text()  # git quotes it
    gitml(repo, "run", "--name", "alpha", "--", "python", "-c", "import gitml")
    run = _newest_run(repo)
    assert _author(repo, run) == "Ana #1 Dev; ML <test@example.com>" == _git_ident(repo)
    write(repo / "model.txt", "w\n")
    gitml(repo, "run", "--name", "beta", "--artifact", "model.txt", "--", "python", "-c", "pass")
    registry.register(repo, "clf", "beta", registry.RegisterOptions(path="model.txt"))
    tag = git(repo, "cat-file", "tag", "clf@v0.0.1")
    assert "\ntagger Ana #1 Dev; ML <test@example.com> " in tag


def test_record_env_names_in_a_quoted_value_are_all_recorded(repo_with_commit):
    git(repo_with_commit, "config", "gitml.recordEnv", "SEED;CUDA_VISIBLE_DEVICES")
    env = {**os.environ, "SEED": "7", "CUDA_VISIBLE_DEVICES": "0,1", "TOKEN": "secret"}
    gitml(repo_with_commit, "run", "--", "python", "-c", "pass", env=env)
    run = _newest_run(repo_with_commit)
    recorded = json.loads(git(repo_with_commit, "show", f"{run['commit']}:.gitml/run.json"))
    assert recorded["env_vars"] == {"SEED": "7", "CUDA_VISIBLE_DEVICES": "0,1"}


def test_settings_come_from_included_files_and_include_if_of_this_repository(
    repo_with_commit, isolate, tmp_path
):
    repo = repo_with_commit
    write(tmp_path / "team.gitconfig", "[gitml]\n\trecordEnv = SEED\n")
    git(repo, "config", "include.path", str(tmp_path / "team.gitconfig"))
    write(tmp_path / "work.gitconfig", "[user]\n\tname = Work Person\n\temail = w@work.example\n")
    write(tmp_path / "other.gitconfig", "[user]\n\tname = Other Person\n")
    with open(isolate / ".gitconfig", "a") as file:
        file.write(f'[includeIf "gitdir:{repo}/"]\n\tpath = {tmp_path / "work.gitconfig"}\n')
        file.write(f'[includeIf "gitdir:{tmp_path}/elsewhere/"]\n\tpath = other.gitconfig\n')
        file.write(f'[includeIf "onbranch:ma*"]\n\tpath = {tmp_path / "team.gitconfig"}\n')
    env = {**os.environ, "SEED": "7"}
    gitml(repo, "run", "--", "python", "-c", "pass", env=env)
    run = _newest_run(repo)
    assert _author(repo, run) == "Work Person <w@work.example>" == _git_ident(repo)
    recorded = json.loads(git(repo, "show", f"{run['commit']}:.gitml/run.json"))
    assert recorded["env_vars"] == {"SEED": "7"}


def test_the_global_file_is_found_where_git_finds_it(repo_with_commit, isolate, monkeypatch):
    repo = open_repository(repo_with_commit)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    (isolate / ".gitconfig").unlink()
    write(isolate / ".config" / "git" / "config", "[user]\n\tname = Xdg Person\n\temail = x@e\n")
    assert user_identity(repo).as_bytes().decode() == _git_ident(repo_with_commit)
    assert user_identity(repo).name == "Xdg Person"
    write(isolate / ".gitconfig", "[user]\n\tname = Home Person\n")  # ~/.gitconfig wins
    assert user_identity(repo).as_bytes().decode() == _git_ident(repo_with_commit)
    assert user_identity(repo).name == "Home Person"
    system = write(isolate / "system.gitconfig", "[gitml]\n\trecordEnv = FROM_SYSTEM\n")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    assert read_config(repo).get("gitml.recordEnv") == "FROM_SYSTEM"
    assert git(repo_with_commit, "config", "gitml.recordEnv").strip() == "FROM_SYSTEM"
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "true")
    assert read_config(repo).get("gitml.recordEnv") is None


def test_git_dash_c_settings_reach_gitml_run_from_a_git_alias(repo_with_commit):
    repo = repo_with_commit
    git(
        repo,
        "-c",
        f"alias.ml=!{shlex.quote(sys.executable)} -m gitml",
        "-c",
        "user.name=Alias Person",
        "ml",
        "run",
        "--",
        "python",
        "-c",
        "pass",
    )
    assert _author(repo, _newest_run(repo)) == "Alias Person <test@example.com>"


def test_config_is_parsed_once_per_repository_until_a_file_of_it_changes(repo_with_commit):
    repo = open_repository(repo_with_commit)
    first = read_config(repo)
    assert read_config(repo) is first
    git(repo_with_commit, "config", "gitml.recordEnv", "SEED, PAD_TO_CHANGE_THE_SIZE")
    second = read_config(repo)
    assert second is not first
    assert second.get("gitml.recordenv") == "SEED, PAD_TO_CHANGE_THE_SIZE"


def test_a_change_to_an_included_file_or_to_the_branch_is_read_again(repo_with_commit):
    repo = open_repository(repo_with_commit)
    team = repo_with_commit / ".git" / "team.gitconfig"
    team.write_text("[gitml]\n\tliveRuns = 10\n")
    git(repo_with_commit, "config", "include.path", "team.gitconfig")  # relative: from .git/
    branch = repo_with_commit / ".git" / "branch.gitconfig"
    branch.write_text("[gitml]\n\tprePush = false\n")
    git(repo_with_commit, "config", "includeIf.onbranch:side.path", str(branch))
    assert read_config(repo).get("gitml.liveruns") == "10"
    assert read_config(repo).get("gitml.prepush") is None
    team.write_text("[gitml]\n\tliveRuns = 200\n")  # only the included file changes
    assert read_config(repo).get("gitml.liveruns") == "200"
    git(repo_with_commit, "checkout", "-q", "-b", "side")  # only HEAD changes
    assert read_config(repo).get("gitml.prepush") == "false"


def test_committer_and_author_variables_and_sections_are_honoured(repo_with_commit, monkeypatch):
    repo = open_repository(repo_with_commit)
    git(repo_with_commit, "config", "committer.name", "Committer Section")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@env")
    assert user_identity(repo).as_bytes().decode() == _git_ident(repo_with_commit)
    assert user_identity(repo, "committer").as_bytes().decode() == _git_ident(
        repo_with_commit, "COMMITTER"
    )
    assert user_identity(repo, "committer").name == "Committer Section"


def test_a_name_with_a_line_break_or_angle_brackets_cannot_break_the_commit(repo_with_commit):
    repo = repo_with_commit
    with open(repo / ".git" / "config", "a") as file:
        file.write('[user]\n\tname = "Eve\\nparent 0000 <x>"\n\temail = "e@e>\\nx"\n')
    gitml(repo, "run", "--", "python", "-c", "pass")
    assert _author(repo, _newest_run(repo)) == "Eveparent 0000 x <e@ex>"
    assert_fsck_clean(repo)


def test_a_malformed_config_is_a_config_error_naming_the_file(
    repo_with_commit, isolate, monkeypatch
):
    repo = open_repository(repo_with_commit)
    bad = write(isolate / "bad.gitconfig", "[user\n\tname = x\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(bad))
    with pytest.raises(GitConfigError, match="bad.gitconfig cannot be read"):
        read_config(repo)


def test_extensions_come_from_the_repository_file_only(repo_with_commit, isolate):
    repo = open_repository(repo_with_commit)
    with open(isolate / ".gitconfig", "a") as file:
        file.write("[extensions]\n\trefStorage = reftable\n")  # git ignores it here
    assert repository_extension(repo, "refStorage") is None
    git(repo_with_commit, "config", "extensions.refStorage", "files")
    assert repository_extension(repo, "refStorage") == "files"
    gitml(repo_with_commit, "run", "--", "python", "-c", "pass")
    assert git(repo_with_commit, "for-each-ref", "--format=%(refname)", "refs/gitml/runs")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"GIT_CONFIG_COUNT": "1"}, "GIT_CONFIG_COUNT"),
        ({"GIT_CONFIG_PARAMETERS": "'unclosed"}, "GIT_CONFIG_PARAMETERS"),
    ],
)
def test_a_malformed_config_variable_is_a_config_error_naming_it(
    repo_with_commit, monkeypatch, variables, named
):
    repo = open_repository(repo_with_commit)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(GitConfigError, match=f"git config {named} cannot be read"):
        read_config(repo)


def test_a_setting_git_reads_without_a_value_is_true_and_names_fold_case(repo_with_commit):
    with open(repo_with_commit / ".git" / "config", "a") as file:
        file.write('[GitML]\n\tPrePush\n[remote "Team.Box"]\n\tURL = /srv/x\n')
    config = read_config(open_repository(repo_with_commit))
    assert config.get_bool("gitml.prepush", False) is True
    assert config.get("REMOTE.Team.Box.url") == "/srv/x"
    assert config.get("remote.team.box.url") is None  # a subsection's case counts
    assert config.subsections("remote") == {"Team.Box": {"url": ["/srv/x"]}}
