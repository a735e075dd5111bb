"""The two sides `gitml diff` compares and the one `gitml checkout` restores: a run
(by id, prefix or name) or, for code only, any commit git can name."""

from dataclasses import dataclass

from gitml.errors import InvalidValueError, RunNotFoundError
from gitml.store.gitcmd import EMPTY_TREE, run_git
from gitml.store.repository import Repository
from gitml.tracking.readers import open_run
from gitml.tracking.record import RunSummary


@dataclass
class Side:
    """One side of a diff: a run, or a commit standing in for code."""

    label: str
    commit: str  # a commit sha, or the empty tree for "nothing"
    run: RunSummary | None = None

    def to_json(self) -> dict:
        data = {"label": self.label, "commit": self.commit}
        if self.run is not None:
            data.update(run_id=self.run.id, name=self.run.name)
        return data


def resolve_side(repo: Repository, text: str, action: str = "compare it") -> Side:
    """A run by id, prefix or name; failing that, a commit git can name.

    A run still in progress has no commit yet: refused, saying what the caller
    wanted to do with it (`action`, e.g. "check it out")."""
    try:
        reader = open_run(repo, text)
    except RunNotFoundError as error:
        if error.candidates:
            raise
        sha = _commit_sha(repo, text)
        if sha is None:
            raise RunNotFoundError(text) from None
        return Side(text, sha)
    with reader:
        return Side(reader.summary.name, reader.commit_for(action), reader.summary)


def committed_run(repo: Repository, text: str, action: str) -> tuple[RunSummary, str]:
    """The run `text` names and its commit, if it has code to `action`: its reader
    refuses a run in progress, and a damaged run whose ref names no commit (a ref
    fetched from a remote may name a tree or a blob)."""
    with open_run(repo, text) as reader:
        return reader.summary, reader.commit_for(action)


def base_side(side: Side) -> Side:
    """The commit a run started from (the empty tree for a repository without commits)."""
    if side.run is None:
        raise InvalidValueError(
            f"{side.label} is not a run: give a second run or commit to compare it with"
        )
    base = side.run.base
    return Side(f"base {base[:12]}" if base else "empty tree", base or EMPTY_TREE)


def _commit_sha(repo: Repository, text: str) -> str | None:
    if text.startswith("-"):
        return None
    result = run_git(["rev-parse", "-q", "--verify", text + "^{commit}"], repo.cwd, check=False)
    return result.stdout.decode().strip() or None
