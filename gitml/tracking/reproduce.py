"""A run's code without its record: checked before it is written anywhere, as a tree
or a commit, and on a branch (`branch_from_run`). Restored into the work tree by
`gitml.tracking.checkout`; run again by `gitml.projects.rerun`.
"""

from gitml.errors import InvalidValueError
from gitml.store.gitcmd import run_git
from gitml.store.layout import RECORD_DIR
from gitml.store.repository import Repository
from gitml.tracking.record import RunSummary

CODE_PATHSPEC = ["--", ".", f":(exclude){RECORD_DIR}"]


def _git(repo: Repository, args: list[str], **kwargs) -> str:
    return run_git(args, repo.cwd, **kwargs).stdout.decode(errors="surrogateescape")


def check_code_paths(repo: Repository, commit: str, where: str) -> None:
    """Refuse a snapshot whose code would be written outside the work tree: a run
    fetched from a remote may hold `..`, `.git` or absolute-looking paths, or a file
    beneath a symbolic link (UnsafePathError, before anything is written)."""
    from gitml.store.paths import check_tree_files

    out = _git(repo, ["ls-tree", "-r", "-z", "--full-tree", commit])
    entries = []
    for line in out.split("\0"):
        info, tab, path = line.partition("\t")
        if tab and not path.startswith(RECORD_DIR + "/"):
            entries.append((path, int(info.split(" ", 1)[0], 8)))
    check_tree_files(entries, where)


def code_tree(repo: Repository, commit: str) -> str:
    """The tree of a run's snapshot (its commit) without `.gitml/`."""
    entries = _git(repo, ["ls-tree", "-z", commit])
    kept = [e for e in entries.split("\0") if e and e.split("\t", 1)[1] != RECORD_DIR]
    body = "".join(entry + "\0" for entry in kept)
    return _git(repo, ["mktree", "-z"], input=body.encode(errors="surrogateescape")).strip()


def code_commit(repo: Repository, run: RunSummary, commit: str) -> str:
    """A commit of exactly the code of `run` (whose commit is `commit`), parented on the
    run's base."""
    parents = ["-p", run.base] if run.base else []
    message = commit_message(f"Code of gitml run {run.name}\n\nGitml-Source-Run: {run.id}\n")
    return _git(
        repo, ["commit-tree", code_tree(repo, commit), *parents, "-F", "-"], input=message
    ).strip()


def commit_message(text: str) -> bytes:
    """A commit message naming a run: git refuses NUL in one, which a fetched run's
    name may hold; undecodable bytes of its name go back as they came."""
    return text.replace("\0", "").encode(errors="surrogateescape")


def branch_from_run(repo: Repository, run: RunSummary, commit: str, branch: str) -> str:
    """Create branch `branch` at a commit holding the code of `run` (whose commit is
    `commit`); return that commit."""
    check = run_git(["check-ref-format", "--branch", branch], repo.cwd, check=False)
    if check.returncode != 0 or branch.startswith("-"):
        raise InvalidValueError(f"{branch!r} is not a valid branch name")
    ref = "refs/heads/" + branch
    if run_git(["rev-parse", "-q", "--verify", ref], repo.cwd, check=False).returncode == 0:
        raise InvalidValueError(f"branch {branch!r} already exists; choose another name")
    check_code_paths(repo, commit, f"run {run.name} ({run.id})")
    sha = code_commit(repo, run, commit)
    _git(repo, ["update-ref", "-m", f"gitml branch from run {run.id}", ref, sha, ""])
    return sha
