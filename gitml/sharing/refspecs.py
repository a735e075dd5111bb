"""The refspecs gitml gives git: built in one place.

Run refspecs are never forced (no leading `+`): a run is immutable and its id
unique, so a transfer that would rewrite an existing run ref is refused by git.
git still fast-forwards a ref, so gitml never fetches into a run ref that
exists (see `gitml.sharing.transfer`).
"""

from collections.abc import Iterator

from gitml.store.refs import (
    ARCHIVE_PREFIX,
    EXPERIMENTS_PREFIX,
    RUNS_PREFIX,
    SWEEPS_PREFIX,
    VIEWS_PREFIX,
    run_ref,
)

# Every run ref at once. git matches each explicit refspec against every local
# ref (quadratic: seconds for a thousand runs), a pattern in one pass; so when
# the selection is "every run the other side lacks", the pattern is used and
# git itself skips the refs both sides already have.
ALL_RUNS = f"{RUNS_PREFIX}*:{RUNS_PREFIX}*"

# Every archive ref, not forced: into a repository that has none (a first fetch); an
# archive ref that exists moves only through gitml.sharing.archives.
ARCHIVES = f"{ARCHIVE_PREFIX}*:{ARCHIVE_PREFIX}*"

# Every saved view of `gitml ui`, not forced: saving a view again makes a child of its
# last commit, so a view moves by fast-forward and one changed on both sides is left alone.
VIEWS = f"{VIEWS_PREFIX}*:{VIEWS_PREFIX}*"

# Every sweep's record (gitml sweep), not forced either: a sweep's record only moves
# forward (its end is a child of its start), and its first parent is the code its
# trials ran, which travels with it.
SWEEPS = f"{SWEEPS_PREFIX}*:{SWEEPS_PREFIX}*"

# Every experiment's record (MLflow's experiment tags, deletion, renames), not forced:
# a change is a child commit of the record's last, so one changed on both sides is
# left alone as a view is.
EXPERIMENTS = f"{EXPERIMENTS_PREFIX}*:{EXPERIMENTS_PREFIX}*"

# What `gitml remote setup` adds to a remote's fetch refspecs, so that plain `git fetch`
# brings them too: each kind by its own folder, never refs/gitml/* whole, which would
# bring a remote's ref named refs/gitml/runs (or archive, …) where git keeps the folder
# of those refs here, and no run could be recorded again.
FETCH_KINDS = [ALL_RUNS, ARCHIVES, VIEWS, SWEEPS, EXPERIMENTS]
OLD_FETCH_ALL = "refs/gitml/*:refs/gitml/*"  # what it added before; replaced by FETCH_KINDS

# Refspecs per `git push`: far below the kernel's argument limit (2 MiB on
# Linux; a run refspec is about 85 bytes) while 1,000 runs still go in one push.
PUSH_BATCH = 5000


def transfer_refspec(run_id: str) -> str:
    """Same name on both sides, not forced: used for push and for fetch."""
    ref = run_ref(run_id)
    return f"{ref}:{ref}"


def delete_refspec(run_id: str) -> str:
    return ":" + run_ref(run_id)


def batches(items: list[str], size: int = PUSH_BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
