"""Registry tags in the repository: list them in one git call, create and delete them.

Listing reads every tag under refs/tags with one `git for-each-ref` and keeps
the annotated tags on commits whose names parse as registry events;
lightweight tags and foreign names are skipped, never guessed at.

Creating writes a tag object in-process (dulwich) and then points the tag ref
at it with a create-only update, so an existing tag is never moved.
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitml.registry.tags import TagName, parse_tag
from gitml.store.gitcmd import run_git
from gitml.store.refs import create_ref
from gitml.store.repository import Repository

if TYPE_CHECKING:  # dulwich is imported only when a tag is written
    from gitml.store.objects import Identity

TAGS_PREFIX = "refs/tags/"
_FIELDS = (
    "%(refname)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objecttype)",
    "%(*objectname)",
    "%(taggername)",
    "%(taggeremail)",
    "%(taggerdate:unix)",
    "%(contents)",
    "%(contents:signature)",
)
_FIELD = "\x00"
_RECORD = "\x1e"


@dataclass(frozen=True)
class RegistryTag:
    """One annotated registry tag as git stores it."""

    name: str
    parsed: TagName
    sha: str  # the tag object
    commit: str  # what it points at
    tagger: str
    email: str
    time: int
    message: str


def list_registry_tags(repo: Repository) -> list[RegistryTag]:
    """Every annotated registry tag on a commit: one `git for-each-ref`."""
    out = run_git(
        ["for-each-ref", "--format=" + "%00".join(_FIELDS) + "%1e", TAGS_PREFIX], repo.cwd
    ).stdout.decode(errors="surrogateescape")
    found = []
    for record in out.split(_RECORD):
        record = record.lstrip("\n")
        if not record:
            continue
        ref, kind, sha, target_kind, target, tagger, email, when, message, signature = record.split(
            _FIELD, 9
        )
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag(name)
        if parsed is None or kind != "tag" or target_kind != "commit":
            continue
        found.append(
            RegistryTag(
                name=name,
                parsed=parsed,
                sha=sha,
                commit=target,
                tagger=tagger,
                email=email.strip("<>"),
                time=int(when) if when.isdigit() else 0,
                message=message.removesuffix(signature) if signature else message,
            )
        )
    return found


def list_tag_names(repo: Repository) -> set[str]:
    """The names of every tag, registry or not, annotated or lightweight."""
    out = run_git(["for-each-ref", "--format=%(refname)", TAGS_PREFIX], repo.cwd).stdout
    return {line[len(TAGS_PREFIX) :] for line in out.decode(errors="surrogateescape").splitlines()}


def create_tag(
    repo: Repository,
    name: str,
    commit: str,
    message: str,
    tagger: "Identity",
    when: tuple[int, int] | None = None,
) -> str:
    """Create annotated tag `name` on `commit`; RefExistsError if the name is taken.

    `when` is (unix time, timezone offset in seconds); now by default.
    Returns the tag object's sha.
    """
    from dulwich.object_store import DiskObjectStore
    from dulwich.objects import Commit, Tag

    tag = Tag()
    tag.name = name.encode()
    tag.object = (Commit, commit.encode())
    tag.tagger = tagger.as_bytes()
    tag.tag_time, tag.tag_timezone = when or (int(time.time()), _local_offset())
    tag.message = message.encode()
    store = DiskObjectStore(str(repo.common_dir / "objects"))
    try:
        store.add_object(tag)
    finally:
        store.close()
    sha = tag.id.decode()
    create_ref(repo, TAGS_PREFIX + name, sha, message=f"gitml: registry {name}")
    return sha


def copy_tag(repo: Repository, old: RegistryTag, new_name: str) -> str:
    """A new tag `new_name` with the target, tagger, time and message of `old`."""
    from dulwich.object_store import DiskObjectStore

    from gitml.store.objects import Identity

    store = DiskObjectStore(str(repo.common_dir / "objects"))
    try:
        original = store[old.sha.encode()]
    finally:
        store.close()
    name, _, email = original.tagger.decode().rpartition(" <")
    return create_tag(
        repo,
        new_name,
        old.commit,
        original.message.decode(),
        Identity(name, email.rstrip(">")),
        when=(original.tag_time, original.tag_timezone),
    )


def delete_tag(repo: Repository, name: str, sha: str) -> None:
    """Delete tag `name` if it still holds `sha` (compare-and-swap)."""
    run_git(["update-ref", "-d", TAGS_PREFIX + name, sha], repo.cwd)


def _local_offset() -> int:
    return -time.timezone if time.localtime().tm_isdst == 0 else -time.altzone
