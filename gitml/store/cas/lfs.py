"""Git LFS on a git remote, through the `git-lfs` client (Debian's `git-lfs`).

Uploads are `git lfs push --object-id REMOTE <sha256>…`: objects go through the host's
LFS batch API, with the user's credentials, ssh (`git-lfs-authenticate`), proxies and
the host's transfer adapters as for their own LFS files, and a remote that is a path or
`file://` URL (no server) keeps them in its own `lfs/objects/`. The client needs each
object under `.git/lfs/objects/`: gitml hard-links it there (no copy) for the push and
takes the link away after. A server answers "already have it" for objects it holds;
one that took half an object (a push killed half-way) has not stored it, and the next
push sends it again.

Downloads are `git lfs smudge`, given the LFS pointer of the object: its bytes come on
stdout and are checked and stored here a block at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from gitml.errors import LargeObjectError
from gitml.store.cas.folder import BLOCK, FolderStore, TooManyBytes, WrongBytes
from gitml.store.cas.progress import start
from gitml.store.gitcmd import git_environment
from gitml.store.repository import Repository

MAX_ERROR_BYTES = 64 << 10


def lfs_pointer(sha256: str, size: int) -> bytes:
    """Git LFS's own pointer of an object (its spec v1), as `git lfs smudge` reads it."""
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha256}\nsize {size}\n".encode()


def have_git_lfs() -> bool:
    return shutil.which("git-lfs") is not None


class LfsShared:
    def __init__(self, repo: Repository, remote: str | None):
        self.repo = repo
        self.remote = remote  # None: the remote git-lfs picks (remote.lfsdefault, origin)
        self.label = f"Git LFS on {remote!r}" if remote else "Git LFS on the default remote"

    def _git(self) -> list[str]:
        if self.remote is None or "/" in self.remote or ":" in self.remote:
            return ["git"]
        return ["git", "-c", f"remote.lfsdefault={self.remote}"]

    def upload(self, local: FolderStore, sha256s: list[str]) -> None:
        if not sha256s:
            return
        if not have_git_lfs():
            raise LargeObjectError(
                "uploading large artifacts through Git LFS needs the git-lfs client, which is "
                "not installed (apt-get install git-lfs); or set gitml.largeArtifactStore to "
                "a file:// folder or s3:// bucket"
            )
        assert self.remote is not None and not self.remote.startswith("-")  # checked remote
        linked = [self._link(local, sha256) for sha256 in sha256s]
        total = sum(local.size(sha256) or 0 for sha256 in sha256s)
        transfer = start(f"uploading to {self.label}", total)
        try:
            # git-lfs's own progress file (GIT_LFS_PROGRESS) made a push 6x slower here:
            # the transfer is told once, when it is done
            done = subprocess.run(
                [*self._git(), "lfs", "push", "--object-id", self.remote, *sha256s],
                cwd=self.repo.cwd,
                env=git_environment({"GIT_TERMINAL_PROMPT": "0"}),
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            if done.returncode == 0:
                transfer.advance(total)
        finally:
            transfer.end()
            for path in linked:
                if path is not None:
                    path.unlink(missing_ok=True)
        if done.returncode != 0:
            reason = _last_line(done.stderr) or f"git-lfs exited with {done.returncode}"
            raise LargeObjectError(
                f"cannot upload large artifacts to {self.label}: {reason}; no run needing "
                "them was pushed (does the host take Git LFS objects? else set "
                "gitml.largeArtifactStore to a file:// folder or s3:// bucket)"
            )

    def _link(self, local: FolderStore, sha256: str) -> Path | None:
        """Put object `sha256` where git-lfs looks; the path when gitml made it."""
        target = self.repo.common_dir / "lfs" / "objects" / sha256[:2] / sha256[2:4] / sha256
        if target.exists():
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(local.path(sha256), target)
        except FileExistsError:
            return None
        except OSError:
            shutil.copyfile(local.path(sha256), target)
        return target

    def download(self, sha256: str, size: int, into: FolderStore) -> str | None:
        if not have_git_lfs():
            return "the git-lfs client is not installed (apt-get install git-lfs)"
        cached = self.repo.common_dir / "lfs" / "objects" / sha256[:2] / sha256[2:4] / sha256
        was_cached = cached.exists()
        process = subprocess.Popen(
            [*self._git(), "lfs", "smudge"],
            cwd=self.repo.cwd,
            env=git_environment({"GIT_TERMINAL_PROMPT": "0"}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin and process.stdout and process.stderr  # all three are pipes
        process.stdin.write(lfs_pointer(sha256, size))
        process.stdin.close()
        errors: list[bytes] = []
        reader = threading.Thread(target=_keep_head, args=(process.stderr, errors), daemon=True)
        reader.start()
        transfer = start(f"downloading from {self.label}", size)
        stdout = process.stdout
        try:
            into.put_blocks(iter(lambda: stdout.read(BLOCK), b""), sha256, transfer, False, size)
        except TooManyBytes:
            process.kill()  # what it would send after is read by nobody
            raise
        except WrongBytes:
            if process.wait() != 0:  # git-lfs failed: what it wrote is no object
                reader.join()
                return _last_line(b"".join(errors)) or "git-lfs failed"
            raise
        finally:
            transfer.end()
            stdout.close()
            process.wait()
            reader.join()
            if not was_cached:  # git-lfs kept a copy of its own: one is enough
                cached.unlink(missing_ok=True)
        return None


def _keep_head(stream, kept: list[bytes]) -> None:
    size = 0
    while chunk := stream.read(4096):
        if size < MAX_ERROR_BYTES:
            kept.append(chunk)
            size += len(chunk)


def _last_line(data: bytes) -> str:
    """What git-lfs said last: its last two lines (a reason, then what to check)."""
    lines = [
        line.strip()
        for line in data.decode(errors="replace").splitlines()
        if line.strip() and not line.startswith(("Errors logged to", "Use `git lfs logs"))
    ]
    return " ".join(lines[-2:])
