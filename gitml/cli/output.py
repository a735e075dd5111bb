"""Every byte the command line prints goes through here (a test checks that nothing else
calls click.echo or print), and here `gitml.terminal`'s rule is applied:

- `echo`: a line for a person: every control character in it is escaped, newlines
  too, so a value can never start a line that looks like gitml's own;
- `echo_block`: several lines (a table, `gitml show`): its own newlines and tabs are
  its layout and stay; the values in it are escaped by the view that lays them out
  (`format.printable`), everything else here;
- `say`: one `gitml: …` line on stderr (errors, warnings, news);
- `echo_json`: JSON, whose strings hold those characters as `\\uXXXX`: the same data;
- `echo_data`: CSV and other text meant for a file: byte for byte to a file or a
  pipe; on a terminal a person reads it, so the rule applies there too;
- `echo_progress`: git's progress pieces, which end in `\\r` to redraw their line.

Styling (colour) is added after escaping, so only gitml's own sequences reach a terminal.
"""

import sys
from collections.abc import Iterable
from typing import Any

import click

from gitml.terminal import escape_controls, escape_json

LAYOUT = "\n\t"
_ITEMS_AT_ONCE = 1000  # JSON items written at once (echo_json_items)


def echo(line: str = "", *, err: bool = False, nl: bool = True, **style: Any) -> None:
    """One line for a person; `style` (click.style's fg=, bold=, …) colours it on a terminal."""
    _styled(escape_controls(line), err, nl, style)


def echo_block(text: str, *, err: bool = False, **style: Any) -> None:
    """Lines for a person, laid out with newlines (and tabs)."""
    _styled(escape_controls(text, keep=LAYOUT), err, True, style)


def _styled(safe: str, err: bool, nl: bool, style: dict) -> None:
    click.echo(click.style(safe, **style) if style else safe, err=err, nl=nl)


def say(line: str) -> None:
    """`gitml: <line>` on stderr, as one line whatever the values in it hold."""
    click.echo(f"gitml: {escape_controls(line)}", err=True)


def echo_json(data: object) -> None:
    import json

    echo_json_text(json.dumps(data, indent=2, ensure_ascii=False))


def echo_json_lines(items: list) -> None:
    """A JSON array with one object per line: readable, and encoded by json's C encoder."""
    import json

    echo_json_items([json.dumps(item, ensure_ascii=False) for item in items])


def echo_json_items(texts: list[str]) -> None:
    """`echo_json_lines` of items already encoded (runs as the run index keeps them),
    written a slice of them at a time: a hundred thousand runs are some 60 MB of JSON,
    never joined, escaped and encoded whole."""
    if not texts:
        echo_json_text("[]")
        return
    for start in range(0, len(texts), _ITEMS_AT_ONCE):
        before = "[\n" if start == 0 else ",\n"
        echo_json_text(before + ",\n".join(texts[start : start + _ITEMS_AT_ONCE]), nl=False)
    echo_json_text("\n]")


def echo_json_text(text: str, nl: bool = True) -> None:
    """JSON text made elsewhere (predictions), or a piece of it (a long metric history).
    color=True: once escaped it holds no ESC, which click would look for in vain."""
    click.echo(escape_json(text), nl=nl, color=True)


def echo_data(text: str, nl: bool = True) -> None:
    """Data for a file (CSV, a conda.yaml): exact unless stdout is a terminal."""
    echo_data_lines([text], nl)


def echo_data_lines(lines: Iterable[str], nl: bool = True) -> None:
    """`echo_data` a line at a time (a long history; a closed pipe stops it early)."""
    on_terminal = sys.stdout.isatty()  # click.get_text_stream is deprecated
    for line in lines:  # color=True: click would strip what looks like colour from the data
        click.echo(escape_controls(line, keep=LAYOUT) if on_terminal else line, nl=nl, color=True)


def echo_progress(piece: str) -> None:
    """A piece of git's progress on stderr: its one final `\\r` or `\\n` is kept (that is
    how progress redraws its line); anything else a remote put in it is escaped."""
    body, end = (piece[:-1], piece[-1]) if piece.endswith(("\r", "\n")) else (piece, "")
    click.echo(escape_controls(body) + end, nl=False, err=True)


class TransferBar:
    """A progress bar on stderr for one transfer of large artifacts: drawn only once it
    has taken a moment (`DELAY` s), on a terminal, redrawn at most ten times a second."""

    DELAY = 1.0

    def __init__(self, label: str, total: int):
        import time

        self._clock = time.monotonic
        self._label = escape_controls(label)
        self._total = total
        self._done = 0
        self._started = self._clock()
        self._drawn = 0.0
        self._shown = False

    def advance(self, count: int) -> None:
        self._done += count
        now = self._clock()
        if now - self._started >= self.DELAY and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw("\r")

    def end(self) -> None:
        if self._shown:
            self._draw("\n")

    def _draw(self, end: str) -> None:
        if not sys.stderr.isatty():
            return
        self._shown = True
        share = self._done / self._total if self._total else 1.0
        filled = int(share * 30)
        mib = self._done / (1 << 20)
        bar = "#" * filled + " " * (30 - filled)
        line = f"gitml: {self._label} [{bar}] {share:4.0%} {mib:,.1f} MiB"
        click.echo(line + end, nl=False, err=True)
