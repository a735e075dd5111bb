"""How numbers and times look in `ls`, `show`, `compare`, `metrics` and `diff`."""

import csv
import io
import json

import pytest

from gitml.cli import format as fmt
from gitml.cli.compare import _cell, _differs
from gitml.compare.side_by_side import side_by_side
from gitml.tracking.record import RunSummary
from tests.utils import cli, gitml

LOG = "import gitml; gitml.log_metrics({{'acc': {acc}, 'big': 1234567.89, 'n': 3.0}})"


def record_close_runs(repo):
    """Runs `pa` and `pb` whose accuracies differ in the seventh significant digit."""
    for name, acc in (("pa", "0.9123451"), ("pb", "0.9123454")):
        gitml(repo, "run", "--name", name, "--", "python", "-c", LOG.format(acc=acc))


@pytest.fixture
def close_runs(templates, tmp_path):
    return templates.copy(record_close_runs, tmp_path / "repo")


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


@pytest.fixture
def odd_text_runs(repo_with_commit):
    """`odd` has a newline in a param and wide characters; `plain` not. (An experiment
    holding a newline is refused when a run starts: see tests/hostile.)"""
    repo = repo_with_commit
    gitml(
        repo,
        *("run", "--name", "odd", "--experiment", "ex-periment"),
        *("-P", "nl=a\nb", "-P", "who=漢字漢字", "--", "true"),
    )
    gitml(repo, "run", "--name", "plain", "-P", "nl=x", "-P", "who=abc", "--", "true")
    return repo


def test_tables_escape_control_characters_and_align_wide_ones(odd_text_runs):
    columns = "name,experiment,params.nl,params.who,status"
    lines = cli(odd_text_runs, "ls", "--all", "--columns", columns).output.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["plain", "main", "x", "abc", "finished"]
    assert lines[2].split() == ["odd", "ex-periment", "a\\nb", "漢字漢字", "finished"]
    starts = {
        fmt.width(line[: line.index(word)])
        for line, word in zip(lines, ["status", "finished", "finished"], strict=True)
    }
    assert len(starts) == 1  # the last column starts at the same terminal column in every row

    default = cli(odd_text_runs, "ls", "--all").output.splitlines()
    assert default[0].startswith("ID") and len(default) in (3, 4)  # + a "columns hidden" note
    assert all(line.startswith("01") for line in default[1:3])

    rows = list(
        csv.reader(
            io.StringIO(cli(odd_text_runs, "ls", "--all", "--csv", "--columns", columns).output)
        )
    )
    assert rows[2] == ["odd", "ex-periment", "a\nb", "漢字漢字", "finished"]
    data = json.loads(cli(odd_text_runs, "ls", "--all", "--json").output)
    odd = next(run for run in data if run["name"] == "odd")
    assert odd["params"]["nl"] == "a\nb" and odd["experiment"] == "ex-periment"

    compared = cli(odd_text_runs, "compare", "odd", "plain").output.splitlines()
    assert len(compared) == 1 + 4 + 2  # header, 4 attributes, 2 params
    assert compared[2].split() == ["*", "experiment", "ex-periment", "main"]
    assert compared[5].split() == ["*", "params.nl", "a\\nb", "x"]
    diff = cli(odd_text_runs, "diff", "odd", "plain", "--no-code").output
    assert "  changed  nl   a\\nb → x\n" in diff
    assert "  changed  who  漢字漢字 → abc\n" in diff


def test_width_escapes_and_padding():
    assert fmt.printable("a\nb\tc\x1b[31m\u2028") == "a\\nb\\tc\\x1b[31m\\u2028"
    assert fmt.printable("naïve 漢字 e\u0301") == "naïve 漢字 e\u0301"
    assert [fmt.width(t) for t in ("abc", "漢字", "ｘ", "e\u0301", "")] == [3, 4, 2, 1, 0]
    assert fmt.pad("漢", 4) == "漢  "
    table = fmt.table(["k", "v"], [["漢字", "1"], ["ab", "2"]], fixed=2).splitlines()
    assert [fmt.width(line[: line.rindex(" ") + 1]) for line in table] == [6, 6, 6]
