"""Saved views: a name for a runs page's query string, kept under `refs/gitml/views/<name>`.

A view is a commit whose tree holds one file, `view.txt`: the page's query string
(`filter=…&sort=…&columns=…`). Saving a view again makes a child of its last commit, so
pushing it fast-forwards the remote's; `gitml push` and `gitml fetch` move these refs
with the runs (`gitml.sharing.refspecs.VIEWS`), and plain `git fetch` after
`gitml remote setup` too.

A view ref fetched from a clone is hostile: it may name a blob, a tree or a commit
whose tree holds anything, of any size. Listing never fails on one: each view comes
with its query or with what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitml.errors import InvalidValueError
from gitml.store.gitcmd import run_git
from gitml.store.refs import VIEWS_PREFIX
from gitml.store.repository import Repository
from gitml.values import shown

VIEW_FILE = "view.txt"
MAX_VIEW_BYTES = 8 << 10  # a query string; a view's point is a short one
MAX_VIEWS = 1_000  # listed at most
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class View:
    name: str
    query: str | None  # None when it cannot be read: `problem` says why
    commit: str
    problem: str | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "query": self.query,
            "commit": self.commit,
            "problem": self.problem,
        }


def check_view_name(name: object) -> str:
    """A name a view can have: letters, digits, `_`, `.`, `-`, up to 100, not starting
    with a punctuation mark, no `..`, not ending in `.lock` or `.` (git's ref rules)."""
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or ".." in name
        or name.endswith((".lock", "."))
    ):
        raise InvalidValueError(
            f"a view name is letters, digits, '_', '.' and '-' (up to 100, starting with a "
            f"letter or digit), got {shown(str(name))}"
        )
    return name


def check_query(query: object) -> str:
    if not isinstance(query, str):
        raise InvalidValueError("a view's query must be text")
    if len(query.encode()) > MAX_VIEW_BYTES:
        raise InvalidValueError(f"a view's query is over {MAX_VIEW_BYTES} bytes")
    if _CONTROL.search(query):
        raise InvalidValueError("a view's query holds a control character")
    return query


def list_views(repo: Repository) -> list[View]:
    """Every view, by name; a view that cannot be read is listed with its problem."""
    from gitml.store.blobs import ObjectReader

    listing = run_git(
        ["for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)", VIEWS_PREFIX],
        repo.cwd,
    ).stdout.decode(errors="replace")
    views = []
    with ObjectReader(repo) as objects:
        for line in listing.splitlines()[:MAX_VIEWS]:
            ref, _, rest = line.partition("\x00")
            sha, _, kind = rest.partition("\x00")
            views.append(_read(objects, ref[len(VIEWS_PREFIX) :], sha, kind))
    return views


def _read(objects, name: str, sha: str, kind: str) -> View:
    def damaged(problem: str) -> View:
        return View(name, None, sha, problem)

    if kind == "blob":
        blob_id = sha
    elif kind == "commit":
        commit = objects.commit(sha, MAX_VIEW_BYTES)
        tree = objects.tree(commit.tree) if commit is not None else None
        entry = next((e for e in tree or [] if e.name == VIEW_FILE and e.is_file), None)
        if entry is None:
            return damaged(f"its commit holds no {VIEW_FILE}")
        blob_id = entry.id
    else:
        return damaged(f"its ref names a {kind}, not a commit")
    found = objects.read(blob_id, MAX_VIEW_BYTES, kind="blob")
    if found is None:
        return damaged(f"its {VIEW_FILE} cannot be read")
    if found.data is None:
        return damaged(f"its query is over {MAX_VIEW_BYTES} bytes")
    try:
        query = check_query(found.data.decode())
    except (UnicodeDecodeError, InvalidValueError):
        return damaged("its query is not one line of text")
    try:
        check_view_name(name)
    except InvalidValueError:
        return damaged("its name is not a view name")
    return View(name, query, sha)


def save_view(repo: Repository, name: object, query: object) -> View:
    """Save `query` as view `name` (a new commit on top of the view's last one)."""
    from gitml.store.objects import ObjectStore
    from gitml.tracking.identity import user_identity

    name, query = check_view_name(name), check_query(query)
    ref = VIEWS_PREFIX + name
    found = run_git(["rev-parse", "-q", "--verify", ref], repo.cwd, check=False)
    old = found.stdout.decode().strip()
    kind = run_git(["cat-file", "-t", old], repo.cwd, check=False) if old else None
    parents = [old.encode()] if kind is not None and kind.stdout.strip() == b"commit" else []
    with ObjectStore(repo) as store:
        tree = store.write_tree_of_files({VIEW_FILE: query.encode()})
        commit = store.write_commit(tree, parents, f"view {name}\n", user_identity(repo))
    sha = commit.decode()
    # compare-and-swap: a view saved meanwhile by another writer is not overwritten
    run_git(["update-ref", "-m", f"gitml ui: save view {name}", ref, sha, old], repo.cwd)
    return View(name, query, sha)


def delete_view(repo: Repository, name: str) -> bool:
    """Delete view `name`; False when there is none."""
    check_view_name(name)
    ref = VIEWS_PREFIX + name
    found = run_git(["rev-parse", "-q", "--verify", ref], repo.cwd, check=False)
    if not found.stdout.strip():
        return False
    run_git(["update-ref", "-d", ref, found.stdout.decode().strip()], repo.cwd)
    return True
