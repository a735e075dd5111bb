"""Run the git executable.

The snapshot and the ref updates on the run path call `git` directly through
`subprocess` rather than through GitPython: importing GitPython costs about
50 ms, a third of the time budget of `gitml run`. GitPython drives pushes
(`gitml.sharing.gitproc`).
"""

from __future__ import annotations

import os
import subprocess

from gitml.errors import GitCommandError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the tree with nothing in it


def git_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a git child: the user's, plus `extra`, in the C locale."""
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    env.pop("GIT_INDEX_FILE", None)
    if extra:
        env.update(extra)
    return env


def run_git(
    args: list[str],
    cwd: str,
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `git ARGS` in `cwd`; raise GitCommandError on a non-zero exit when `check`."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env or git_environment(),
        input=input,
        capture_output=True,
    )
    if check and result.returncode != 0:
        raise GitCommandError(args, result.stderr.decode(errors="replace"), result.returncode)
    return result


def git_output(args: list[str], cwd: str, **kwargs) -> str:
    """Run git and return its stdout as text, trailing newline removed."""
    return run_git(args, cwd, **kwargs).stdout.decode(errors="surrogateescape").rstrip("\n")
