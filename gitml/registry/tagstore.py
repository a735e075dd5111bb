"""Registry tags in the repository: list and read them, create them, rename them.

Listing is one `git for-each-ref` over refs/tags, limited by patterns to the
names that can be registry tags; it keeps the annotated tags on commits whose
names parse as registry events. Lightweight tags and foreign names are
skipped, never guessed at.

Creating writes a tag object with `git mktag` (the tagger is written into the
object, never passed through the environment) and then points the tag ref at
it with a create-only update, so an existing tag is never moved. Renaming
(only events never pushed anywhere are renamed) writes new tag objects and
changes every ref in one git transaction.
"""

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from gitml.registry.tags import TagName, parse_tag
from gitml.store.gitcmd import RECORD_FORMAT, git_records, run_git
from gitml.store.refs import create_ref
from gitml.store.repository import Repository

TAGS_PREFIX = "refs/tags/"
REGISTRY_LOCK = "registry"  # held by every writer of registry tags (gitml.store.locks)
# The tag's own header fields (%(type), %(object), %(tagger)) rather than the
# peeled ones (%(*objecttype)): git then reads each tag object once and never
# the commit behind it, which halves the listing time at 2,500 tags.
_FIELDS = (
    "%(refname)",
    "%(objecttype)",
    "%(objectname)",
    "%(type)",
    "%(object)",
    "%(tagger)",
    "%(contents)",
)
# Every registry tag name holds '@' or '#' in its last path component; other
# tags (v1.0, release-2) are then skipped without reading their objects.
_REGISTRY_PATTERNS = [f"{TAGS_PREFIX}**/*@*", f"{TAGS_PREFIX}**/*#*"]
_FIELD = b"\x00"
# A registry tag's message is a sentence, a note and a few trailers. A longer one (from a
# remote) is not read: the event stands, without its run, artifact or note.
MAX_TAG_MESSAGE_BYTES = 1 << 20
OVERSIZED_MESSAGE = "(damaged: this tag's message is over 1 MiB; gitml did not read it)"
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


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


def list_registry_tags(repo: Repository, model: str | None = None) -> list[RegistryTag]:
    """Every annotated registry tag on a commit (of `model` only, when given): one
    `git for-each-ref`, which reads the objects of the matching tags only."""
    patterns = _REGISTRY_PATTERNS if model is None else _model_patterns(model)
    args = ["for-each-ref", "--format=" + "%00".join(_FIELDS) + RECORD_FORMAT, *patterns]
    found = []
    for record, oversized in git_records(args, repo.cwd, MAX_TAG_MESSAGE_BYTES):
        fields = record.split(_FIELD, 6)
        if len(fields) < 7:
            continue  # over the bound before its message began: a tagger line of megabytes
        # Text to show, never written back (renaming copies the tag object): what is no
        # UTF-8 shows as U+FFFD. A name that is none is no registry tag anyway.
        ref, kind, sha, target_kind, target, tagger, message = (
            field.decode(errors="replace") for field in fields
        )
        if oversized:
            message = OVERSIZED_MESSAGE
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag(name)
        if parsed is None or kind != "tag" or target_kind != "commit":
            continue
        if model is not None and parsed.model != model:
            continue
        found.append(_registry_tag(name, parsed, sha, target, tagger, message))
    return found


def _registry_tag(
    name: str, parsed: TagName, sha: str, commit: str, tagger: str, message: str
) -> RegistryTag:
    """A RegistryTag from a tag's fields as git prints them (`Name <email> time zone`)."""
    ident, when, _ = tagger.rsplit(" ", 2) if tagger.count(" ") >= 2 else (tagger, "", "")
    author, _, email = ident.rpartition(" <")
    return RegistryTag(
        name=name,
        parsed=parsed,
        sha=sha,
        commit=commit,
        tagger=author,
        email=email.rstrip(">"),
        time=int(when) if when.isascii() and when.isdigit() and len(when) < 20 else 0,
        message=_without_signature(message),
    )


def read_tags(repo: Repository, tags: dict[str, str]) -> list[RegistryTag]:
    """The registry tags among `tags` (name → tag object sha, the objects present
    here, their refs maybe not): one `git cat-file --batch`. A name that is no
    registry tag, or an object that is no annotated tag on a commit, is left out."""
    wanted: dict[str, tuple[str, TagName]] = {}
    for name, sha in tags.items():
        parsed = parse_tag(name)
        if parsed is not None:
            wanted[name] = (sha, parsed)
    objects = read_objects(repo, [sha for sha, _ in wanted.values()])
    found = []
    for name in sorted(wanted):
        sha, parsed = wanted[name]
        kind, body = objects.get(sha, ("missing", b""))
        header, _, message = body.decode(errors="surrogateescape").partition("\n\n")
        fields: dict[str, str] = {}
        for line in header.split("\n"):
            key, _, value = line.partition(" ")
            fields.setdefault(key, value)
        target = fields.get("object", "")
        if kind != "tag" or fields.get("type") != "commit" or not _SHA.match(target):
            continue
        found.append(_registry_tag(name, parsed, sha, target, fields.get("tagger", ""), message))
    return found


