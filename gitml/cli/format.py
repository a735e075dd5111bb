"""Turning values into terminal text: times, durations, numbers, tables."""

import math
import time
import unicodedata

from gitml.terminal import escape_controls


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: float) -> str:
    """The shortest text that reads back as the same float (Python's repr), so that
    different values never look the same; whole numbers without '.0'."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


def rounded(value: float) -> str:
    """A computed number (a change between two values) to 6 significant digits:
    float subtraction makes noise beyond them (0.9123454 - 0.9123451 is 2.9999999995e-07)."""
    if not math.isfinite(value):
        return str(value)
    return number(float(f"{value:.6g}"))


def count(n: int, what: str = "run") -> str:
    """`1 run`, `2 runs`."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    scaled = count / 1024
    for unit in ("KiB", "MiB"):
        if scaled < 1024:
            return f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} GiB"


def short_ids(ids: list[str], minimum: int = 12) -> dict[str, str]:
    """The shortest prefix (at least `minimum` long) that tells the listed ids apart."""
    length = minimum
    while length < 26 and len({i[:length] for i in ids}) < len(ids):
        length += 1
    return {i: i[:length] for i in ids}


def printable(text: str) -> str:
    """One value as one line of terminal text: every control character escaped, newlines
    and tabs too (see `gitml.terminal`)."""
    return escape_controls(text)


def width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters 2, combining marks 0."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(text: str, columns: int) -> str:
    """`text` followed by spaces up to `columns` terminal columns."""
    return text + " " * (columns - width(text))


def terminal_columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` gives it ($COLUMNS first, else
    stdout's terminal, else 120), without importing shutil and its archive modules."""
    import os
    import sys

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a terminal, or no file
            columns = 0
    return columns if columns > 0 else 120


def fitting(headers: list[str], fixed: int) -> int:
    """How many leading columns could fit the terminal, judged by their headers alone
    (a column is at least as wide as its header): a caller with thousands of columns
    builds cells for these only."""
    terminal, used = terminal_columns(), -2
    for count, header in enumerate(headers):
        used += width(printable(header)) + 2
        if count >= fixed and used > terminal:
            return count
    return len(headers)


def table(headers: list[str], rows: list[list[str]], fixed: int, more: int = 0) -> str:
    """A plain table of the columns that fit the terminal, from the left (the first
    `fixed` always); `more` columns were already left out by the caller.

    Cells are escaped (see `printable`) and padded by their width on a terminal. Only
    the columns shown (and the first that does not fit) are looked at."""
    terminal, used = terminal_columns(), -2
    columns: list[list[str]] = []  # escaped header and cells of each column shown
    widths: list[int] = []
    for index, header in enumerate(headers):
        cells = [printable(str(header))] + [printable(str(row[index])) for row in rows]
        column_width = max(width(cell) for cell in cells)
        if index >= fixed and used + column_width + 2 > terminal:
            break
        used += column_width + 2
        columns.append(cells)
        widths.append(column_width)
    lines = [
        "  ".join(pad(cells[line], w) for cells, w in zip(columns, widths, strict=True)).rstrip()
        for line in range(len(rows) + 1)
    ]
    hidden = len(headers) - len(columns) + more
    if hidden:
        lines.append(f"({hidden} more columns hidden: widen the terminal or use --json)")
    return "\n".join(lines)
