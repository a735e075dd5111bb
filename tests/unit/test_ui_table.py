"""The runs table of `GET /api/runs`: one array per field, the grammar's field names."""

import gzip
import json
import math

from gitml.tracking.record import RunSummary
from gitml.ui.table import runs_table


def _run(run_id: str, **fields) -> RunSummary:
    return RunSummary(run_id, f"n{run_id}", "main", "finished", 1000, end_ms=1500, **fields)


def test_columns_hold_a_value_per_run_and_null_where_it_lacks_one():
    runs = [
        _run("b", params={"lr": "0.1", "my key": "x"}, metrics={"loss": 0.5}),
        _run("a", metrics={"loss": math.nan, "acc": math.inf}, tags={"t": "1"}),
    ]
    table = runs_table(runs)
    columns = table["columns"]
    assert table["count"] == 2 and table["fields"] == list(columns)
    assert columns["id"] == ["b", "a"] and columns["duration"] == [500, 500]
    assert columns["start_time"] == [1000, 1000] and columns["base"] == [None, None]
    assert columns["params.lr"] == ["0.1", None]
    assert columns["params.`my key`"] == ["x", None]  # as the filter grammar writes it
    assert columns["metrics.loss"] == [0.5, "nan"] and columns["metrics.acc"] == [None, "inf"]
    assert columns["tags.t"] == [None, "1"]
    json.dumps(table, allow_nan=False)  # valid JSON: no NaN or Infinity left


def test_no_runs_is_an_empty_table_of_attributes():
    table = runs_table([])
    assert table["count"] == 0
    assert "id" in table["fields"] and all(values == [] for values in table["columns"].values())


def test_the_table_built_again_as_runs_come_and_go_is_the_table_of_the_runs():
    from gitml.ui.table import TableJson

    builder = TableJson()
    builder.HEAD_LIMIT = 3
    committed = [
        _run(f"r{i:03d}", params={f"p{i % 3}": str(i)}, metrics={"m": i / 7}) for i in range(10)
    ]
    committed = [RunSummary(**{**vars(run), "sha": f"c{run.id}"}) for run in committed]
    running = _run("r900", metrics={"live": math.nan})  # no commit: in progress
    steps = [
        committed[:6],
        committed[:7],  # a new run
        [running, *committed[:7]],  # one in progress
        [running, *committed[:9]],  # two more
        [running, *committed[:9], _run("r950", tags={"new": "t"})],
        committed[:5],  # runs deleted: the body is made again
        [*committed[:3], *committed[4:8]],  # one from the middle gone
        [],
        committed,
    ]
    made = []
    make_body = builder._make_body
    builder._make_body = lambda runs: (made.append(len(runs)), make_body(runs))
    for runs in steps:
        runs = sorted(runs, key=lambda run: run.id, reverse=True)
        body, zipped = builder.build(runs)
        assert json.loads(body) == runs_table(runs)
        assert gzip.decompress(zipped) == body  # one whole gzip stream, spliced or not
    assert len(made) < len(steps)  # some steps only encoded their new runs
