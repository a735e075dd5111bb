"""Run a git command that talks to a remote, through GitPython.

GitPython starts the user's `git` executable (so ssh keys, credential
helpers, proxies and `insteadOf` rules apply) in the C locale; gitml reads
its output, hands progress lines to the caller while they happen, and turns a
failure into one error that says what went wrong.
"""

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gitml.errors import (
    NotARemoteRepositoryError,
    RemoteAuthError,
    RemoteError,
    RemoteUnreachableError,
)
from gitml.store.repository import Repository

Progress = Callable[[str], None]
"""Receives git's progress text, each piece ending in '\\r' or '\\n'."""

_PROGRESS_LINE = re.compile(r"^(remote: )?[A-Za-z][A-Za-z ]*:\s+\d+%")

_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "http basic: access denied",
    "returned error: 401",
    "returned error: 403",
)
_NOT_A_REPOSITORY = (
    "does not appear to be a git repository",
    "not a git repository",
    "repository not exported",
    "not found",
    "not valid: is this a git repository",
)
_UNREACHABLE = (
    "could not resolve host",
    "connection refused",
    "unable to connect",
    "failed to connect",
    "connection timed out",
    "no route to host",
    "could not read from remote repository",
    "unable to access",
    "the remote end hung up",
)


@dataclass
class GitResult:
    status: int
    stdout: str
    stderr: str


def run_remote_git(
    repo: Repository,
    args: list[str],
    remote: str,
    *,
    stdin: bytes | None = None,
    progress: Progress | None = None,
    check: bool = True,
) -> GitResult:
    """`git ARGS` in the repository; a failure becomes a RemoteError about `remote`."""
    import tempfile

    import git

    with tempfile.TemporaryFile() as istream:
        if stdin is not None:
            istream.write(stdin)
            istream.seek(0)
        process = git.Git(repo.cwd).execute(
            ["git", *args], as_process=True, istream=istream if stdin is not None else None
        )
        popen = process.proc
        out: list[bytes] = []
        err: list[bytes] = []
        reader = threading.Thread(target=_collect, args=(popen.stdout, out), daemon=True)
        reader.start()
        _pump_stderr(popen.stderr, err, progress)
        reader.join()
        status = popen.wait()
    result = GitResult(
        status,
        b"".join(out).decode(errors="surrogateescape"),
        b"".join(err).decode(errors="surrogateescape"),
    )
    if check and status != 0:
        raise remote_error(remote, result.stderr)
    return result


def ask_remote(repo: Repository, args: list[str], remote: str) -> str:
    """stdout of a git command that only asks the remote (`ls-remote`).

    It runs the same `git` executable with the same config and credential
    helpers, without GitPython: importing it would double the time of a
    `gitml push` that has nothing to send.
    """
    from gitml.store.gitcmd import run_git

    result = run_git(args, repo.cwd, check=False)
    if result.returncode != 0:
        raise remote_error(remote, result.stderr.decode(errors="replace"))
    return result.stdout.decode(errors="surrogateescape")


def _collect(stream, sink: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        sink.append(chunk)


def _pump_stderr(stream, sink: list[bytes], progress: Progress | None) -> None:
    """Keep all of stderr; pass progress pieces on as soon as git writes them."""
    import os

    pending = b""
    fd = stream.fileno()
    for chunk in iter(lambda: os.read(fd, 65536), b""):
        sink.append(chunk)
        if progress is None:
            continue
        pending += chunk
        pieces = re.split(rb"(?<=[\r\n])", pending)
        pending = pieces.pop()
        for piece in pieces:
            text = piece.decode(errors="replace")
            if _PROGRESS_LINE.match(text):
                progress(text)


def remote_error(remote: str, stderr: str) -> RemoteError:
    """The one error that explains git's complaint about `remote`."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = _main_line(lines)
    lowered = stderr.lower()
    if any(marker in lowered for marker in _AUTH):
        return RemoteAuthError(remote, detail)
    if any(marker in lowered for marker in _NOT_A_REPOSITORY):
        return NotARemoteRepositoryError(remote, detail)
    if any(marker in lowered for marker in _UNREACHABLE):
        return RemoteUnreachableError(remote, detail)
    return RemoteError(remote, f"git failed talking to remote '{remote}': {detail}")


def _main_line(lines: list[str]) -> str:
    """git's first `fatal:` line (the cause), else its last line."""
    for line in lines:
        if line.startswith("fatal:"):
            return line.removeprefix("fatal:").strip()
    if not lines:
        return "no message from git"
    return lines[-1].removeprefix("error:").strip()
