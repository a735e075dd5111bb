"""Long metrics kept parsed on disk: read back as written, and anything else in their
place (cut short, damaged, a link, a FIFO, a folder) is a miss, never an error."""

import os
from array import array
from pathlib import Path

import pytest

from gitml.store.layout import POINTS_CACHE
from gitml.ui import points_cache
from gitml.ui.downsample import Points

BLOB = "ab" * 20
OTHER = "cd" * 20


def _points(count: int = points_cache.CACHED_FROM, shift: float = 0.0) -> Points:
    return Points(
        array("q", range(count)),
        array("d", (i / 7 + shift for i in range(count))),
        array("q", range(1_700_000_000_000, 1_700_000_000_000 + count)),
    )


def _same(a: Points | None, b: Points) -> bool:
    return a is not None and (a.steps, a.values, a.times) == (b.steps, b.values, b.times)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "gitml"


def test_points_are_read_back_as_written(state):
    points = _points()
    points_cache.save(state, BLOB, points)
    assert _same(points_cache.load(state, BLOB), points)
    assert points_cache.load(state, OTHER) is None


def test_a_short_history_is_not_kept(state):
    points_cache.save(state, BLOB, _points(points_cache.CACHED_FROM - 1))
    assert not (state / POINTS_CACHE / BLOB).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # cut short
        lambda data: data[: len(data) // 2],
        lambda data: data[:20] + bytes([data[20] ^ 1]) + data[21:],  # one bit flipped
        lambda data: b"gmlpts9l" + data[8:],  # another format
        lambda data: data[:8] + (10**12).to_bytes(8, "little") + data[16:],  # a count too large
        lambda data: b"",
        lambda data: b"x" * 100,
    ],
)
def test_a_damaged_file_is_a_miss_and_is_written_again(state, damage):
    points = _points()
    points_cache.save(state, BLOB, points)
    path = state / POINTS_CACHE / BLOB
    path.write_bytes(damage(path.read_bytes()))
    assert points_cache.load(state, BLOB) is None
    points_cache.save(state, BLOB, points)
    assert _same(points_cache.load(state, BLOB), points)


def test_a_link_out_of_the_folder_is_never_read_nor_written_through(state, tmp_path):
    outside = tmp_path / "outside"
    points_cache.save(outside, OTHER, _points(shift=1.0))  # a valid file of other points
    kept = (outside / POINTS_CACHE / OTHER).read_bytes()
    folder = state / POINTS_CACHE
    folder.mkdir(parents=True)
    (folder / BLOB).symlink_to(outside / POINTS_CACHE / OTHER)
    assert points_cache.load(state, BLOB) is None
    points = _points()
    points_cache.save(state, BLOB, points)  # replaces the link itself
    assert not (folder / BLOB).is_symlink()
    assert _same(points_cache.load(state, BLOB), points)
    assert (outside / POINTS_CACHE / OTHER).read_bytes() == kept


def test_a_cache_folder_that_is_a_link_is_not_used(state, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / POINTS_CACHE).parent.mkdir(parents=True)
    (state / POINTS_CACHE).symlink_to(elsewhere)
    points_cache.save(state, BLOB, _points())
    assert list(elsewhere.iterdir()) == []
    assert points_cache.load(state, BLOB) is None


def test_a_fifo_or_a_folder_in_its_place_is_a_miss(state):
    folder = state / POINTS_CACHE
    folder.mkdir(parents=True)
    os.mkfifo(folder / BLOB)  # opening it to read would wait for a writer for ever
    (folder / OTHER).mkdir()
    assert points_cache.load(state, BLOB) is None
    assert points_cache.load(state, OTHER) is None
    points_cache.save(state, OTHER, _points())  # no way to write it: left uncached
    assert (folder / OTHER).is_dir()


def test_a_name_that_is_no_blob_id_is_never_a_path(state):
    points_cache.save(state, "../" + BLOB[3:], _points())
    assert points_cache.load(state, "../" + BLOB[3:]) is None
    assert not state.exists() or not any(state.rglob("*" + BLOB[3:]))


def test_the_oldest_files_go_beyond_the_size_limit(state, monkeypatch):
    names = [f"{i:040x}" for i in range(3)]
    for age, name in enumerate(names):
        points_cache.save(state, name, _points())
        os.utime(state / POINTS_CACHE / name, (1000 + age, 1000 + age))
    size = (state / POINTS_CACHE / names[0]).stat().st_size
    monkeypatch.setattr(points_cache, "MAX_BYTES", 2 * size)
    points_cache.save(state, OTHER, _points())
    kept = sorted(p.name for p in (state / POINTS_CACHE).iterdir())
    assert kept == sorted([names[2], OTHER])


def test_blocks_are_kept_with_the_points_and_checked(state):
    points = _points()
    lows, highs = points.blocks()
    points_cache.save(state, BLOB, points)
    found = points_cache.load(state, BLOB)
    assert found is not None and found.block_extremes == (lows, highs)
    # a file whose CRC holds but whose blocks point out of their block: not used
    other = _points()
    other.blocks()[0][0] = len(other) + 5
    points_cache.save(state, OTHER, other)
    assert points_cache.load(state, OTHER) is None
