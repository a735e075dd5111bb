"""gitml hooks install / uninstall / status, exercised by real `git push`es."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.sharing_helpers import bare_remote, run_refs
from tests.utils import git, gitml, write

ROOT = Path(__file__).resolve().parent.parent
USER_HOOK = '#!/bin/sh\n# the team\'s own hook\necho "$1 $2" >> pushed.log\ncat >> pushed.log\n'


@pytest.fixture
def shared(repo_with_runs, tmp_path):
    remote = bare_remote(tmp_path)
    git(repo_with_runs, "remote", "add", "origin", remote.as_uri())
    return repo_with_runs, remote


def status(repo) -> dict:
    return json.loads(gitml(repo, "hooks", "status", "--json").stdout)


def test_install_then_git_push_sends_runs(shared):
    work, remote = shared
    assert status(work)["installed"] is False
    result = gitml(work, "hooks", "install")
    hook = work / ".git" / "hooks" / "pre-push"
    assert result.stdout == f"installed {hook}\n"
    assert os.access(hook, os.X_OK)
    assert status(work) == {
        "name": "pre-push",
        "path": str(hook),
        "installed": True,
        "chained": None,
        "other": False,
        "enabled": True,
    }
    push = subprocess.run(
        ["git", "push", "origin", "main"], cwd=work, capture_output=True, text=True
    )
    assert push.returncode == 0, push.stderr
    assert run_refs(remote) == run_refs(work)
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "main")


@pytest.mark.parametrize("flag", ["--dry-run", "-n"])
def test_git_push_dry_run_sends_no_runs_and_says_what_it_would(shared, flag):
    work, remote = shared
    gitml(work, "hooks", "install")
    push = subprocess.run(
        ["git", "push", flag, "origin", "main"], cwd=work, capture_output=True, text=True
    )
    assert push.returncode == 0, push.stderr
    assert "would push 3 runs to origin" in push.stdout + push.stderr
    assert run_refs(remote) == {}
    assert git(remote, "for-each-ref") == ""


def test_install_into_an_unusable_hooks_path_is_one_clear_line(shared, tmp_path):
    work, _ = shared
    write(tmp_path / "afile", "not a folder\n")
    git(work, "config", "core.hooksPath", str(tmp_path / "afile" / "hooks"))
    result = gitml(work, "hooks", "install", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"gitml: error: cannot write hooks into {tmp_path / 'afile' / 'hooks'} (Not a directory)"
    )
    assert result.stderr.count("\n") == 1


def test_existing_hook_is_chained_and_restored_byte_for_byte(shared):
    work, remote = shared
    hook = write(work / ".git" / "hooks" / "pre-push", USER_HOOK)
    hook.chmod(0o750)
    before = (hook.read_bytes(), os.stat(hook).st_mode, os.stat(hook).st_ino)
    result = gitml(work, "hooks", "install")
    assert result.stdout == f"installed {hook} (runs pre-push.gitml-chained first)\n"
    assert status(work)["chained"] == str(hook.with_name("pre-push.gitml-chained"))
    gitml(work, "hooks", "install")  # twice: still one chained hook, still the user's
    assert hook.with_name("pre-push.gitml-chained").read_bytes() == before[0]

    git(work, "push", "-q", "origin", "main")
    log = (work / "pushed.log").read_text().splitlines()
    main_sha = git(work, "rev-parse", "main").strip()
    assert log[0] == f"origin {remote.as_uri()}"
    assert log[1] == f"refs/heads/main {main_sha} refs/heads/main {'0' * 40}"
    assert len(run_refs(remote)) == 3

    result = gitml(work, "hooks", "uninstall")
    assert result.stdout == f"removed gitml's hook {hook} and restored the earlier hook\n"
    assert (hook.read_bytes(), os.stat(hook).st_mode, os.stat(hook).st_ino) == before
    assert not hook.with_name("pre-push.gitml-chained").exists()
    assert status(work)["installed"] is False and status(work)["other"] is True


def test_failing_user_hook_still_blocks_the_push(shared):
    work, remote = shared
    write(work / ".git" / "hooks" / "pre-push", "#!/bin/sh\necho no pushing today >&2\nexit 7\n")
    (work / ".git" / "hooks" / "pre-push").chmod(0o755)
    gitml(work, "hooks", "install")
    push = subprocess.run(
        ["git", "push", "origin", "main"], cwd=work, capture_output=True, text=True
    )
    assert push.returncode != 0
    assert "no pushing today" in push.stderr
    assert run_refs(remote) == {}
    assert git(remote, "for-each-ref") == ""


def test_symlinked_hook_comes_back_as_the_same_symlink(shared, tmp_path):
    work, _ = shared
    target = write(tmp_path / "shared-hooks" / "pre-push", USER_HOOK)
    target.chmod(0o755)
    hook = work / ".git" / "hooks" / "pre-push"
    hook.symlink_to(target)
    gitml(work, "hooks", "install")
    assert not hook.is_symlink()
    gitml(work, "hooks", "uninstall")
    assert hook.is_symlink() and os.readlink(hook) == str(target)
    assert target.read_text() == USER_HOOK


def test_core_hooks_path_is_respected(shared):
    work, remote = shared
    git(work, "config", "core.hooksPath", ".githooks")
    write(work / ".githooks" / "pre-push", USER_HOOK).chmod(0o755)
    gitml(work, "hooks", "install")
    assert status(work)["path"] == str(work / ".githooks" / "pre-push")
    assert not (work / ".git" / "hooks" / "pre-push").exists()
    git(work, "push", "-q", "origin", "main")
    assert len(run_refs(remote)) == 3
    assert (work / "pushed.log").exists()
    gitml(work, "hooks", "uninstall")
    assert (work / ".githooks" / "pre-push").read_text() == USER_HOOK


def test_opt_out_by_environment_and_config(shared):
    work, remote = shared
    gitml(work, "hooks", "install")
    env = {**os.environ, "GITML_NO_HOOK": "1"}
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=work, env=env, check=True)
    assert run_refs(remote) == {}
    git(work, "config", "gitml.prePush", "false")
    assert status(work)["enabled"] is False
    assert "disabled by gitml.prePush=false" in gitml(work, "hooks", "status").stdout
    write(work / "more.txt", "x\n")
    git(work, "add", "more.txt")
    git(work, "commit", "-q", "-m", "more")
    git(work, "push", "-q", "origin", "main")
    assert run_refs(remote) == {}
    git(work, "config", "gitml.prePush", "true")
    git(work, "commit", "-q", "--allow-empty", "-m", "again")
    git(work, "push", "-q", "origin", "main")
    assert len(run_refs(remote)) == 3


def test_hook_failure_to_send_runs_does_not_block_the_push(shared):
    work, remote = shared
    reject = write(
        remote / "hooks" / "pre-receive",
        "#!/bin/sh\nwhile read old new ref; do\n"
        '  case "$ref" in refs/gitml/*) echo "no runs here" >&2; exit 1;; esac\ndone\n',
    )
    reject.chmod(0o755)
    gitml(work, "hooks", "install")
    push = subprocess.run(
        ["git", "push", "origin", "main"], cwd=work, capture_output=True, text=True
    )
    assert push.returncode == 0
    assert "runs were not pushed" in push.stderr
    assert run_refs(remote) == {}
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "main")


def test_uninstall_without_install_is_a_clear_error(repo_with_commit):
    result = gitml(repo_with_commit, "hooks", "uninstall", check=False)
    assert result.returncode == 1
    hooks = repo_with_commit / ".git" / "hooks"
    assert result.stderr == f"gitml: error: gitml's pre-push hook is not installed in {hooks}\n"


def test_leftover_chained_hook_is_never_overwritten(repo_with_commit):
    hooks = repo_with_commit / ".git" / "hooks"
    write(hooks / "pre-push", "#!/bin/sh\nexit 0\n")
    write(hooks / "pre-push.gitml-chained", "#!/bin/sh\nexit 1\n")
    result = gitml(repo_with_commit, "hooks", "install", check=False)
    assert result.returncode == 1
    assert "move one of them away" in result.stderr
    assert (hooks / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"
    assert (hooks / "pre-push.gitml-chained").read_text() == "#!/bin/sh\nexit 1\n"


@pytest.mark.slow
def test_wheel_ships_the_hook_and_an_install_finds_it(tmp_path):
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "gitml", source / "gitml", ignore=ignore)
    shutil.copytree(ROOT / "hooks", source / "hooks")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    uv = [sys.executable, "-m", "uv", "--quiet"]  # uv: pip's work, a few times faster
    installing = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no gitml from here
    build = [*uv, "build", "--wheel", "--no-build-isolation", "--python", sys.executable]
    subprocess.run([*build, "-o", dist, source], env=installing, check=True, capture_output=True)
    (wheel,) = dist.glob("gitml-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (entry,) = [n for n in archive.namelist() if n.endswith("/share/gitml/hooks/pre-push")]
        assert archive.read(entry) == (ROOT / "hooks" / "pre-push").read_bytes()
        assert "gitml/py.typed" in archive.namelist()  # type checkers read gitml's hints

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv], check=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [*uv, "pip", "install", "--python", python, "--no-deps", wheel],
        env=installing,
        check=True,
        capture_output=True,
    )
    found = subprocess.run(
        [python, "-c", "import gitml.sharing.hooks as h; print(h.shipped_hook('pre-push'))"],
        cwd=tmp_path,
        env=installing,
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == venv / "share" / "gitml" / "hooks" / "pre-push"
