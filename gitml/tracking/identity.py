"""Who writes run commits and registry tags: the user's git identity."""

import os
from typing import TYPE_CHECKING

from gitml.store.repository import Repository, config_value

if TYPE_CHECKING:
    from gitml.store.objects import Identity

FALLBACK_IDENTITY = ("gitml", "gitml@localhost")


def user_identity(repo: Repository) -> "Identity":
    """The user's git identity (environment, repository config, global config), or a
    fixed fallback: recording must not fail for lack of `user.email`."""
    from gitml.store.objects import Identity

    name = os.environ.get("GIT_AUTHOR_NAME") or config_value(repo, "user", "name")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or config_value(repo, "user", "email")
    if not (name and email):
        global_name, global_email = _global_identity()
        name, email = name or global_name, email or global_email
    return Identity(name or FALLBACK_IDENTITY[0], email or FALLBACK_IDENTITY[1])


def _global_identity() -> tuple[str | None, str | None]:
    from dulwich.config import StackedConfig

    config = StackedConfig.default()

    def get(key: bytes) -> str | None:
        try:
            return config.get((b"user",), key).decode()
        except KeyError:
            return None

    return get(b"name"), get(b"email")
