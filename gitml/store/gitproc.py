"""Run a git command that talks to a remote.

Every command runs the user's own `git` executable (so ssh keys, credential
helpers, proxies and `insteadOf` rules apply) in the C locale; gitml reads
its output, hands progress lines to the caller while they happen, and turns a
failure into one error that says what went wrong.

Every command starts the executable directly, never through GitPython: its import
(50–80 ms) would be a third of the time of a push of one run or of a raw fetch of a
thousand runs, and the goals of both are ratios to those times.
"""

import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, NamedTuple

from gitml.errors import (
    GitCommandError,
    NotARemoteRepositoryError,
    RemoteAuthError,
    RemoteError,
    RemoteUnreachableError,
)
from gitml.store.gitcmd import git_environment, run_git, with_git_config
from gitml.store.repository import Repository

Progress = Callable[[str], None]
"""Receives git's progress text, each piece ending in '\\r' or '\\n'."""

_PROGRESS_LINE = r"^(remote: )?[A-Za-z][A-Za-z ]*:\s+\d+%"  # compiled on first use

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


class GitResult(NamedTuple):
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
    """`git ARGS` in the repository; a failure becomes a RemoteError about `remote`.
    A `git push` moves refs there only (`_push_moves_no_ref_here`)."""
    with _input_file(stdin) as istream:
        out: list[bytes] = []
        err: list[bytes] = []
        env = _push_moves_no_ref_here(remote) if args[:1] == ["push"] else None
        with _started(repo, args, istream, env) as popen:
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


def _push_moves_no_ref_here(remote: str) -> dict[str, str]:
    """The environment of a `git push` to `remote` that updates no ref here. After a
    push, git sets each local ref the remote's fetch refspecs map a pushed ref onto, to
    what was pushed (deleting it for a deletion), with no compare-and-swap: after
    `gitml remote setup` (refs/gitml/* there are the same refs here) `gitml push
    --delete` deleted the run here too, and a push put back the archive refs a fold
    here had moved meanwhile, losing its runs from both tiers. A negative fetch refspec
    of every ref, given to this git alone, maps nothing."""
    return with_git_config(git_environment(), {f"remote.{remote}.fetch": "^refs/*"})


@contextmanager
def _input_file(data: bytes | None) -> Iterator[BinaryIO | None]:
    """A file holding `data`, for git's stdin (a pipe written while git's output is read
    could fill up both ways); None without data."""
    if data is None:
        yield None
        return
    import tempfile

    with tempfile.TemporaryFile() as istream:
        istream.write(data)
        istream.seek(0)
        yield istream


@contextmanager
def _started(
    repo: Repository, args: list[str], istream: BinaryIO | None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """The running `git ARGS` (in `env`, else gitml's environment for git)."""
    with subprocess.Popen(
        ["git", *args],
        cwd=repo.cwd,
        env=env or git_environment(),
        stdin=istream if istream is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as popen:
        yield popen


def ask_remote(repo: Repository, args: list[str], remote: str) -> str:
    """stdout of a git command that only asks the remote (`ls-remote`)."""
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
            if re.match(_PROGRESS_LINE, text):
                progress(text)


def remote_messages(stderr: str, most: int = 3) -> list[str]:
    """The last lines a remote wrote (`remote: …`, a hook's reason for a refusal), without
    its progress: at most `most`, each at most 200 characters."""
    said = [
        line[len("remote: ") :].strip()[:200]
        for line in stderr.replace("\r", "\n").splitlines()
        if line.startswith("remote: ")
        and line[len("remote: ") :].strip()
        and not re.match(_PROGRESS_LINE, line)
    ]
    return said[-most:]


class PushedRef(NamedTuple):
    """One ref's line in the output of `git push --porcelain`."""

    flag: str  # "*" new, " " fast-forward, "+" forced, "-" deleted, "=" up to date, "!" refused
    ref: str  # the remote's ref
    summary: str  # "[new reference]", "[remote rejected] (pre-receive hook declined)", …

    @property
    def refused(self) -> bool:
        return self.flag == "!"

    @property
    def by_the_remote(self) -> bool:
        """Refused by the remote itself (a hook, a ref it cannot write), not by git here
        because the remote's ref is no ancestor of ours ("[rejected]")."""
        return self.summary.startswith("[remote rejected]")


def pushed_refs(stdout: str) -> list[PushedRef]:
    """The ref lines of `git push --porcelain` (`<flag>\t<from>:<to>\t<summary>`)."""
    refs = []
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and len(fields[0]) == 1:
            ref = fields[1].rpartition(":")[2]  # <from>:<to>, <from> empty for a deletion
            refs.append(PushedRef(fields[0], ref, fields[2].strip()))
    return refs


def refusal_reason(summaries: Iterable[str], stderr: str) -> str:
    """Why a push was refused: git's summaries of the refused refs, then the last lines
    the remote wrote (a hook's own reason)."""
    said = remote_messages(stderr)
    because = f" (the remote said: {' / '.join(said)})" if said else ""
    return "; ".join(sorted(set(summaries))) + because


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
    """git's first `fatal:` line (the cause), else its last line. A fatal line ending in
    ':' (`unable to connect to host:`) is completed by the line after it (the reason)."""
    for index, line in enumerate(lines):
        if line.startswith("fatal:"):
            cause = line.removeprefix("fatal:").strip()
            if cause.endswith(":") and index + 1 < len(lines):
                cause = f"{cause} {lines[index + 1]}"
            return cause
    if not lines:
        return "no message from git"
    return lines[-1].removeprefix("error:").strip()


def fetch_as_refs(
    repo: Repository, remote: str, refs: dict[str, str], progress: Progress | None = None
) -> None:
    """Create each local ref of `refs` (ref name → an object id the remote advertises).

    The objects are fetched by id, then the refs created in one `git update-ref
    --stdin` transaction: all or none, none overwritten (one another process created
    meanwhile stays as it is, and the others are created). One explicit refspec
    per ref would make git match every refspec against every remote ref: 2.3 s
    for 1,500 tags, against 0.35 s this way.
    """
    fetch_objects(repo, remote, refs.values(), progress)
    for attempt in range(_CREATE_ATTEMPTS):
        commands = "".join(f"create {ref} {sha}\n" for ref, sha in refs.items())
        done = run_git(["update-ref", "--stdin"], repo.cwd, input=commands.encode(), check=False)
        if done.returncode == 0:
            return
        stderr = done.stderr.decode(errors="replace")
        if "reference already exists" not in stderr or attempt + 1 == _CREATE_ATTEMPTS:
            raise GitCommandError(["update-ref", "--stdin"], stderr, done.returncode)
        # another process (a fetch of the same refs) created some meanwhile: the others
        refs = {ref: sha for ref, sha in refs.items() if not _exists(repo, ref)}
        if not refs:
            return


_CREATE_ATTEMPTS = 5  # of fetch_as_refs' transaction, while other processes create its refs


def _exists(repo: Repository, ref: str) -> bool:
    found = run_git(["rev-parse", "-q", "--verify", "--end-of-options", ref], repo.cwd, check=False)
    return found.returncode == 0


def fetch_objects(
    repo: Repository, remote: str, shas: Iterable[str], progress: Progress | None = None
) -> None:
    """Bring the objects (ids the remote advertises) and what they reach; no ref changes."""
    wanted = "".join(f"{sha}\n" for sha in dict.fromkeys(shas))
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--no-prune"]
    args += ["--progress" if progress else "--no-progress", "--stdin", "--", remote]
    run_remote_git(repo, args, remote, stdin=wanted.encode(), progress=progress)
