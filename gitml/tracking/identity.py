"""Who writes run commits and registry tags: the user's git identity, found as git finds it."""

import os
from typing import TYPE_CHECKING

from gitml.store.config import read_config
from gitml.store.repository import Repository

if TYPE_CHECKING:
    from gitml.store.objects import Identity

FALLBACK_IDENTITY = ("gitml", "gitml@localhost")


def user_identity(repo: Repository, role: str = "author") -> "Identity":
    """The `role` ("author" or "committer") git would use: GIT_<ROLE>_NAME/EMAIL, then
    `<role>.name`/`.email`, then `user.name`/`.email`, then EMAIL; else a fixed fallback:
    recording must not fail for lack of `user.email`."""
    from gitml.store.objects import Identity

    config = read_config(repo)

    def find(field: str) -> str | None:
        return (
            os.environ.get(f"GIT_{role.upper()}_{field.upper()}")
            or config.get(f"{role}.{field}")
            or config.get(f"user.{field}")
            or (os.environ.get("EMAIL") if field == "email" else None)
        )

    name, email = _clean(find("name")), _clean(find("email"))
    return Identity(name or FALLBACK_IDENTITY[0], email or FALLBACK_IDENTITY[1])


def _clean(value: str | None) -> str:
    """Without the characters that would break a commit's author line (`<`, `>`, line
    breaks, NUL), which git leaves out of an identity too."""
    return (value or "").translate(_CRUD).strip()


_CRUD = str.maketrans("", "", "<>\n\r\0")
