"""The filter grammar without git: round trips, MLflow-style expressions, errors, sorting."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.compare.like import like_matcher
from gitml.compare.search import (
    ATTRIBUTES,
    COMPARISONS,
    NUMERIC_ATTRIBUTES,
    And,
    Comparison,
    Field,
    Not,
    Or,
    SortKey,
    columns_text,
    field_text,
    parse_columns,
    parse_field,
    parse_filter,
    parse_sort_key,
    sort_key_text,
    to_text,
)
from gitml.compare.sorting import RunQuery, select_runs, sort_runs
from gitml.errors import FilterSyntaxError, InvalidValueError, UnknownKeyError
from gitml.tracking.record import RunSummary

# a tree generator

LIKES = ["like", "ilike", "not like"]
numbers = st.floats(allow_nan=False, allow_infinity=False)
keys = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
    st.from_regex(r"[a-z_][a-z0-9_/:-]{0,5}(\.[A-Za-z_][a-z0-9-]{0,3}){0,2}", fullmatch=True),
    st.sampled_from(["and", "or", "not", "in", "like", "e1", "nan", "a.b", "x-1", "val/loss"]),
)


# built once, not at each draw (a strategy is validated where it is built)
kinds = st.sampled_from(["metrics", "params", "tags", "attributes"])
attribute_keys = st.sampled_from(sorted(ATTRIBUTES))
short_texts = st.text(max_size=10)
values = {True: numbers, False: st.one_of(short_texts, numbers)}  # by numeric
value_lists = {numeric: st.lists(v, min_size=1, max_size=3) for numeric, v in values.items()}
numeric_ops = list(COMPARISONS) + ["in", "not in"]
ops = {True: st.sampled_from(numeric_ops), False: st.sampled_from(numeric_ops + LIKES)}


@st.composite
def comparisons(draw):
    kind = draw(kinds)
    key = draw(attribute_keys if kind == "attributes" else keys)
    numeric = kind == "metrics" or (kind == "attributes" and key in NUMERIC_ATTRIBUTES)
    op = draw(ops[numeric])
    if op in ("in", "not in"):
        value = tuple(draw(value_lists[numeric]))
    elif op in LIKES:
        value = draw(short_texts)
    else:
        value = draw(values[numeric])
    return Comparison(Field(kind, key), op, value)


trees = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_a_printed_tree_parses_back_to_the_same_tree(tree):
    assert parse_filter(to_text(tree)) == tree


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["metrics", "params", "tags"]), keys)
def test_a_printed_field_parses_back(kind, key):
    field = Field(kind, key)
    assert parse_field(field_text(field)) == field


fields = st.one_of(
    st.builds(Field, st.sampled_from(["metrics", "params", "tags"]), keys),
    st.builds(Field, st.just("attributes"), st.sampled_from(sorted(ATTRIBUTES))),
)


@settings(max_examples=200, deadline=None)
@given(fields, st.booleans())
def test_sort_keys_build_and_parse_as_inverses(field, descending):
    key = SortKey(field, descending)
    assert parse_sort_key(sort_key_text(key)) == key
    assert parse_sort_key(field_text(field) + " DESC") == SortKey(field, True)
    assert parse_sort_key("-" + field_text(field) + " desc") == SortKey(field, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(fields, min_size=1, max_size=5))
def test_column_lists_build_and_parse_as_inverses(chosen):
    assert parse_columns(columns_text(chosen)) == chosen
    assert parse_columns(" , ".join(map(field_text, chosen)) + ",") == chosen


# MLflow-style expressions against known runs


def run(name, status="finished", params=None, metrics=None, tags=None, start=0, end=None):
    return RunSummary(
        id=f"01m8{name:0>22}"[:26],
        name=name,
        experiment="main",
        status=status,
        start_ms=start,
        end_ms=end,
        user="ann",
        params=params or {},
        metrics=metrics or {},
        tags=tags or {},
    )


RUNS = [
    run(
        "alpha",
        params={"model": "rf", "lr": "0.1"},
        metrics={"acc": 0.95, "loss": 0.2, "val/loss": 0.3},
        tags={"team": "a"},
        start=1000,
        end=5000,
    ),
    run(
        "beta",
        params={"model": "svm", "lr": "0.01"},
        metrics={"acc": 0.85, "loss": 0.5},
        tags={"team": "b", "my tag": "x y"},
        start=2000,
        end=2500,
    ),
    run(
        "gamma-1",
        status="failed",
        params={"model": "RF"},
        metrics={"acc": 0.7, "loss": math.nan},
        start=3000,
        end=3100,
    ),
    run("delta", status="running", start=4000),
]

EXPRESSIONS = [
    ("metrics.acc > 0.9", ["alpha"]),
    ("metrics.acc >= 0.85 and params.model = 'rf'", ["alpha"]),
    (
        "metrics.acc > 0.9 and params.model = 'rf' and tags.team != 'x' and status = 'finished'",
        ["alpha"],
    ),
    ("params.model = 'rf' or params.model = 'svm'", ["alpha", "beta"]),
    ("not params.model = 'rf'", ["beta", "gamma-1", "delta"]),
    ("params.model LIKE 'r%'", ["alpha"]),
    ("params.model ILIKE 'r%'", ["alpha", "gamma-1"]),
    ("params.model NOT LIKE 'r%'", ["beta", "gamma-1"]),
    ("name LIKE '%a-_'", ["gamma-1"]),
    ("attributes.status = 'FINISHED'", ["alpha", "beta"]),
    ("attributes.status IN ('failed', 'running')", ["gamma-1", "delta"]),
    ("attributes.run_name = 'beta'", ["beta"]),
    ("params.model IN ('rf', 'RF')", ["alpha", "gamma-1"]),
    ("params.model NOT IN ('rf')", ["beta", "gamma-1"]),
    ("tags.`my tag` = 'x y'", ["beta"]),
    ("tags.\"my tag\" = 'x y'", ["beta"]),
    ("metrics.`val/loss` < 1", ["alpha"]),
    ("metrics.val/loss < 1", ["alpha"]),
    ("params.lr > 0.05", ["alpha"]),
    ("params.lr = '0.10'", []),
    ("params.lr = 0.10", ["alpha"]),
    ("metrics.loss < 1", ["alpha", "beta"]),
    ("metrics.loss != 0.2", ["beta", "gamma-1"]),
    ("(metrics.acc > 0.8 or status = 'failed') and not tags.team = 'b'", ["alpha", "gamma-1"]),
    ("NOT (metrics.acc > 0.8 OR status = 'failed')", ["delta"]),
    ("duration > 1000", ["alpha"]),
    ("start_time >= 3000 and attributes.end_time < 4000", ["gamma-1"]),
    ("experiment = 'main' and user = 'ann'", ["alpha", "beta", "gamma-1", "delta"]),
    ("metrics.nobody_has_this > 0", []),
    ("", ["alpha", "beta", "gamma-1", "delta"]),
]


def _filtered(expression: str) -> list[RunSummary]:
    """The runs of RUNS an expression selects, in their order."""
    return select_runs(RUNS, RunQuery(expression))


@pytest.mark.parametrize(("expression", "expected"), EXPRESSIONS)
def test_mlflow_style_expressions_select_the_expected_runs(expression, expected):
    assert [r.name for r in _filtered(expression)] == expected


@pytest.mark.parametrize(("expression", "_"), EXPRESSIONS)
def test_canonical_text_selects_the_same_runs(expression, _):
    tree = parse_filter(expression)
    assert parse_filter(to_text(tree)) == tree
    assert _filtered(to_text(tree)) == _filtered(expression)


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    tree = parse_filter("not metrics.a = 1 or metrics.b = 2 and metrics.c = 3")
    a, b, c = (Comparison(Field("metrics", k), "=", 1.0 + i) for i, k in enumerate("abc"))
    assert tree == Or(Not(a), And(b, c))
    assert (
        to_text(Not(And(a, Or(b, c))))
        == "not (metrics.a = 1.0 and (metrics.b = 2.0 or metrics.c = 3.0))"
    )


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("metrics.acc >", 14, "expected a value"),
        ("metrics.acc > 0.9 and", 22, "expected a key"),
        ("metrics.acc > 0.9 params.x = 'a'", 19, "expected 'and', 'or'"),
        ("(metrics.acc > 0.9", 19, "expected ')'"),
        ("metrics.acc ~ 1", 13, "unexpected character '~'"),
        ("params.model = 'rf", 16, "never closed"),
        ("metrics.acc = 'high'", 13, "is a number"),
        ("metrics.acc LIKE '1%'", 13, "compares text"),
        ("colour = 'red'", 1, "unknown attribute 'colour'"),
        ("metrics = 1", 9, "expected '.'"),
        ("params.model IN 'rf'", 17, "expected '('"),
        ("params.`` = 'a'", 8, "cannot be empty"),
        ("params.model NOT = 'a'", 18, "expected LIKE or IN"),
    ],
)
def test_malformed_filters_say_where(expression, column, words):
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(expression)
    assert caught.value.column == column
    assert words in str(caught.value)
    assert f"column {column}" in str(caught.value)


def test_like_patterns():
    assert like_matcher("a%b_c")("aXYZbQc")
    assert not like_matcher("a%b_c")("aXYZbc")
    assert like_matcher("100\\%")("100%") and not like_matcher("100\\%")("1000")
    assert like_matcher("%\\")("a\\") and like_matcher("_\n_")("a\nb")
    assert like_matcher("AB%", ignore_case=True)("abc") and not like_matcher("AB%")("abc")
    assert [r.name for r in _filtered("name LIKE 'al%'")] == ["alpha"]


def _like_by_regex(pattern: str, text: str, ignore_case: bool) -> bool:
    """LIKE by a backtracking regex: exponential at worst, right on small inputs."""
    parts, escaped = [], False
    for char in pattern:
        if escaped or char not in "\\%_":
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append(".*" if char == "%" else ".")
    if escaped:
        parts.append(re.escape("\\"))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch("".join(parts), text, flags) is not None


like_texts = st.text(st.sampled_from("abAB%_\\\n."), max_size=8)


@settings(max_examples=500, deadline=None)
@given(like_texts, like_texts, st.booleans())
def test_like_matcher_agrees_with_a_regex(pattern, text, ignore_case):
    assert like_matcher(pattern, ignore_case)(text) == _like_by_regex(pattern, text, ignore_case)


# sorting


def test_sort_by_metric_descending_puts_missing_and_nan_last():
    for spec in ("-metrics.loss", "metrics.loss DESC", "metrics.loss desc"):
        names = [r.name for r in sort_runs(RUNS, [parse_sort_key(spec)])]
        assert names == ["beta", "alpha", "gamma-1", "delta"]
    names = [r.name for r in sort_runs(RUNS, [parse_sort_key("metrics.loss")])]
    assert names == ["alpha", "beta", "gamma-1", "delta"]


def test_sort_by_several_keys_and_params_numerically():
    keys = [parse_sort_key("params.model"), parse_sort_key("-metrics.acc")]
    assert [r.name for r in sort_runs(RUNS, keys)] == ["gamma-1", "alpha", "beta", "delta"]
    lr = [r.name for r in sort_runs(RUNS, [parse_sort_key("params.lr ASC")])]
    assert lr == ["beta", "alpha", "gamma-1", "delta"]
    ties = [r.name for r in sort_runs(RUNS, [parse_sort_key("experiment")])]
    assert ties == ["alpha", "beta", "gamma-1", "delta"]  # stable


def test_select_runs_checks_sort_keys_against_every_run():
    with pytest.raises(UnknownKeyError) as caught:
        select_runs(RUNS, RunQuery(order_by=["metrics.nope"]))
    assert "metrics.nope" in str(caught.value) and "metrics.acc" in str(caught.value)
    assert select_runs([], RunQuery(order_by=["metrics.nope"])) == []
    query = RunQuery(filter="metrics.acc > 0", order_by=["-metrics.acc"], max_results=2)
    assert [r.name for r in select_runs(RUNS, query)] == ["alpha", "beta"]


def test_bad_sort_keys_and_columns_are_one_clear_error():
    with pytest.raises(InvalidValueError, match="cannot sort by 'metrics.'"):
        parse_sort_key("metrics.")
    with pytest.raises(InvalidValueError, match="--columns is empty"):
        parse_columns(" , ")
    assert parse_columns("name,tags.`a,b`,metrics.acc") == [
        Field("attributes", "name"),
        Field("tags", "a,b"),
        Field("metrics", "acc"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(allow_infinity=False)), max_size=12),
    st.booleans(),
)
def test_sorting_orders_values_and_puts_missing_last(values, descending):
    runs = [run(f"r{i}", metrics={} if v is None else {"m": v}) for i, v in enumerate(values)]
    ordered = sort_runs(runs, [SortKey(Field("metrics", "m"), descending)])
    assert sorted(r.name for r in ordered) == sorted(r.name for r in runs)
    present = [r.metrics["m"] for r in ordered if not math.isnan(r.metrics.get("m", math.nan))]
    assert present == sorted(present, reverse=descending)
    missing_from = len(present)
    assert all(math.isnan(r.metrics.get("m", math.nan)) for r in ordered[missing_from:])


def test_malformed_keys_are_errors_about_keys():
    with pytest.raises(InvalidValueError) as caught:
        parse_columns("name,params.a#b")
    assert str(caught.value) == (
        "cannot show column 'params.a#b': unexpected character '#'; "
        "a key with spaces or other characters goes in backticks: params.`a#b`"
    )
    with pytest.raises(InvalidValueError) as caught:
        parse_sort_key("tags.my key DESC")
    assert "expected the end of the key, found 'key'" in str(caught.value)
    assert str(caught.value).endswith("goes in backticks: tags.`my key`")
    with pytest.raises(InvalidValueError) as caught:
        parse_sort_key("tags.my`key x")
    assert "the quote ` opened here is never closed" in str(caught.value)
    assert str(caught.value).endswith("goes in backticks: tags.`my``key x`")
    with pytest.raises(InvalidValueError) as caught:
        parse_sort_key("status x")
    assert "filter" not in str(caught.value) and "backticks" not in str(caught.value)
    assert parse_columns("params.\"a,b\",tags.'c,d'") == [
        Field("params", "a,b"),
        Field("tags", "c,d"),
    ]
