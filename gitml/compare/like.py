"""SQL LIKE and ILIKE, matched in time proportional to text length × pattern length.

`%` stands for any text, `_` for one character, and `\\` makes the next character
literal. Translating `%` to `.*` hands the pattern to a backtracking regex engine, and
`%a%a%a%a%a%a%a%a%a%a%a%a%b` against forty `a`s then takes minutes. Here the pattern
is cut at each `%` into pieces of fixed length (literals and `_`); the first piece must
start the text, the last must end it, and each piece between is taken at its earliest
place after the previous one: an earlier place never leaves less room for what follows,
so no other place needs to be tried.
"""

import re
from collections.abc import Callable


def like_matcher(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A test of whether a whole text matches the LIKE `pattern`."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    items = _pieces(pattern)
    pieces = [re.compile("".join(piece), flags) for piece in items]
    if len(pieces) == 1:
        (whole,) = pieces
        return lambda text: whole.fullmatch(text) is not None
    first, *middle, last = pieces
    last_length = len(items[-1])

    def matches(text: str) -> bool:
        found = first.match(text)
        if found is None:
            return False
        position = found.end()
        for piece in middle:
            found = piece.search(text, position)
            if found is None:
                return False
            position = found.end()
        start = len(text) - last_length
        return start >= position and last.fullmatch(text, start) is not None

    return matches


def _pieces(pattern: str) -> list[list[str]]:
    """The pieces between `%`s, each a list of one-character regexes (no quantifier)."""
    pieces: list[list[str]] = [[]]
    escaped = False
    for char in pattern:
        if escaped:
            pieces[-1].append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            pieces.append([])
        elif char == "_":
            pieces[-1].append(".")
        else:
            pieces[-1].append(re.escape(char))
    if escaped:  # a trailing backslash stands for itself
        pieces[-1].append(re.escape("\\"))
    return pieces
