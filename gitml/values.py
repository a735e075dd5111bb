"""What a value a user typed must be before gitml passes it on: to git, into a
record, a file name or a message line.

A value is refused here, with one line that says why and what to do, before
anything is written: a remote beginning with `-` would reach git as an option
(`--upload-pack=CMD` runs CMD), a newline would split an error message or a
trailer, and text that is not UTF-8 (`surrogateescape` bytes from the command
line) cannot be written into a JSON record.
"""

from __future__ import annotations

import re

from gitml.errors import InvalidValueError
from gitml.terminal import CONTROLS

_CONTROL = f"[{CONTROLS}]"  # compiled on first use


def is_utf8(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_utf8(text: str) -> str:
    """`text` with each character UTF-8 cannot hold (a lone surrogate: an undecodable byte
    of a file name) written as its escape (`\\udcff`): a name of the user's files that is
    only recorded and shown (a file left out of a snapshot), never used to open one."""
    return text if is_utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(text: str, limit: int = 60) -> str:
    """`text` quoted and escaped on one line, its start only when it is long (a name of
    10,000 characters would otherwise fill the terminal)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def text_problem(text: str, *, option_like: bool = False) -> str | None:
    """Why `text` cannot name something gitml passes on, or None when it can.

    `option_like`: `text` reaches git as an argument, where a leading '-' is an option.
    """
    if not text.strip():
        return "it is empty"
    if option_like and text.startswith("-"):
        return "it begins with '-', so git would read it as an option"
    if re.search(_CONTROL, text):
        return "it contains a control character (a newline, tab or escape)"
    if not is_utf8(text):
        return "it is not valid UTF-8 text"
    return None


def check_text(kind: str, text: str, hint: str = "", *, option_like: bool = False) -> str:
    """`text` when it can name a `kind` (a remote, an experiment, ...); else the error,
    which shows `text` escaped on one line and ends with `hint` (what to do)."""
    problem = text_problem(text, option_like=option_like)
    if problem is None:
        return text
    suffix = f" ({hint})" if hint else ""
    raise InvalidValueError(f"{kind} {shown(text)} is not valid: {problem}{suffix}")


def check_utf8(what: str, text: str) -> str:
    """`text` when it is UTF-8; any other character is allowed (a param value may span
    lines). `what` names it in the error: "the value of param 'lr'"."""
    if is_utf8(text):
        return text
    raise InvalidValueError(
        f"{what} is not valid UTF-8 text: {shown(text)} (gitml records text as UTF-8)"
    )
