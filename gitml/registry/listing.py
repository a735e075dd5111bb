"""What a remote holds of the registry, read from `git ls-remote` lines: kept apart
from `gitml.registry.transfer` so that `gitml push` and `gitml fetch` can ask for the
registry in the same listing as the runs (one round trip) without importing the
registry's transfer when there is nothing of it to move."""

from dataclasses import dataclass

from gitml.registry.tags import parse_tag
from gitml.registry.tagstore import TAGS_PREFIX

LAST_PUSH_REF = "refs/gitml-registry/last-push"
PATTERNS = (f"{TAGS_PREFIX}*", LAST_PUSH_REF)  # what `git ls-remote` is asked for
_PEELED = "^{}"


@dataclass(frozen=True)
class RemoteRegistry:
    """What a remote holds of the registry, from one `git ls-remote`."""

    tags: dict[str, str]  # annotated registry tags: name → tag object
    names: frozenset[str] = frozenset()  # every tag name, registry event or not
    last_push: str | None = None  # LAST_PUSH_REF


def parse_registry_listing(lines: list[tuple[str, str]]) -> RemoteRegistry:
    """The registry in `git ls-remote` lines, (sha, ref) each (peeled lines included:
    they say which tags are annotated)."""
    shas: dict[str, str] = {}
    annotated: set[str] = set()
    names: set[str] = set()
    last_push = None
    for sha, ref in lines:
        if ref == LAST_PUSH_REF:
            last_push = sha
            continue
        if not ref.startswith(TAGS_PREFIX):
            continue
        name = ref.removeprefix(TAGS_PREFIX)
        if name.endswith(_PEELED):
            annotated.add(name[: -len(_PEELED)])
            continue
        names.add(name)
        if parse_tag(name) is not None:
            shas[name] = sha
    tags = {name: sha for name, sha in shas.items() if name in annotated}
    return RemoteRegistry(tags, frozenset(names), last_push)
