"""`gitml ls --filter/--sort/--columns/--csv` and `gitml.search_runs` on real runs."""

import csv
import io
import json

import gitml
from tests.utils import gitml as run_gitml


def names(result) -> list[str]:
    return [run["name"] for run in json.loads(result.stdout)]


def test_filter_and_sort_from_the_command_line(repo_with_runs):
    result = run_gitml(
        repo_with_runs, "ls", "--filter", "metrics.acc > 0.3 and params.fail = '0'", "--json"
    )
    assert names(result) == ["beta"]
    result = run_gitml(repo_with_runs, "ls", "--sort", "-metrics.loss", "--json")
    assert names(result) == ["alpha", "beta", "gamma"]
    result = run_gitml(repo_with_runs, "ls", "-f", "status = 'failed' or params.lr = 0.1", "--json")
    assert names(result) == ["gamma", "alpha"]
    result = run_gitml(
        repo_with_runs, "ls", "--sort", "status", "--sort", "metrics.acc DESC", "--json"
    )
    assert names(result) == ["gamma", "beta", "alpha"]


def test_a_filter_on_a_key_no_run_has_is_an_empty_result(repo_with_runs):
    result = run_gitml(repo_with_runs, "ls", "--filter", "metrics.nothing > 1", "--json")
    assert result.stdout.strip() == "[]"
    result = run_gitml(repo_with_runs, "ls", "--filter", "metrics.nothing > 1")
    assert (
        result.stdout == "" and result.stderr == "no runs match the filter: metrics.nothing > 1\n"
    )


def test_malformed_filter_points_at_the_column(repo_with_runs):
    result = run_gitml(repo_with_runs, "ls", "--filter", "metrics.acc >> 1", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "gitml: error: invalid filter at column 14: expected a value: a number or a "
        "'quoted string', found '>' (in: metrics.acc >> 1)\n"
    )


def test_unknown_sort_or_column_key_names_the_keys_that_exist(repo_with_runs):
    for option in ("--sort", "--columns"):
        result = run_gitml(repo_with_runs, "ls", option, "metrics.los", check=False)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "'metrics.los': no run has it" in result.stderr
        assert "metrics.loss" in result.stderr and "params.lr" in result.stderr


def test_columns_table_and_csv(repo_with_runs):
    result = run_gitml(
        repo_with_runs, "ls", "--columns", "name,params.lr,metrics.loss", "--sort", "params.lr"
    )
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "params.lr", "metrics.loss"]
    assert [line.split() for line in lines[1:]] == [
        ["alpha", "0.1", "10"],
        ["beta", "0.2", "5"],
        ["gamma", "0.4", "2.5"],
    ]
    result = run_gitml(
        repo_with_runs, "ls", "--csv", "--columns", "name,status,metrics.acc", "-s", "name"
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [
        ["name", "status", "metrics.acc"],
        ["alpha", "finished", "0.2"],
        ["beta", "finished", "0.4"],
        ["gamma", "failed", "0.8"],
    ]
    full = list(csv.DictReader(io.StringIO(run_gitml(repo_with_runs, "ls", "--csv").stdout)))
    assert [row["name"] for row in full] == ["gamma", "beta", "alpha"]
    assert {"id", "start_time", "params.lr", "params.fail", "metrics.loss"} <= set(full[0])
    assert full[0]["duration"].isdigit()


def test_search_runs_uses_the_same_grammar(repo_with_runs):
    found = gitml.search_runs(
        filter="metrics.loss < 8 and not status = 'failed'",
        order_by=["metrics.acc DESC"],
        repo=repo_with_runs,
        output_format="list",
    )
    assert [run["name"] for run in found] == ["beta"]
    found = gitml.search_runs(
        filter_string="params.lr IN ('0.1', '0.4')",
        order_by=["-params.lr"],
        repo=repo_with_runs,
        output_format="list",
    )
    assert [run["name"] for run in found] == ["gamma", "alpha"]
    assert gitml.search_runs(filter="tags.x = 'y'", repo=repo_with_runs, output_format="list") == []
    assert [
        r["name"]
        for r in gitml.search_runs(
            order_by=["name"], max_results=2, repo=repo_with_runs, output_format="list"
        )
    ] == [
        "alpha",
        "beta",
    ]


def test_a_malformed_column_or_sort_key_says_how_to_quote_it(repo_with_runs):
    script = "import gitml; gitml.log_metric('val acc', 0.75)"
    run_gitml(repo_with_runs, "run", "--name", "spaced", "--", "python", "-c", script)
    for option, purpose in (("--columns", "show column"), ("--sort", "sort by")):
        result = run_gitml(repo_with_runs, "ls", option, "metrics.val acc", check=False)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (
            f"gitml: error: cannot {purpose} 'metrics.val acc': expected the end of the key, "
            "found 'acc'; a key with spaces or other characters goes in backticks: "
            "metrics.`val acc`\n"
        )
        assert "filter" not in result.stderr
    quoted = run_gitml(
        repo_with_runs,
        *("ls", "--csv", "--columns", 'name,metrics.`val acc`,metrics."val acc"'),
        *("--sort", "-metrics.`val acc`"),
    )
    assert quoted.stdout.splitlines()[:2] == [
        "name,metrics.`val acc`,metrics.`val acc`",
        "spaced,0.75,0.75",
    ]


def test_sorting_by_more_keys_than_sqlite_joins_orders_as_the_first_keys_say(repo_with_commit):
    """Each sort key is a join in the run index's query, and SQLite joins at most 64
    tables: a key repeated 100 times, or 70 keys, must still sort (not fail)."""
    from tests.utils import write_runs_fast

    repo = repo_with_commit
    tied = {f"m{k:02d}": 1.0 for k in range(69)}  # all runs tie on these; m69 decides
    write_runs_fast(repo, 3, lambda i: {"name": f"r{i}", "metrics": {**tied, "m69": -i}})
    repeated = ["--sort", "-metrics.m69"] * 100
    assert names(run_gitml(repo, "ls", *repeated, "--json")) == ["r0", "r1", "r2"]
    many = [arg for k in range(70) for arg in ("--sort", f"metrics.m{k:02d}")]
    assert names(run_gitml(repo, "ls", *many, "--json")) == ["r2", "r1", "r0"]
