"""Run the git executable.

gitml calls `git` directly through `subprocess`, never through GitPython:
importing GitPython costs about 50 ms, a third of the time budget of `gitml run`
(commands that talk to a remote: `gitml.store.gitproc`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

from gitml.errors import GitCommandError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the tree with nothing in it


# How long a git child of gitml waits for a ref's lock or packed-refs' lock held by
# another git (git's own defaults: 0.1 s and 1 s): a `git pack-refs` or `git gc`, or
# another gitml command writing refs, holds one for longer under load, and a fold or a
# removal then failed half-way. The user's own GIT_CONFIG_* or `git -c` settings win.
REF_LOCK_WAIT = {"core.filesRefLockTimeout": "10000", "core.packedRefsTimeout": "10000"}


def git_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a git child: the user's, plus `extra`, in the C locale, with
    REF_LOCK_WAIT."""
    env = with_git_config(dict(os.environ), REF_LOCK_WAIT, first=True)
    env["LC_ALL"] = "C"
    env.pop("GIT_INDEX_FILE", None)
    if extra:
        env.update(extra)
    return env


def with_git_config(env: dict[str, str], pairs: dict[str, str], first: bool = False) -> dict:
    """`env` (changed in place, and returned) giving git the config `pairs` as `git -c`
    does, through GIT_CONFIG_COUNT, after those it gives already (a key set twice: the
    last wins), or before them with `first`."""
    given = env.get("GIT_CONFIG_COUNT", "")
    count = int(given) if given.isdigit() else 0
    added = list(pairs.items())
    if first:
        for index in reversed(range(count)):  # theirs move up, after ours
            for part in ("KEY", "VALUE"):
                env[f"GIT_CONFIG_{part}_{index + len(added)}"] = env.get(
                    f"GIT_CONFIG_{part}_{index}", ""
                )
    start = 0 if first else count
    for index, (key, value) in enumerate(added, start):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    env["GIT_CONFIG_COUNT"] = str(count + len(added))
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


def git_output(args: list[str], cwd: str) -> str:
    """Run git and return its stdout as text, trailing newline removed."""
    return run_git(args, cwd).stdout.decode(errors="surrogateescape").rstrip("\n")


# Records of `git for-each-ref --format=...%00%1e`: git prints a message only up to its
# first NUL, so no message (written by whoever pushed it) can end a record early or
# forge another.
RECORD_FORMAT = "%00%1e"
_RECORD_END = b"\x00\x1e"
_HEAD_BYTES = 4096  # what is kept of a record over the limit: its first fields


def git_records(args: list[str], cwd: str, limit: int) -> Iterator[tuple[bytes, bool]]:
    """The records git prints for `args` (each ended by RECORD_FORMAT, leading newline
    left out), read as they come, and whether each was over `limit` bytes: then only
    its first 4 KiB come, and the rest is never held in memory."""
    import tempfile

    # stderr into a file: a pipe nobody reads until stdout ends would stop git once it
    # has written 64 KiB of warnings (one per broken ref, say)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=git_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        with process:
            for record, oversized in _records(process.stdout, limit):
                yield record.lstrip(b"\n"), oversized
        if process.returncode != 0:
            errors.seek(0)
            detail = errors.read(1 << 16).decode(errors="replace")
            raise GitCommandError(args, detail, process.returncode)


def _records(stream, limit: int) -> Iterator[tuple[bytes, bool]]:
    buffer = bytearray()
    head: bytes | None = None  # the start of a record too long to keep
    while chunk := stream.read(1 << 16):
        searched = max(0, len(buffer) - len(_RECORD_END) + 1)
        buffer += chunk
        start = 0
        while (end := buffer.find(_RECORD_END, max(start, searched))) >= 0:
            if head is not None:
                yield head, True
                head = None
            else:
                yield bytes(buffer[start:end]), False
            start = end + len(_RECORD_END)
        del buffer[:start]
        if len(buffer) > limit:
            if head is None:
                head = bytes(buffer[:_HEAD_BYTES])
            del buffer[: 1 - len(_RECORD_END)]  # keep what may be the start of the end
