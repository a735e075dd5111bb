"""A metric file's points read a block at a time: `step<TAB>value<TAB>unix_ms` lines.

A metric may have millions of points, so nothing here holds a whole file: points come
in chunks (steps, values, times of one block of lines). A line that is no point (a run
fetched from a clone that wrote it wrong, a line a crash cut short) is left out.
"""

from collections.abc import Iterator
from pathlib import Path

BLOCK = 1 << 20  # bytes of a metric file read at once
MAX_LINE = 4096  # a longer line is damage (a point takes some 40 bytes) and is skipped

Chunk = tuple[list[int], list[float], list[int]]  # steps, values, unix ms

_LINE = b"\t\t\n"  # what a well-formed line holds of whitespace
_NOT_WHITESPACE = bytes(b for b in range(256) if not bytes([b]).isspace())  # what split() keeps


def check_history_size(label: str, key: str, size: int, limit: int) -> None:
    """MetricTooLargeError when metric `key`'s file of `size` bytes is over `limit`
    (gitml.metricHistoryLimit): its history is not read (`label` names the run)."""
    if size > limit:
        from gitml.errors import MetricTooLargeError

        raise MetricTooLargeError(label, key, size, limit, "has a history of")


def file_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            yield block


def parse_blocks(blocks: Iterator[bytes], keep_last_line: bool) -> Iterator[Chunk]:
    """Chunks of the complete lines in `blocks` (a line may span two blocks); a last
    line without its newline is kept only when `keep_last_line` (in a run in progress,
    it is still being written)."""
    carried = b""  # the start of a line the next block ends
    skipping = False  # inside a line longer than MAX_LINE, which is left out
    for block in blocks:
        end = block.rfind(b"\n")
        if end < 0:
            if not skipping:
                carried += block
                carried, skipping = (b"", True) if len(carried) > MAX_LINE else (carried, False)
            continue
        head, rest = block[: end + 1], block[end + 1 :]
        if skipping:
            head, skipping = head[head.find(b"\n") + 1 :], False
        lines, carried = carried + head, rest
        if len(carried) > MAX_LINE:
            carried, skipping = b"", True
        if lines:
            yield parse_lines(lines)
    if carried and keep_last_line:
        yield parse_lines(carried)


def parse_lines(data: bytes) -> Chunk:
    """The points of `step<TAB>value<TAB>ms` lines; a damaged line is left out.

    A block of well-formed lines (the usual case) is parsed a column at a time: the
    whole block split once, each column's tokens turned into numbers by one `map`. It
    is well-formed when each line holds exactly two tabs and no other whitespace but its
    newline, and no field is empty: then the k-th token is field k % 3 of line k // 3
    (a count of tabs alone would let a line of four fields and one of two pass, their
    fields shifted). Anything else, or a token that is no number, is parsed line by
    line, leaving out each damaged line.
    """
    if not data:
        return [], [], []
    complete = data.count(b"\n")
    unended = not data.endswith(b"\n")  # a last line without its newline
    layout = _LINE * complete + _LINE[:2] * unended
    if data.translate(None, _NOT_WHITESPACE) == layout:
        tokens = data.split()
        if len(tokens) == 3 * (complete + unended):  # none empty
            try:
                return (
                    list(map(int, tokens[0::3])),
                    list(map(float, tokens[1::3])),
                    list(map(int, tokens[2::3])),
                )
            except ValueError:
                pass
    return _parse_each_line(data)


def _parse_each_line(data: bytes) -> Chunk:
    steps: list[int] = []
    values: list[float] = []
    times: list[int] = []
    for line in data.split(b"\n"):
        fields = line.split(b"\t")
        if len(fields) != 3:
            continue
        try:
            step, value, ms = int(fields[0]), float(fields[1]), int(fields[2])
        except ValueError:
            continue
        steps.append(step)
        values.append(value)
        times.append(ms)
    return steps, values, times
