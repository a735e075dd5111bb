"""The points a chart gets of a long metric: per bucket the first, lowest, highest, last."""

import math
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.ui import downsample
from gitml.ui.downsample import Points, choose, in_range, to_json


def test_fewer_points_than_wanted_come_all():
    assert choose(array("d", [3.0, 1.0, 2.0]), 8) == [0, 1, 2]


def test_each_bucket_keeps_its_extremes_in_order():
    values = array("d", [0.0] * 100)
    values[37], values[62] = 9.0, -9.0
    chosen = choose(values, 8)  # two buckets of 50
    assert chosen == sorted(chosen)
    assert {0, 49, 50, 99, 37, 62} <= set(chosen)
    assert len(chosen) <= 8


def test_nan_is_never_taken_for_an_extreme():
    values = array("d", [math.nan, 5.0, -1.0, math.nan, 2.0, 0.0, 1.0, 3.0])
    chosen = choose(values, 4)  # one bucket
    assert {1, 2} <= set(chosen)  # the highest and the lowest number
    assert to_json(Points(array("q", range(8)), values, array("q", range(8))), [0])["value"] == [
        "nan"
    ]


def test_a_bucket_of_nan_only_keeps_its_ends():
    assert choose(array("d", [math.nan] * 10), 4) == [0, 9]


@settings(deadline=None)  # a loaded machine must not fail it
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=300))
def test_never_more_than_wanted_and_every_extreme_kept(values):
    data = array("d", values)
    chosen = choose(data, 40)
    assert len(chosen) <= 40
    assert chosen == sorted(set(chosen))
    numbers = [v for v in values if not math.isnan(v)]
    if numbers:
        kept = [data[i] for i in chosen]
        assert max(numbers) in kept and min(numbers) in kept


def test_a_range_keeps_the_points_within_it():
    points = Points(array("q", [0, 5, 10, 15]), array("d", [1, 2, 3, 4]), array("q", [7, 8, 9, 10]))
    assert list(in_range(points, "step", 5, 10).values) == [2.0, 3.0]
    assert list(in_range(points, "time", 9, None).steps) == [10, 15]
    assert in_range(points, "step", None, None) is points


def test_a_range_of_x_values_out_of_order_is_found_by_looking_at_each():
    points = Points(array("q", [10, 0, 5, 20]), array("d", [1, 2, 3, 4]), array("q", [1, 2, 3, 4]))
    assert list(in_range(points, "step", 4, 12).values) == [1.0, 3.0]
    assert list(in_range(points, "time", 2, 3).values) == [2.0, 3.0]  # times are in order


def _first_extremes(values: list[float], first: int, stop: int) -> set[int]:
    numbers = [i for i in range(first, stop) if values[i] == values[i]]
    if not numbers:
        return set()
    low = min(numbers, key=lambda i: (values[i], i))
    high = max(numbers, key=lambda i: (values[i], -i))
    return {low, high}


VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf]) | st.floats()


@settings(deadline=None)
@given(st.lists(VALUES, max_size=300), st.data())
def test_blocks_choose_what_looking_at_every_point_chooses(values, data):
    """Per bucket: its ends, and the first of its lowest and of its highest values, be
    they found point by point or from the blocks (4 points each here) it covers."""
    count = len(values)
    first = data.draw(st.integers(0, count))
    stop = data.draw(st.integers(first, count))
    wanted = data.draw(st.integers(4, 40))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(downsample, "BLOCK", 4)
        points = Points(array("q", range(count)), array("d", values), array("q", range(count)))
        by_blocks = choose(points.values, wanted, first, stop, points.blocks())
    by_points = choose(points.values, wanted, first, stop)
    assert by_blocks == by_points
    size = stop - first
    if size <= wanted:
        assert by_points == list(range(first, stop))
        return
    buckets = wanted // 4
    expected = []
    for bucket in range(buckets):
        start, end = first + bucket * size // buckets, first + (bucket + 1) * size // buckets
        expected += sorted({start, end - 1} | _first_extremes(values, start, end))
    assert by_points == expected


def test_a_zoom_is_chosen_within_its_span():
    values = array("d", [float(i % 17) for i in range(10_000)])
    values[6000] = 99.0
    points = Points(array("q", range(10_000)), values, array("q", range(10_000)))
    first, stop = points.span("step", 5000, 6999)
    assert (first, stop) == (5000, 7000)
    chosen = points.chosen(40, first, stop)
    assert chosen[0] == 5000 and chosen[-1] == 6999 and 6000 in chosen
    assert points.chosen(40) == choose(values, 40)  # the whole history, kept
