"""The one rule for text gitml shows a person: characters a terminal would obey are escaped.

A terminal acts on what it prints: ESC starts sequences that write the
clipboard (OSC 52), set the window title, clear the screen or recolour it;
C1 controls (U+0080–U+009F, e.g. U+009B, a one-character CSI) do the same;
a carriage return or backspace writes over what is shown; bidi controls
(U+202E…) reorder a line so that it reads as something else. Run data —
names, params, notes, tag messages, anything fetched from a remote — may
hold any of them, so every such character is shown as its Python escape
(`\\x1b`, `\\r`, `\\x9b`, `\\u202e`) instead. Lone surrogates (undecodable
bytes of a git object, kept by `surrogateescape`) are escaped too: written
raw they would be an error, or a raw 8-bit byte.

`gitml.cli.output` applies this rule to everything the command line prints;
this module is the rule itself, importing nothing of gitml, so that any layer can use it.
"""

from __future__ import annotations  # the logging API imports this; Python 3.8 runs it

import re

# Controls (C0, DEL, C1) and the line and paragraph separators, as the body of a
# regex character class: `gitml.values` refuses them in names a user types.
CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029"

# Those, surrogates and the bidi formatting characters. Joiners and other format
# characters (U+200D in emoji sequences) are left alone: a terminal shows them, it
# does not obey them.
_OTHERS = "\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Patterns, compiled on first use (re keeps them): printable text never needs them.
_UNSAFE = f"[{CONTROLS}{_OTHERS}]"
# The same less the newline, which JSON's layout holds (a line per run at 100,000 runs:
# matching each newline to keep it cost a second).
_UNSAFE_IN_JSON = f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{_OTHERS}]"
# Those of them that are ASCII, as bytes: ASCII text is checked by bytes.translate,
# some twenty times faster than the regex (listing 100,000 runs: 58 MB of JSON).
_ASCII_UNSAFE_IN_JSON = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])


def _escape(match: re.Match) -> str:
    return repr(match.group(0))[1:-1]


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with every character a terminal obeys written as its escape (`\\x1b`),
    except those in `keep` (e.g. the newlines of a text's own layout)."""
    if text.isprintable() or not re.search(_UNSAFE, text):  # every unsafe one is unprintable
        return text
    if not keep:
        return re.sub(_UNSAFE, _escape, text)
    return re.sub(_UNSAFE, lambda m: m.group(0) if m.group(0) in keep else _escape(m), text)


def escape_json(text: str) -> str:
    """JSON text with those characters inside its strings as `\\uXXXX`: the same data
    for any JSON reader, and nothing a terminal obeys. `json.dumps` escapes C0 in
    strings already; outside strings there is only layout (newlines, spaces)."""
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_UNSAFE_IN_JSON)) == len(raw):
            return text
    return re.sub(_UNSAFE_IN_JSON, lambda m: f"\\u{ord(m.group(0)):04x}", text)


def warn(line: str) -> None:
    """One line on stderr from library code run outside the command line (the API)."""
    import sys

    sys.stderr.write(escape_controls(line) + "\n")
