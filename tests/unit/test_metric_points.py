"""A metric file's lines as points: the column-at-a-time parse of well-formed blocks
gives what reading each line alone gives, damaged lines left out."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.tracking.points import parse_blocks, parse_lines


def _each_line(data: bytes) -> tuple[list, list, list]:
    """What a reader of one line at a time takes: lines of three fields that read as
    int, float, int."""
    kept: tuple[list, list, list] = ([], [], [])
    for line in data.split(b"\n"):
        fields = line.split(b"\t")
        try:
            point = (int(fields[0]), float(fields[1]), int(fields[2]))
        except (ValueError, IndexError):
            continue
        if len(fields) == 3:
            for column, value in zip(kept, point, strict=True):
                column.append(value)
    return kept


def _same(a, b) -> bool:
    return repr(a) == repr(b)  # NaN equals itself in its repr


def test_well_formed_lines_are_read_a_column_at_a_time():
    data = b"0\t0.5\t1700000000000\n1\tnan\t1700000000001\n2\t-inf\t1700000000002\n"
    steps, values, times = parse_lines(data)
    assert steps == [0, 1, 2] and times == [1700000000000, 1700000000001, 1700000000002]
    assert values[0] == 0.5 and math.isnan(values[1]) and values[2] == -math.inf


def test_a_line_of_four_fields_beside_one_of_two_is_left_out_not_shifted():
    # six fields, four tabs, two lines: as many tokens and tabs as two good lines hold
    data = b"1\t2\t3\t4\n5\t6\n7\t8\t9\n"
    assert parse_lines(data) == ([7], [8.0], [9])


def test_a_field_with_a_space_beside_an_empty_one_is_left_out_not_shifted():
    data = b"1 2\t3\t4\n\t5\t6\n7\t8\t9\n"
    assert parse_lines(data) == ([7], [8.0], [9])


def test_a_damaged_line_leaves_the_others():
    data = b"0\t0.5\t17\nnot a point\n1\tx\t2\n\xff\xfe\n3\t1.5\t19"
    assert parse_lines(data) == ([0, 3], [0.5, 1.5], [17, 19])


LINE_BYTES = st.sampled_from([b"0", b"7", b"-3", b"1.5", b"nan", b"x", b" ", b"\t", b"\n", b"\r"])


@settings(deadline=None)  # a loaded machine must not fail it
@given(st.lists(LINE_BYTES, max_size=40).map(b"".join))
def test_any_bytes_give_what_reading_each_line_gives(data):
    assert _same(parse_lines(data), _each_line(data))


@settings(deadline=None)
@given(
    st.lists(st.tuples(st.integers(), st.floats(), st.integers()), max_size=60),
    st.integers(min_value=1, max_value=50),
)
def test_blocks_cut_anywhere_give_every_point(points, size):
    data = b"".join(b"%d\t%r\t%d\n" % (s, v, t) for s, v, t in points)
    blocks = [data[i : i + size] for i in range(0, len(data), size)]
    columns: tuple[list, list, list] = ([], [], [])
    for chunk in parse_blocks(iter(blocks), True):
        for column, part in zip(columns, chunk, strict=True):
            column.extend(part)
    assert _same(columns, tuple(map(list, zip(*points, strict=True))) if points else ([], [], []))
