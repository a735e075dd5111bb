"""Helpers shared by the tests: real git, real gitml processes."""

import base64
import hashlib
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bench/ imports these helpers without pytest
    from collections.abc import Callable

    import pytest


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run real git in `repo` and return stdout."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def cli(repo: Path, *args: str, env: dict | None = None):
    """`gitml ARGS` in-process (click's CliRunner): for looking at runs, where a
    child process is not the point. Asserts success."""
    from click.testing import CliRunner

    from gitml.cli.main import cli as main_cli

    result = CliRunner().invoke(main_cli, ["-C", str(repo), *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def gitml(repo: Path, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `gitml` command line in a child process."""
    result = subprocess.run(
        [sys.executable, "-m", "gitml", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"gitml {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def assert_fsck_clean(repo: Path) -> None:
    result = subprocess.run(
        ["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad = [line for line in result.stdout.splitlines() if not line.startswith("dangling")]
    assert not bad, bad


def user_state(repo: Path) -> dict:
    """Everything `gitml run` must leave byte-for-byte as it was."""
    index = repo / ".git" / "index"
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "index": index.read_bytes() if index.exists() else None,
        "HEAD": (repo / ".git" / "HEAD").read_bytes(),
        "head_sha": git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False),
        "branches": git(repo, "for-each-ref", "refs/heads"),
        "stash": git(repo, "stash", "list"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),  # none left behind
        "status": git(
            repo, "--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all"
        ),
        "files": files,
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated(monkeypatch: "pytest.MonkeyPatch", home: Path) -> Path:
    """Point HOME, XDG folders and git's global config at `home`; drop GIT_*/GITML_* variables."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "GITML_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    gitconfig = write(
        home / ".gitconfig",
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n',
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def build_wheel(folder: Path, name: str, version: str, code: str) -> Path:
    """A pure-Python wheel written by hand (no build backend, no network)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": code,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: gitml-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def write_runs_fast(
    repo: Path,
    count: int,
    fields: "Callable[[int], dict] | None" = None,
    packed: bool = True,
    first_ms: int = 1_700_000_000_000,
) -> list[str]:
    """`count` finished runs on HEAD, written as gitml writes them but thousands a
    second: each a commit whose message is gitml's (`build_message`) and whose tree is
    HEAD's plus `.gitml/run.json`, `params.yaml` and a `metrics/<key>.tsv` per metric
    (`RunRecord.to_json(stored=True)`, `params_yaml`, `key_to_filename`), all through
    one `git fast-import`. Their refs become lines of packed-refs (`packed`, as after
    `git gc`; a million loose files would cost more than the runs), else loose files.
    `fields(i)`: run i's name, params, metrics, tags, experiment. Returns the run ids,
    oldest first."""
    import json

    from gitml.store.ids import new_run_id
    from gitml.tracking.commit import params_yaml
    from gitml.tracking.model import RunRecord
    from gitml.tracking.record import MetricSummary, build_message, format_float, key_to_filename

    head = git(repo, "rev-parse", "HEAD").strip()
    stream = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done", f"--export-marks={repo / '.git' / 'marks'}"],
        cwd=repo,
        stdin=subprocess.PIPE,
    )
    assert stream.stdin is not None
    ids = []

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    for i in range(count):
        chosen = {
            "name": f"run-{i}",
            "params": {},
            "metrics": {},
            "tags": {},
            **(fields or dict)(i),
        }
        start = first_ms + i * 1000
        run_id = new_run_id(start)
        ids.append(run_id)
        record = RunRecord(
            id=run_id,
            name=chosen["name"],
            experiment=chosen.get("experiment", "main"),
            status="finished",
            start_ms=start,
            exit_code=0,
            command=["python", "train.py"],
            cwd=".",
            params=chosen["params"],
            tags=chosen["tags"],
            metrics={k: MetricSummary(v, v, v, 1, 0) for k, v in chosen["metrics"].items()},
            end_ms=start + 500,
            user="bench",
            base=head,
            branch="main",
            dirty=False,
            commit=None,
        )
        files = {
            ".gitml/run.json": json.dumps(record.to_json(stored=True), indent=2),
            ".gitml/params.yaml": params_yaml(record.params),
        }
        for key, value in chosen["metrics"].items():
            files[f".gitml/metrics/{key_to_filename(key)}"] = f"0\t{format_float(value)}\t{start}\n"
        chunk = [
            b"reset refs/gitml/fast-import\ncommit refs/gitml/fast-import\n",
            b"mark :%d\ncommitter bench <bench@example.com> %d +0000\n" % (i + 1, start // 1000),
            data(build_message(record.summary())),
            f"from {head}\n".encode(),
        ]
        for path, text in files.items():
            chunk += [f"M 100644 inline {path}\n".encode(), data(text)]
        stream.stdin.write(b"".join(chunk))
    stream.stdin.write(b"done\n")
    stream.stdin.close()
    assert stream.wait() == 0
    git(repo, "update-ref", "-d", "refs/gitml/fast-import")
    marks = (repo / ".git" / "marks").read_text().split()
    shas = dict(zip(marks[0::2], marks[1::2], strict=True))
    lines = [f"{shas[f':{i + 1}']} refs/gitml/runs/{run_id}" for i, run_id in enumerate(ids)]
    (repo / ".git" / "marks").unlink()
    if not packed:
        updates = "".join(f"create {line.split()[1]} {line.split()[0]}\n" for line in lines)
        subprocess.run(
            ["git", "update-ref", "--stdin"], cwd=repo, input=updates.encode(), check=True
        )
        return ids
    git(repo, "pack-refs", "--all")
    path = repo / ".git" / "packed-refs"
    entries: dict[str, list[str]] = {}  # ref → its line and the peeled line after it
    last = ""
    for line in path.read_text().splitlines():
        if line.startswith("^"):
            entries[last].append(line)  # a peeled line follows its ref
        elif not line.startswith("#"):
            last = line.split(" ", 1)[1]
            entries[last] = [line]
    for line in lines:
        entries[line.split(" ", 1)[1]] = [line]
    body = "".join(f"{line}\n" for ref in sorted(entries) for line in entries[ref])
    path.write_text("# pack-refs with: peeled fully-peeled sorted \n" + body)
    return ids


def wait_until(condition: "Callable[[], bool]", what: str, timeout: float = 60.0) -> None:
    """Return once `condition()` holds (checked every 20 ms), or fail after `timeout`
    seconds saying `what` was awaited: for what another process does in its own time."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting, after {timeout} s, for {what}"
        time.sleep(0.02)