def read_objects(repo: Repository, shas: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """sha → (type, raw content) of the objects present here: one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = run_git(
        ["cat-file", "--batch"], repo.cwd, input="".join(f"{sha}\n" for sha in wanted).encode()
    ).stdout
    objects = {}
    position = 0
    while position < len(out):
        end = out.index(b"\n", position)
        fields = out[position:end].decode().split(" ")
        position = end + 1
        if len(fields) != 3:  # "<sha> missing"
            continue
        sha, kind, size = fields[0], fields[1], int(fields[2])
        objects[sha] = (kind, out[position : position + size])
        position += size + 1
    return objects


def _without_signature(message: str) -> str:
    """The message above a PGP, X.509 or SSH signature, as git splits it off."""
    if message.startswith("-----BEGIN "):
        return ""
    start = message.find("\n-----BEGIN ")
    return message if start < 0 else message[: start + 1]


def _model_patterns(model: str) -> list[str]:
    """for-each-ref patterns (`*` stops at '/') matching every tag name of `model`."""
    base = TAGS_PREFIX + model
    return [f"{base}@*", f"{base}#*", f"{base}#*/**"]


def list_tag_names(repo: Repository) -> set[str]:
    """The names of every tag, registry or not, annotated or lightweight."""
    out = run_git(["for-each-ref", "--format=%(refname)", TAGS_PREFIX], repo.cwd).stdout
    return {line[len(TAGS_PREFIX) :] for line in out.decode(errors="surrogateescape").splitlines()}


def create_tag(
    repo: Repository,
    name: str,
    commit: str,
    message: str,
    tagger: str,
    when: tuple[int, int] | None = None,
) -> str:
    """Create annotated tag `name` on `commit`; RefExistsError if the name is taken.

    `tagger` is `Name <email>`; `when` is (unix time, timezone offset in
    seconds), now by default. Returns the tag object's sha.
    """
    seconds, offset = when or (int(time.time()), _local_offset())
    body = (
        f"object {commit}\ntype commit\ntag {name}\n"
        f"tagger {tagger} {seconds} {_format_offset(offset)}\n\n{message}"
    )
    return _write_tag(repo, name, body.encode())


def present_objects(repo: Repository, shas: Iterable[str]) -> set[str]:
    """Which of `shas` this repository has: one `git cat-file --batch-check`."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return set()
    out = run_git(
        ["cat-file", "--batch-check=%(objectname)"],
        repo.cwd,
        input="".join(f"{sha}\n" for sha in wanted).encode(),
    ).stdout.decode()
    return {line for line in out.splitlines() if " " not in line}


def renamed_tags(repo: Repository, renames: list[tuple[RegistryTag, str, str | None]]) -> list[str]:
    """For each (old tag, name, message): write a tag object with the target, tagger and
    time of the old tag, named `name`, holding `message` (None: the old message byte
    for byte). Returns their shas; no ref is created (`update_tags` does that)."""
    objects = read_objects(repo, [old.sha for old, _, _ in renames])
    shas = []
    for old, name, message in renames:
        header, _, rest = objects[old.sha][1].partition(b"\n\n")
        lines = [
            f"tag {name}".encode() if line.startswith(b"tag ") else line
            for line in header.split(b"\n")
            if message is None or line.split(b" ", 1)[0] in (b"object", b"type", b"tag", b"tagger")
        ]
        body = rest if message is None else message.encode(errors="surrogateescape")
        shas.append(_make_tag(repo, b"\n".join(lines) + b"\n\n" + body))
    return shas


def _write_tag(repo: Repository, name: str, body: bytes) -> str:
    sha = _make_tag(repo, body)
    create_ref(repo, TAGS_PREFIX + name, sha, message=f"gitml: registry {name}")
    return sha


def _make_tag(repo: Repository, body: bytes) -> str:
    """`git mktag` checks and stores the object (a process costs less than importing
    dulwich's object store)."""
    return run_git(["mktag"], repo.cwd, input=body).stdout.decode().strip()


def update_tags(repo: Repository, changes: dict[str, tuple[str | None, str | None]]) -> None:
    """Change tag refs in one `git update-ref --stdin` transaction, all or none: each
    name → (its new tag object, None to delete it; the object it holds now, None when
    it must not exist yet). A tag that moved meanwhile makes the whole change fail."""
    commands = []
    for name, (new, old) in sorted(changes.items()):
        ref = TAGS_PREFIX + name
        if new is None:
            commands.append(f"delete {ref} {old}\n")
        elif old is None:
            commands.append(f"create {ref} {new}\n")
        else:
            commands.append(f"update {ref} {new} {old}\n")
    if commands:
        run_git(["update-ref", "--stdin"], repo.cwd, input="".join(commands).encode())


def tagger_ident(repo: Repository) -> str:
    """`Name <email>` as `git tag` would write it: the committer identity."""
    from gitml.tracking.identity import user_identity

    return user_identity(repo, "committer").as_bytes().decode()


def _local_offset() -> int:
    return -time.timezone if time.localtime().tm_isdst == 0 else -time.altzone


def _format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
