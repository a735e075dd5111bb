"""How numbers and times look in `ls`, `show`, `compare`, `metrics` and `diff`."""

import json

import pytest

from gitml.cli import format as fmt
from gitml.cli.compare import _cell, _differs
from gitml.compare.side_by_side import side_by_side
from gitml.tracking.record import RunSummary
from tests.utils import cli, gitml

LOG = "import gitml; gitml.log_metrics({{'acc': {acc}, 'big': 1234567.89, 'n': 3.0}})"


@pytest.fixture
def close_runs(repo_with_commit):
    """Runs `pa` and `pb` whose accuracies differ in the seventh significant digit."""
    for name, acc in (("pa", "0.9123451"), ("pb", "0.9123454")):
        gitml(repo_with_commit, "run", "--name", name, "--", "python", "-c", LOG.format(acc=acc))
    return repo_with_commit


def test_values_that_differ_look_different_everywhere(close_runs):
    only = cli(close_runs, "compare", "pa", "pb", "--diff-only").output
    acc = next(line for line in only.splitlines() if "metrics.acc" in line)
    assert acc.split() == ["*", "metrics.acc", "0.9123451", "0.9123454"]
    assert "metrics.big" not in only and "metrics.n" not in only

    full = cli(close_runs, "compare", "pa", "pb").output
    big = next(line for line in full.splitlines() if "metrics.big" in line)
    assert big.split() == ["metrics.big", "1234567.89", "1234567.89"]

    show = cli(close_runs, "show", "pa").output
    assert "  big = 1234567.89  (1234567.89 / 1234567.89" in show
    assert "  acc = 0.9123451  (" in show and "  n = 3  (" in show

    listing = cli(close_runs, "ls", "--columns", "name,metrics.acc,metrics.big,metrics.n").output
    rows = {line.split()[0]: line.split()[1:] for line in listing.splitlines()[1:]}
    assert rows == {"pa": ["0.9123451", "1234567.89", "3"], "pb": ["0.9123454", "1234567.89", "3"]}

    history = cli(close_runs, "metrics", "pb").output.splitlines()
    assert history[-1].split() == ["0", "0.9123454", "1234567.89", "3"]

    diff = cli(close_runs, "diff", "pa", "pb", "--no-code").output
    acc = next(line for line in diff.splitlines() if line.startswith("  acc"))
    assert acc.split()[:4] == ["acc", "0.9123451", "0.9123454", "+3e-07"]


def test_numbers_round_trip():
    for value in (0.9123451, 1234567.89, 1e-7, 1e300, -2.5, 0.1 + 0.2, 123456789012345.6):
        assert float(fmt.number(value)) == value
    assert [fmt.number(v) for v in (3.0, -0.0, 1e15, float("inf"), float("-inf"))] == [
        "3",
        "0",
        "1000000000000000",
        "inf",
        "-inf",
    ]
    assert fmt.rounded(0.9123454 - 0.9123451) == "3e-07"
    assert fmt.rounded(2.0000000001) == "2"


def _summary(run_id: str, start_ms: int, duration_ms: int) -> RunSummary:
    return RunSummary(
        run_id, run_id, "default", "finished", start_ms, end_ms=start_ms + duration_ms
    )


def test_times_differ_only_as_shown():
    second = 1_795_000_000_000
    runs = [_summary("a", second + 10, 61), _summary("b", second + 20, 89)]
    rows = {row.field.key: row for row in side_by_side(runs)}
    for key in ("start_time", "duration"):
        row = rows[key]
        cells = [_cell(row.field, value) for value in row.values]
        assert len(set(cells)) == 1 and row.differs  # the same as shown, not in ms
        assert not _differs(row, cells)
    runs.append(_summary("c", second + 1500, 250))
    rows = {row.field.key: row for row in side_by_side(runs)}
    for key in ("start_time", "duration"):
        row = rows[key]
        assert _differs(row, [_cell(row.field, value) for value in row.values])


def test_compare_json_marks_what_the_table_marks(close_runs):
    table = cli(close_runs, "compare", "pa", "pb").output.splitlines()[1:]
    marked = {line[3:].split()[0] for line in table if line.startswith("*")}
    data = json.loads(cli(close_runs, "compare", "pa", "pb", "--json").output)
    assert {row["key"] for row in data["rows"] if row["differs"]} == marked
    assert "metrics.acc" in marked and "status" not in marked
